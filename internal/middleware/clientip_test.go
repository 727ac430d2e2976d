package middleware

import (
	"net/netip"
	"testing"
)

// prefixes parses CIDR prefixes, failing the test on a typo.
func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatalf("ParsePrefix(%q): %v", s, err)
		}
		ps[i] = p
	}
	return ps
}

func TestTrusted(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8", "192.168.1.7/32", "fd00::/8")
	for _, tc := range []struct {
		name string
		addr string
		want bool
	}{
		{"inside an IPv4 prefix", "10.1.2.3", true},
		{"outside every prefix", "203.0.113.9", false},
		{"single address prefix", "192.168.1.7", true},
		{"next to a single address prefix", "192.168.1.8", false},
		{"inside an IPv6 prefix", "fd12:3456::1", true},
		{"outside the IPv6 prefix", "2001:db8::1", false},
		{"IPv4-mapped IPv6 inside an IPv4 prefix", "::ffff:10.9.8.7", true},
		{"IPv4-mapped IPv6 outside", "::ffff:203.0.113.9", false},
		{"loopback not listed", "127.0.0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := netip.MustParseAddr(tc.addr)
			if got := Trusted(addr, trusted); got != tc.want {
				t.Errorf("Trusted(%q, %v) = %v, want %v", tc.addr, trusted, got, tc.want)
			}
		})
	}
}

func TestTrustedNothingTrusted(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "::1", "::ffff:127.0.0.1"} {
		if Trusted(netip.MustParseAddr(s), nil) {
			t.Errorf("Trusted(%q, nil) = true, want false", s)
		}
	}
	if Trusted(netip.Addr{}, prefixes(t, "0.0.0.0/0", "::/0")) {
		t.Errorf("Trusted(invalid Addr, everything) = true, want false")
	}
}

func TestClientIP(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8", "2001:db8:ffff::/48")
	for _, tc := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer without XFF", "203.0.113.1", nil, "203.0.113.1"},
		{"untrusted peer ignores XFF", "203.0.113.1", []string{"198.51.100.7"}, "203.0.113.1"},
		{"untrusted peer ignores XFF naming a trusted hop", "203.0.113.1", []string{"198.51.100.7, 10.0.0.2"}, "203.0.113.1"},
		{"trusted peer without XFF", "10.0.0.1", nil, "10.0.0.1"},
		{"trusted peer with empty XFF line", "10.0.0.1", []string{""}, "10.0.0.1"},
		{"trusted peer, one client", "10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"right-most untrusted wins over forged left entries", "10.0.0.1", []string{"1.1.1.1, 2.2.2.2, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops skipped right to left", "10.0.0.1", []string{"1.1.1.1, 198.51.100.7, 10.0.0.3, 10.0.0.2"}, "198.51.100.7"},
		{"every hop trusted gives the left-most", "10.0.0.1", []string{"10.0.0.4, 10.0.0.3"}, "10.0.0.4"},
		{"several field lines walked last line first", "10.0.0.1", []string{"1.1.1.1, 198.51.100.7", "10.0.0.3", "10.0.0.2"}, "198.51.100.7"},
		{"several field lines, untrusted in the last", "10.0.0.1", []string{"1.1.1.1", "198.51.100.8"}, "198.51.100.8"},
		{"empty field line between others", "10.0.0.1", []string{"198.51.100.7", "", "10.0.0.2"}, "198.51.100.7"},
		{"malformed right-most entry stops at the peer", "10.0.0.1", []string{"198.51.100.7, not-an-ip"}, "10.0.0.1"},
		{"malformed entry stops at the last trusted hop", "10.0.0.1", []string{"198.51.100.7, bogus, 10.0.0.2"}, "10.0.0.2"},
		{"malformed entry in an earlier line", "10.0.0.1", []string{"198.51.100.7, bogus", "10.0.0.2"}, "10.0.0.2"},
		{"address with port is malformed", "10.0.0.1", []string{"198.51.100.7:1234"}, "10.0.0.1"},
		{"bracketed IPv6 is malformed", "10.0.0.1", []string{"[2001:db8::1]"}, "10.0.0.1"},
		{"empty entry is malformed", "10.0.0.1", []string{"198.51.100.7,,10.0.0.2"}, "10.0.0.2"},
		{"trailing comma is malformed", "10.0.0.1", []string{"198.51.100.7,"}, "10.0.0.1"},
		{"spaces around entries", "10.0.0.1", []string{"  198.51.100.7 ,\t10.0.0.2  "}, "198.51.100.7"},
		{"no spaces after commas", "10.0.0.1", []string{"1.1.1.1,198.51.100.7,10.0.0.2"}, "198.51.100.7"},
		{"IPv4-mapped trusted peer", "::ffff:10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped untrusted peer is unmapped", "::ffff:203.0.113.1", []string{"198.51.100.7"}, "203.0.113.1"},
		{"IPv4-mapped XFF entry is unmapped", "10.0.0.1", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped trusted hop in XFF is skipped", "10.0.0.1", []string{"198.51.100.7, ::ffff:10.0.0.2"}, "198.51.100.7"},
		{"IPv6 client behind IPv6 trusted peer", "2001:db8:ffff::1", []string{"2001:db8:1::9"}, "2001:db8:1::9"},
		{"IPv6 trusted hops skipped", "2001:db8:ffff::1", []string{"2001:db8:1::9, 2001:db8:ffff::2"}, "2001:db8:1::9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := netip.MustParseAddr(tc.peer)
			want := netip.MustParseAddr(tc.want)
			if got := ClientIP(peer, tc.xff, trusted); got != want {
				t.Errorf("ClientIP(%q, %q) = %v, want %v", tc.peer, tc.xff, got, want)
			}
		})
	}
}

func TestClientIPNothingTrusted(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.1")
	if got := ClientIP(peer, []string{"198.51.100.7"}, nil); got != peer {
		t.Errorf("ClientIP(%v, XFF, no trusted) = %v, want %v", peer, got, peer)
	}
}
