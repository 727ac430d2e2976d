// Package resolve turns backend host names into addresses together with
// how long those addresses hold, which the standard resolver does not
// tell: net.Resolver returns addresses without their TTL. The gateway
// uses the TTL to re-resolve a name when its answer expires rather than
// on a fixed clock, as nginx's resolver and HAProxy's resolvers do.
//
// A Resolver answers one name at a time:
//
//   - With a nameserver (an upstream's resolve.nameserver), it asks that
//     server alone, for the name as written: no /etc/hosts, no search
//     list.
//   - Without one, it reads /etc/hosts first; a name found there has no
//     TTL (0: the caller refreshes it on its interval). Otherwise it asks
//     the nameservers of /etc/resolv.conf in order, applying the search
//     list the way glibc does: a name with fewer dots than ndots (default
//     1) is tried with each search domain first and then as written, one
//     with at least ndots dots as written first, a name ending in a dot
//     only as written. The options timeout and attempts are honoured
//     (defaults 5s and 2), within the caller's context. Other options
//     (rotate, edns0, single-request, use-vc) are ignored. When
//     /etc/resolv.conf names no nameserver, it falls back to
//     net.DefaultResolver, without TTL.
//
// Each query asks for A and AAAA at once over UDP, advertising an EDNS(0)
// payload of 1232 bytes, and repeats over TCP when the answer comes back
// truncated (RFC 1035 §4.2.1, RFC 7766). The addresses are those at the
// end of the CNAME chain in the answer section, sorted so that an answer
// reordered by round-robin DNS reads as the same set. The TTL is the
// smallest TTL on that chain, CNAME records included; a record with TTL 0
// is reported as one second, so that 0 keeps meaning "unknown". Messages
// are encoded and decoded with golang.org/x/net/dns/dnsmessage.
//
// The package keeps no cache and no state between lookups: the caller
// (the gateway's refresher) decides when to ask again, and /etc/hosts and
// /etc/resolv.conf are read on every lookup, so edits to them are seen at
// the next refresh. A lookup that fails says why: ErrNotFound for
// NXDOMAIN, ErrNoAddresses for a name without A or AAAA records, the
// server's response code or the transport error otherwise.
package resolve
