package ipfilter

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func TestAllowed(t *testing.T) {
	both := config.IPFilter{
		Allow: prefixes("10.0.0.0/8", "10.1.0.0/16", "192.0.2.7/32", "2001:db8::/32", "::ffff:198.51.100.0/120"),
		Deny:  prefixes("10.9.0.0/16", "2001:db8:bad::/48"),
	}
	denyOnly := config.IPFilter{Deny: prefixes("203.0.113.0/24", "::1/128")}
	for _, tc := range []struct {
		name string
		cfg  config.IPFilter
		addr string
		want bool
	}{
		{"in allow", both, "10.200.3.4", true},
		{"in nested allow", both, "10.1.2.3", true},
		{"single address", both, "192.0.2.7", true},
		{"next to single address", both, "192.0.2.8", false},
		{"deny wins over allow", both, "10.9.1.1", false},
		{"outside allow", both, "11.0.0.1", false},
		{"ipv6 in allow", both, "2001:db8:1::1", true},
		{"ipv6 deny wins", both, "2001:db8:bad::1", false},
		{"ipv6 outside allow", both, "2001:db9::1", false},
		{"mapped address unmapped", both, "::ffff:10.2.3.4", true},
		{"mapped prefix unmapped", both, "198.51.100.9", true},
		{"mapped deny", both, "::ffff:10.9.0.1", false},
		{"zone ignored", both, "2001:db8::1%eth0", true},
		{"deny only: other passes", denyOnly, "198.51.100.1", true},
		{"deny only: denied", denyOnly, "203.0.113.200", false},
		{"deny only: ipv6 denied", denyOnly, "::1", false},
		{"deny only: 127.0.0.1 passes", denyOnly, "127.0.0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			if got := Compile(tc.cfg).Allowed(a); got != tc.want {
				t.Errorf("Allowed(%v) = %v, want %v", a, got, tc.want)
			}
		})
	}
	if Compile(denyOnly).Allowed(netip.Addr{}) {
		t.Error("Allowed(invalid) = true, want false")
	}
}

// TestCompileDropsNested: a prefix inside another is dropped, so the binary
// search meets only disjoint prefixes.
func TestCompileDropsNested(t *testing.T) {
	got := compileList(prefixes("10.1.0.0/16", "::1/128", "10.0.0.0/8", "10.1.2.0/24", "192.0.2.0/24", "::ffff:10.3.0.0/112"))
	want := prefixes("10.0.0.0/8", "192.0.2.0/24", "::1/128")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("compileList = %v, want %v", got, want)
	}
}

func TestMiddleware(t *testing.T) {
	mw, err := New(config.IPFilter{Allow: prefixes("127.0.0.0/8")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	for _, tc := range []struct {
		client string
		want   int
	}{{"127.0.0.2", 200}, {"192.0.2.1", 403}} {
		st := &middleware.State{ID: "rid", ClientIP: netip.MustParseAddr(tc.client)}
		req := httptest.NewRequest("GET", "/", nil)
		req = req.WithContext(middleware.WithState(req.Context(), st))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("client %s: status %d, want %d", tc.client, w.Code, tc.want)
		}
		if tc.want == 403 && w.Header().Get("X-Request-Id") != "rid" {
			t.Errorf("403 X-Request-Id = %q, want rid", w.Header().Get("X-Request-Id"))
		}
	}
	if _, err := New(config.IPFilter{}, nil); err == nil {
		t.Error("New with no lists succeeded, want an error")
	}
}

// bigFilter is 1,000 disjoint IPv4 /24s and 1,000 IPv6 /48s allowed, and
// as many denied.
func bigFilter() config.IPFilter {
	var cfg config.IPFilter
	for i := range 1000 {
		cfg.Allow = append(cfg.Allow, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
		cfg.Deny = append(cfg.Deny, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i >> 8), byte(i), 0}), 24))
		a := netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::", i))
		cfg.Allow = append(cfg.Allow, netip.PrefixFrom(a, 48))
	}
	return cfg
}

func BenchmarkAllowed(b *testing.B) {
	m := Compile(bigFilter())
	addrs := []netip.Addr{
		netip.MustParseAddr("10.3.7.9"),
		netip.MustParseAddr("172.1.2.3"),
		netip.MustParseAddr("2001:db8:1f::1"),
		netip.MustParseAddr("::ffff:10.0.1.1"),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Allowed(addrs[i%len(addrs)])
	}
}
