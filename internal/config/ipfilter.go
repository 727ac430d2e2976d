package config

import "net/netip"

// IPFilter allows and denies clients of a route by address (kind:
// ipfilter), or of a listener by TCP peer address (listeners[].ip_filter).
// The route filter reads the client address as resolved through the
// listener's trusted_proxies, never a spoofed X-Forwarded-For.
//
// Deny wins: an address in a deny prefix is refused whatever the allow list
// says. When Allow is set, only addresses in it pass; when only Deny is set,
// every other address passes. docs/ipfilter.md describes every key.
type IPFilter struct {
	// Allow lists the prefixes (or single addresses) that may pass; empty
	// means every address not denied.
	Allow []netip.Prefix `yaml:"allow"`
	// Deny lists the prefixes (or single addresses) refused.
	Deny []netip.Prefix `yaml:"deny"`
}

var _ middlewareBody = (*IPFilter)(nil)

func (f *IPFilter) setDefaults() {}

func (f *IPFilter) check() []Problem {
	// The decoder has checked each prefix's syntax; an allow prefix that
	// holds a deny prefix is the common shape ("this network but not that
	// host"), not a mistake.
	if len(f.Allow) == 0 && len(f.Deny) == 0 {
		return []Problem{{Field: "allow", Message: "neither allow nor deny is set: the filter would pass everyone",
			Hint: "list prefixes under allow, deny or both, or remove the filter"}}
	}
	return nil
}
