package middleware

import (
	"net/netip"
	"strings"
)

// Trusted reports whether addr falls in one of the trusted prefixes.
func Trusted(addr netip.Addr, trusted []netip.Prefix) bool {
	addr = addr.Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientIP returns the original client address of a request that arrived
// from peer carrying the given X-Forwarded-For field lines. Forwarding headers
// are believed only while the hop that appended them is trusted: starting
// from peer, ClientIP walks X-Forwarded-For from right to left and returns the
// first address that is not a trusted proxy. A malformed entry stops the walk
// at the last address known good, so a client cannot forge its way past it.
func ClientIP(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if !Trusted(peer, trusted) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for list != "" {
			var item string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				item, list = list[j+1:], list[:j]
			} else {
				item, list = list, ""
			}
			addr, err := netip.ParseAddr(strings.TrimSpace(item))
			if err != nil {
				return client
			}
			client = addr.Unmap()
			if !Trusted(client, trusted) {
				return client
			}
		}
	}
	return client
}
