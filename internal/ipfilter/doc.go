// Package ipfilter allows and denies clients by address: a route
// middleware that answers a refused client 403 (with a request ID), and the
// Matcher the gateway also uses at accept on listeners with an ip_filter.
//
// The rules are two lists of CIDR prefixes. Deny wins: an address in a
// deny prefix is refused whatever the allow list says. When an allow list
// is set, only addresses in it pass; with only a deny list, every other
// address passes. An invalid address (none known) never passes.
//
// Each list is compiled once: IPv4-mapped IPv6 prefixes are unmapped (the
// addresses they are matched against are unmapped too, so ::ffff:10.0.0.0/104
// and 10.0.0.0/8 mean one thing), prefixes held inside another are dropped,
// and the rest, disjoint, are sorted by address. The only prefix that can
// hold an address is then the last one starting at or before it, found by a
// binary search: no allocation and O(log n) per request.
//
// The route middleware reads middleware.State.ClientIP, the client address
// as the gateway resolved it through the listener's trusted_proxies, never
// X-Forwarded-For itself, so a client that is not behind a trusted proxy
// cannot name another address.
package ipfilter
