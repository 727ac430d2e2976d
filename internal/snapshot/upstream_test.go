package snapshot

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// TestMembersTTL guards a bug where a name without a TTL, listed before a
// name with one, made the upstream wait the whole interval and so ignore
// the shorter TTL.
func TestMembersTTL(t *testing.T) {
	answers := map[string]time.Duration{"none.test": 0, "short.test": 5 * time.Second, "long.test": time.Hour}
	resolve := func(_ context.Context, _ config.Upstream, host string) ([]netip.Addr, time.Duration, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, answers[host], nil
	}
	for _, tc := range []struct {
		name  string
		hosts []string
		want  time.Duration
	}{
		{"IP addresses only", nil, 0},
		{"no TTL: the interval", []string{"none.test"}, 30 * time.Second},
		{"no TTL, then a shorter one", []string{"none.test", "short.test"}, 5 * time.Second},
		{"a shorter one, then no TTL", []string{"short.test", "none.test"}, 5 * time.Second},
		{"a TTL past the interval", []string{"long.test"}, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := config.Upstream{Name: "app", Resolve: config.Resolve{Interval: config.Duration(30 * time.Second)}}
			u.Backends = append(u.Backends, config.Backend{Address: "127.0.0.9:80", Weight: 1})
			for _, h := range tc.hosts {
				u.Backends = append(u.Backends, config.Backend{Address: h + ":80", Weight: 1})
			}
			members, ttl, err := Members(context.Background(), u, resolve)
			if err != nil {
				t.Fatal(err)
			}
			if ttl != tc.want {
				t.Errorf("Members(%v) TTL = %v, want %v", tc.hosts, ttl, tc.want)
			}
			want := []upstream.Member{{Addr: "127.0.0.9:80", Weight: 1}}
			if len(tc.hosts) > 0 {
				want = append(want, upstream.Member{Addr: "127.0.0.1:80", Weight: 1})
			}
			if !slices.Equal(members, want) {
				t.Errorf("Members(%v) = %v, want %v", tc.hosts, members, want)
			}
		})
	}
}
