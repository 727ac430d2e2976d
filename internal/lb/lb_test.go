package lb

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// pool returns backends named by addr, with those listed in down marked
// unavailable.
func pool(addrs string, down ...string) []*upstream.Backend {
	var p []*upstream.Backend
	for _, a := range strings.Fields(addrs) {
		b := upstream.NewBackend("app", a)
		for _, d := range down {
			if d == a {
				b.SetHealthy(false, "test")
			}
		}
		p = append(p, b)
	}
	return p
}

// picks returns the addresses of n consecutive picks, "-" for nil.
func picks(p Policy, pool []*upstream.Backend, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "-"
		if b := p.Pick(pool, uint64(i)); b != nil {
			out[i] = b.Addr
		}
	}
	return out
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     config.Upstream
		want    Policy
		wantErr string
	}{
		{"empty is round robin", config.Upstream{}, &RoundRobin{}, ""},
		{"round_robin", config.Upstream{Policy: "round_robin"}, &RoundRobin{}, ""},
		{"least_conn", config.Upstream{Policy: "least_conn"}, &LeastConn{}, ""},
		{"p2c", config.Upstream{Policy: "p2c"}, &P2C{}, ""},
		{"random", config.Upstream{Policy: "random"}, &Random{}, ""},
		{"ip_hash", config.Upstream{Policy: "ip_hash"}, &IPHash{}, ""},
		{"hash", config.Upstream{Policy: "hash"}, &Hash{}, ""},
		{"consistent_hash default factor", config.Upstream{Policy: "consistent_hash"}, &ConsistentHash{BalanceFactor: 1.25}, ""},
		{"consistent_hash factor", config.Upstream{Policy: "consistent_hash", BalanceFactor: 1.5}, &ConsistentHash{BalanceFactor: 1.5}, ""},
		{"consistent_hash factor 1", config.Upstream{Policy: "consistent_hash", BalanceFactor: 1}, nil, "balance_factor must be above 1, got 1"},
		{"ewma", config.Upstream{Policy: "ewma"}, &EWMA{}, ""},
		{"unknown", config.Upstream{Policy: "fastest"}, nil, `unknown balancing policy "fastest"`},
		{"wrong case", config.Upstream{Policy: "Round_Robin"}, nil, `unknown balancing policy "Round_Robin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || p != nil {
					t.Errorf("New(%+v) = %v, %v; want nil, %q", tc.cfg, p, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v) = %v, want a policy", tc.cfg, err)
			}
			if reflect.TypeOf(p) != reflect.TypeOf(tc.want) {
				t.Errorf("New(%+v) = %T, want %T", tc.cfg, p, tc.want)
			}
			if ch, ok := p.(*ConsistentHash); ok && ch.BalanceFactor != tc.want.(*ConsistentHash).BalanceFactor {
				t.Errorf("New(%+v).BalanceFactor = %v, want %v", tc.cfg, ch.BalanceFactor, tc.want.(*ConsistentHash).BalanceFactor)
			}
		})
	}
}

func TestNewReturnsFreshPolicies(t *testing.T) {
	// least_conn is left out: it holds no state, and Go may give two
	// zero-size values one address.
	for _, name := range []string{"round_robin", "p2c", "random", "ip_hash", "hash", "consistent_hash", "ewma"} {
		a, _ := New(config.Upstream{Policy: name})
		b, _ := New(config.Upstream{Policy: name})
		if a == b {
			t.Errorf("New(%q) returned the same policy twice, want one per upstream", name)
		}
	}
}

func TestRoundRobinPick(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool []*upstream.Backend
		want string // picks, space-separated
	}{
		{"nil pool", nil, "- - -"},
		{"empty pool", []*upstream.Backend{}, "- - -"},
		{"one backend", pool("a"), "a a a"},
		{"cycles in order", pool("a b c"), "a b c a b c"},
		{"none available", pool("a b", "a", "b"), "- - -"},
		{"only one available", pool("a b c", "a", "c"), "b b b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Fields(tc.want)
			got := picks(&RoundRobin{}, tc.pool, len(want))
			if strings.Join(got, " ") != tc.want {
				t.Errorf("Pick sequence = %q, want %q", got, want)
			}
		})
	}
}

// TestRoundRobinEvenOverAvailable checks that each available backend gets
// the same share of picks, whichever backends are down. A backend that is
// down must not hand its turn to its neighbour: with [a, b(down), c] a naive
// "next available after the counter" gives c two picks out of three.
func TestRoundRobinEvenOverAvailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr string
		down []string
	}{
		{"all available", "a b c d", nil},
		{"middle down", "a b c", []string{"b"}},
		{"first down", "a b c", []string{"a"}},
		{"two adjacent down", "a b c d e", []string{"b", "c"}},
		{"alternate down", "a b c d e f", []string{"b", "d", "f"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pool(tc.addr, tc.down...)
			avail := len(p) - len(tc.down)
			const rounds = 20
			counts := make(map[string]int)
			for _, a := range picks(&RoundRobin{}, p, rounds*avail) {
				counts[a]++
			}
			for _, b := range p {
				want := rounds
				if !b.Available() {
					want = 0
				}
				if got := counts[b.Addr]; got != want {
					t.Errorf("%d picks over %s (down %v): backend %s picked %d times, want %d", rounds*avail, tc.addr, tc.down, b.Addr, got, want)
				}
			}
		})
	}
}

func TestRoundRobinFollowsAvailability(t *testing.T) {
	p := pool("a b")
	rr := &RoundRobin{}
	p[1].SetHealthy(false, "probe failed")
	if got := picks(rr, p, 3); strings.Join(got, " ") != "a a a" {
		t.Errorf("with b down: picks = %q, want [a a a]", got)
	}
	p[1].SetHealthy(true, "probe passed")
	got := picks(rr, p, 4)
	if n := strings.Count(strings.Join(got, " "), "b"); n != 2 {
		t.Errorf("with b back: picks = %q, want b twice in 4", got)
	}
}

func TestRoundRobinRetryPool(t *testing.T) {
	// A retry passes the pool minus the backends already tried.
	p := pool("a b c")
	rr := &RoundRobin{}
	first := rr.Pick(p, 0)
	var rest []*upstream.Backend
	for _, b := range p {
		if b != first {
			rest = append(rest, b)
		}
	}
	second := rr.Pick(rest, 0)
	if second == nil || second == first {
		t.Errorf("Pick(pool minus %s) = %v, want another backend", first.Addr, second)
	}
}

func TestRoundRobinConcurrent(t *testing.T) {
	p := pool("a b c d")
	rr := &RoundRobin{}
	const workers, each = 8, 1000
	var mu sync.Mutex
	counts := make(map[string]int)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			local := make(map[string]int)
			for i := range each {
				if w == 0 && i%100 == 0 {
					// Flip health while others pick.
					p[3].SetHealthy(i%200 != 0, "flap")
				}
				b := rr.Pick(p, uint64(i))
				if b == nil {
					t.Errorf("Pick = nil with backends available")
					return
				}
				local[b.Addr]++
			}
			mu.Lock()
			for k, v := range local {
				counts[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	total := 0
	for _, v := range counts {
		total += v
	}
	if total != workers*each {
		t.Errorf("concurrent picks: %d backends returned, want %d", total, workers*each)
	}
	for _, a := range []string{"a", "b", "c"} {
		if counts[a] == 0 {
			t.Errorf("concurrent picks: backend %s never picked (%v)", a, counts)
		}
	}
}
