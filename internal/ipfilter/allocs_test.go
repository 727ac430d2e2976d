//go:build !race

// The allocation checks run without the race detector (scripts/test runs
// them so).

package ipfilter

import (
	"net/netip"
	"testing"
)

// TestMatchAllocs: deciding on an address allocates nothing, whatever the
// family or the list sizes.
func TestMatchAllocs(t *testing.T) {
	m := Compile(bigFilter())
	addrs := []netip.Addr{
		netip.MustParseAddr("10.3.7.9"),
		netip.MustParseAddr("172.1.2.3"),
		netip.MustParseAddr("2001:db8:1f::1"),
		netip.MustParseAddr("::ffff:10.0.1.1"),
		netip.MustParseAddr("fe80::1%eth0"),
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			m.Allowed(a)
		}
	})
	if allocs != 0 {
		t.Errorf("Allowed allocates %v times per run, want 0", allocs)
	}
}
