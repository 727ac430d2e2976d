package lb

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/upstream"
)

// policies returns a fresh instance of every policy, by config name.
func policies() []struct {
	name string
	p    Policy
} {
	return []struct {
		name string
		p    Policy
	}{
		{"round_robin", &RoundRobin{}},
		{"least_conn", &LeastConn{}},
		{"p2c", &P2C{}},
		{"random", &Random{}},
		{"ip_hash", &IPHash{}},
		{"hash", &Hash{}},
		{"consistent_hash", &ConsistentHash{}},
		{"ewma", &EWMA{}},
	}
}

// weighted returns backends 10.0.0.i:80 with the given weights.
func weighted(weights ...int) []*upstream.Backend {
	p := make([]*upstream.Backend, len(weights))
	for i, w := range weights {
		p[i] = upstream.NewBackend("app", fmt.Sprintf("10.0.0.%d:80", i+1))
		p[i].SetWeight(w)
	}
	return p
}

// equal returns n backends of weight 1.
func equal(n int) []*upstream.Backend {
	w := make([]int, n)
	for i := range w {
		w[i] = 1
	}
	return weighted(w...)
}

func without(pool []*upstream.Backend, drop ...*upstream.Backend) []*upstream.Backend {
	var out []*upstream.Backend
	for _, b := range pool {
		if !slices.Contains(drop, b) {
			out = append(out, b)
		}
	}
	return out
}

func TestPickNoneAvailable(t *testing.T) {
	down := equal(3)
	for _, b := range down {
		b.SetHealthy(false, "test")
	}
	for _, tc := range policies() {
		for _, pc := range []struct {
			name string
			pool []*upstream.Backend
		}{
			{"nil pool", nil},
			{"empty pool", []*upstream.Backend{}},
			{"all down", down},
		} {
			t.Run(tc.name+"/"+pc.name, func(t *testing.T) {
				for key := range uint64(20) {
					if b := tc.p.Pick(pc.pool, key); b != nil {
						t.Fatalf("Pick(%s, %d) = %s, want nil", pc.name, key, b.Addr)
					}
				}
			})
		}
	}
}

// TestPickSkipsUnavailable checks that no policy returns a backend that is
// down, draining or at its request limit, and that all the others get
// picks.
func TestPickSkipsUnavailable(t *testing.T) {
	for _, tc := range policies() {
		t.Run(tc.name, func(t *testing.T) {
			pool := weighted(1, 2, 1, 3, 1, 1)
			pool[1].SetHealthy(false, "test")
			pool[3].SetDraining(true)
			counts := make(map[*upstream.Backend]int)
			for key := range uint64(3000) {
				b := tc.p.Pick(pool, mix64(key))
				if b == nil || !b.Available() {
					t.Fatalf("Pick(key %d) = %v, want an available backend", key, b)
				}
				counts[b]++
			}
			for _, b := range pool {
				if b.Available() && counts[b] == 0 {
					t.Errorf("available backend %s never picked in 3000 picks (%v)", b.Addr, counts)
				}
			}
		})
	}
}

// TestPickRetryPool checks that a retry's pool (the pool minus backends
// tried) never yields a tried backend, and that the full pool works as
// before afterwards.
func TestPickRetryPool(t *testing.T) {
	for _, tc := range policies() {
		t.Run(tc.name, func(t *testing.T) {
			pool := weighted(1, 2, 3, 1, 2)
			for key := range uint64(500) {
				first := tc.p.Pick(pool, key)
				rest := without(pool, first)
				second := tc.p.Pick(rest, key)
				if second == nil || second == first || !slices.Contains(rest, second) {
					t.Fatalf("key %d: Pick(pool minus %s) = %v, want another backend of the pool", key, first.Addr, second)
				}
				third := tc.p.Pick(without(rest, second), key)
				if third == nil || third == first || third == second {
					t.Fatalf("key %d: Pick(pool minus %s, %s) = %v, want a third backend", key, first.Addr, second.Addr, third)
				}
				if b := tc.p.Pick(pool, key); b == nil || !slices.Contains(pool, b) {
					t.Fatalf("key %d: Pick(pool) after retries = %v, want a backend of the pool", key, b)
				}
			}
		})
	}
}

// TestPickHashRetryIsStable checks that the hash policies' retry choice is
// the key's next choice: the backend the key goes to when its first
// choice is down.
func TestPickHashRetryIsStable(t *testing.T) {
	for _, tc := range policies() {
		if tc.name != "hash" && tc.name != "ip_hash" && tc.name != "consistent_hash" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			pool := equal(7)
			for key := range uint64(300) {
				first := tc.p.Pick(pool, key)
				retry := tc.p.Pick(without(pool, first), key)
				first.SetHealthy(false, "test")
				next := tc.p.Pick(pool, key)
				first.SetHealthy(true, "test")
				if retry != next {
					t.Fatalf("key %d: retry without %s picks %s, with it down picks %s; want the same", key, first.Addr, retry.Addr, next.Addr)
				}
			}
		})
	}
}

func TestPickAllocs(t *testing.T) {
	for _, tc := range policies() {
		t.Run(tc.name, func(t *testing.T) {
			pool := weighted(1, 2, 3, 1, 2, 5, 1, 1, 1, 4)
			// Some load, so that least_conn, p2c and the bounded load
			// have something to compare.
			for i, b := range pool {
				for range i % 3 {
					defer b.Acquire()(0, nil)
				}
			}
			key := uint64(0)
			tc.p.Pick(pool, key) // index the pool
			allocs := testing.AllocsPerRun(1000, func() {
				key++
				if tc.p.Pick(pool, mix64(key)) == nil {
					t.Fatal("Pick = nil")
				}
			})
			if allocs != 0 {
				t.Errorf("Pick allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// share returns each backend's share of the picks.
func shares(pool []*upstream.Backend, counts map[*upstream.Backend]int, n int) string {
	s := ""
	for _, b := range pool {
		s += fmt.Sprintf(" %s=%.3f", b.Addr, float64(counts[b])/float64(n))
	}
	return s
}

// TestWeightsHonoured checks that every policy gives each backend a share
// of the picks proportional to its weight, within a stated relative
// tolerance. The load-balancing policies get load: each pick is acquired
// and released window picks later, so that in-flight counts exist to
// compare (with all backends idle least_conn ties and the cost policies
// see no difference).
func TestWeightsHonoured(t *testing.T) {
	weights := []int{1, 2, 3, 4}
	const picks = 100_000
	for _, tc := range []struct {
		name   string
		p      Policy
		window int     // requests held in flight; 0 releases at once
		tol    float64 // relative to each backend's share
	}{
		{"round_robin", &RoundRobin{}, 0, 0.001},
		{"least_conn", &LeastConn{}, 50, 0.05},
		{"least_conn idle", &LeastConn{}, 0, 0.05},
		{"p2c idle", &P2C{}, 0, 0.05},
		{"p2c loaded", &P2C{}, 50, 0.15},
		{"random", &Random{}, 0, 0.05},
		{"ip_hash", &IPHash{}, 0, 0.05},
		{"hash", &Hash{}, 0, 0.05},
		// A ring of 160 points per unit of average weight gives each
		// backend its share within about 1/√points.
		{"consistent_hash", &ConsistentHash{}, 0, 0.20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := weighted(weights...)
			counts := make(map[*upstream.Backend]int)
			var held []func(time.Duration, error)
			for i := range picks {
				b := tc.p.Pick(pool, mix64(uint64(i)))
				counts[b]++
				if tc.window > 0 {
					held = append(held, b.Acquire())
					if len(held) > tc.window {
						held[0](0, nil)
						held = held[1:]
					}
				}
			}
			for _, r := range held {
				r(0, nil)
			}
			sum := 0
			for _, w := range weights {
				sum += w
			}
			for i, b := range pool {
				want := float64(weights[i]) / float64(sum)
				got := float64(counts[b]) / picks
				if math.Abs(got-want) > tc.tol*want {
					t.Errorf("%s (weight %d) got share %.4f, want %.4f ± %.0f%% (shares:%s)", b.Addr, weights[i], got, want, tc.tol*100, shares(pool, counts, picks))
				}
			}
		})
	}
}

// TestLeastConnSpreadsTies guards against always taking the first of the
// least loaded backends.
func TestLeastConnSpreadsTies(t *testing.T) {
	pool := equal(4)
	defer pool[3].Acquire()(0, nil)
	counts := make(map[*upstream.Backend]int)
	for range 3000 {
		counts[(&LeastConn{}).Pick(pool, 0)]++
	}
	for _, b := range pool[:3] {
		if c := counts[b]; c < 800 || c > 1200 {
			t.Errorf("idle backend %s picked %d times of 3000, want about 1000 (%v)", b.Addr, c, counts)
		}
	}
	if c := counts[pool[3]]; c != 0 {
		t.Errorf("busy backend %s picked %d times, want 0 while others are idle", pool[3].Addr, c)
	}
}

// TestP2CAvoidsLoaded checks that a backend with requests in flight loses
// every draw against idle ones.
func TestP2CAvoidsLoaded(t *testing.T) {
	pool := equal(5)
	for range 10 {
		defer pool[2].Acquire()(0, nil)
	}
	p := &P2C{}
	for i := range 2000 {
		if b := p.Pick(pool, 0); b == pool[2] {
			t.Fatalf("pick %d: P2C chose the backend with 10 requests in flight over idle ones", i)
		}
	}
}

// keyMap returns each key's backend.
func keyMap(p Policy, pool []*upstream.Backend, keys int) []*upstream.Backend {
	out := make([]*upstream.Backend, keys)
	for k := range out {
		out[k] = p.Pick(pool, HashString(fmt.Sprint("client-", k)))
	}
	return out
}

// TestHashKeyMovement checks the hash policies' stability: removing one
// of N backends moves only that backend's keys (about 1/N of them, at
// most 1.5/N), and adding one moves about 1/(N+1), all to the new one.
// Removal is tried as a retry's pool (the removed backend still live) and
// as a new generation (the removed backend draining, as Pool.Commit
// leaves it).
func TestHashKeyMovement(t *testing.T) {
	const keys = 20_000
	for _, tc := range policies() {
		if tc.name != "hash" && tc.name != "ip_hash" && tc.name != "consistent_hash" {
			continue
		}
		for _, n := range []int{5, 10, 30} {
			t.Run(fmt.Sprintf("%s/n=%d", tc.name, n), func(t *testing.T) {
				pool := equal(n + 1)
				added := pool[n]
				pool = pool[:n:n]
				before := keyMap(tc.p, pool, keys)

				removed := pool[n/2]
				check := func(what string, after []*upstream.Backend, wantTo *upstream.Backend, wantFrom *upstream.Backend, size int) {
					t.Helper()
					moved := 0
					for k := range before {
						if before[k] == after[k] {
							continue
						}
						moved++
						if wantFrom != nil && before[k] != wantFrom {
							t.Fatalf("%s: key %d moved from %s, want only keys of %s moved", what, k, before[k].Addr, wantFrom.Addr)
						}
						if wantTo != nil && after[k] != wantTo {
							t.Fatalf("%s: key %d moved to %s, want only moves to %s", what, k, after[k].Addr, wantTo.Addr)
						}
					}
					frac := float64(moved) / keys
					if frac > 1.5/float64(size) || frac < 0.5/float64(size) {
						t.Errorf("%s: %.4f of the keys moved, want about 1/%d = %.4f (at most 1.5/%d)", what, frac, size, 1/float64(size), size)
					}
				}
				check("remove one (retry pool)", keyMap(tc.p, without(pool, removed), keys), nil, removed, n)
				removed.SetDraining(true)
				check("remove one (new generation)", keyMap(tc.p, without(pool, removed), keys), nil, removed, n)
				removed.SetDraining(false)
				check("add one", keyMap(tc.p, append(slices.Clone(pool), added), keys), added, nil, n+1)
			})
		}
	}
}

// TestHashNextChoice checks that a key whose backend is down goes to one
// next backend, the same at every pick, and comes back when it is up.
func TestHashNextChoice(t *testing.T) {
	for _, tc := range policies() {
		if tc.name != "hash" && tc.name != "ip_hash" && tc.name != "consistent_hash" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			pool := weighted(1, 2, 1, 3, 1)
			for key := range uint64(200) {
				first := tc.p.Pick(pool, key)
				first.SetHealthy(false, "test")
				next := tc.p.Pick(pool, key)
				for range 5 {
					if b := tc.p.Pick(pool, key); b != next {
						t.Fatalf("key %d with %s down: picks %s then %s, want one next choice", key, first.Addr, next.Addr, b.Addr)
					}
				}
				first.SetHealthy(true, "test")
				if b := tc.p.Pick(pool, key); b != first {
					t.Fatalf("key %d: after %s came back Pick = %s, want it back", key, first.Addr, b.Addr)
				}
			}
		})
	}
}

// TestConsistentHashBoundedLoad checks that no backend takes more than
// ⌈factor × its share of the requests in flight⌉, even when every request
// has the same key, while requests come and go.
func TestConsistentHashBoundedLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		factor  float64
		hot     bool // every request has one key
	}{
		{"hot key", []int{1, 1, 1, 1, 1, 1, 1, 1}, 1.25, true},
		{"random keys", []int{1, 1, 1, 1, 1, 1, 1, 1}, 1.25, false},
		{"hot key, factor 1.1", []int{1, 1, 1, 1, 1}, 1.1, true},
		{"hot key, weighted", []int{1, 2, 3, 2}, 1.25, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := weighted(tc.weights...)
			p := &ConsistentHash{BalanceFactor: tc.factor}
			wsum := 0
			for _, w := range tc.weights {
				wsum += w
			}
			type held struct {
				b   *upstream.Backend
				rel func(time.Duration, error)
			}
			var inflight []held
			rng := fastRand{s: 1}
			for i := range 5000 {
				// Grow to 400 in flight, then release and pick at random.
				if i > 400 && rng.next()%2 == 0 {
					j := int(below(rng.next(), uint64(len(inflight))))
					inflight[j].rel(0, nil)
					inflight = slices.Delete(inflight, j, j+1)
					continue
				}
				key := uint64(42)
				if !tc.hot {
					key = rng.next()
				}
				b := p.Pick(pool, key)
				inflight = append(inflight, held{b, b.Acquire()})
				total := len(inflight)
				wi := tc.weights[slices.Index(pool, b)]
				bound := int(math.Ceil(tc.factor * float64(total) * float64(wi) / float64(wsum)))
				if got := int(b.InFlight()); got > bound {
					t.Fatalf("step %d: %s (weight %d) has %d in flight of %d, want at most ⌈%.2f × %d × %d/%d⌉ = %d", i, b.Addr, wi, got, total, tc.factor, total, wi, wsum, bound)
				}
				if i <= 400 {
					// While requests only arrive, the bound holds for all.
					for k, m := range pool {
						bound := int(math.Ceil(tc.factor * float64(total) * float64(tc.weights[k]) / float64(wsum)))
						if int(m.InFlight()) > bound {
							t.Fatalf("step %d: %s has %d in flight of %d, want at most %d", i, m.Addr, m.InFlight(), total, bound)
						}
					}
				}
			}
			for _, h := range inflight {
				h.rel(0, nil)
			}
		})
	}
}

// latencyPool returns an upstream's backends that track latency, as the
// gateway sets them up for the ewma policy.
func latencyPool(addrs ...string) (*upstream.Pool, []*upstream.Backend) {
	p := upstream.NewPool("app", nil)
	var members []upstream.Member
	for _, a := range addrs {
		members = append(members, upstream.Member{Addr: a, Weight: 1})
	}
	p.Plan(upstream.Settings{TrackLatency: true, EWMADecay: 10 * time.Second}, members).Commit()
	return p, p.Primaries()
}

func TestEWMAAvoidsSlowBackend(t *testing.T) {
	_, pool := latencyPool("a:80", "b:80", "c:80")
	slow := pool[1]
	p := &EWMA{}
	counts := make(map[*upstream.Backend]int)
	const picks = 3000
	for range picks {
		b := p.Pick(pool, 0)
		counts[b]++
		rtt := time.Millisecond
		if b == slow {
			rtt = 50 * time.Millisecond
		}
		b.Acquire()(rtt, nil)
	}
	if share := float64(counts[slow]) / picks; share > 0.05 {
		t.Errorf("slow backend got %.3f of the picks, want under 0.05 (fair share 0.333; %s)", share, shares(pool, counts, picks))
	}
	for _, b := range pool {
		if b != slow && counts[b] < picks/3 {
			t.Errorf("fast backend %s got %d picks of %d, want over a third", b.Addr, counts[b], picks)
		}
	}
}

// TestEWMAMeasuresNewBackend checks that a backend without samples gets
// traffic, so its latency becomes known.
func TestEWMAMeasuresNewBackend(t *testing.T) {
	pl, pool := latencyPool("a:80", "b:80")
	p := &EWMA{}
	for range 100 {
		b := p.Pick(pool, 0)
		b.Acquire()(5*time.Millisecond, nil)
	}
	pl.Plan(upstream.Settings{TrackLatency: true, EWMADecay: 10 * time.Second},
		[]upstream.Member{{Addr: "a:80", Weight: 1}, {Addr: "b:80", Weight: 1}, {Addr: "c:80", Weight: 1}}).Commit()
	pool = pl.Primaries()
	fresh := pool[2]
	if fresh.Latency() != 0 {
		t.Fatalf("new backend has latency %v before any request, want 0", fresh.Latency())
	}
	got := 0
	for range 100 {
		b := p.Pick(pool, 0)
		if b == fresh {
			got++
		}
		b.Acquire()(5*time.Millisecond, nil)
	}
	if got < 10 || fresh.Latency() == 0 {
		t.Errorf("new backend got %d of 100 picks (latency %v), want a fair share and a measured latency", got, fresh.Latency())
	}
}

// TestEWMAHonoursWeight checks that of two backends as fast as each other
// the heavier one gets more.
func TestEWMAHonoursWeight(t *testing.T) {
	_, pool := latencyPool("a:80", "b:80")
	pool[0].SetWeight(3)
	p := &EWMA{}
	counts := make(map[*upstream.Backend]int)
	var held []func(time.Duration, error)
	for range 4000 {
		b := p.Pick(pool, 0)
		counts[b]++
		held = append(held, b.Acquire())
		if len(held) > 20 {
			held[0](time.Millisecond, nil)
			held = held[1:]
		}
	}
	for _, r := range held {
		r(time.Millisecond, nil)
	}
	if counts[pool[0]] <= 2*counts[pool[1]] {
		t.Errorf("weight 3 got %d picks, weight 1 %d; want the first over twice the second", counts[pool[0]], counts[pool[1]])
	}
}

// TestRoundRobinStateBounded guards against the smooth round robin's state
// growing with every generation of backends a long-running upstream sees
// (reloads, name resolutions).
func TestRoundRobinStateBounded(t *testing.T) {
	rr := &RoundRobin{}
	for gen := range 200 {
		pool := weighted(3, 1, 2)
		for _, b := range pool {
			b.Addr = fmt.Sprintf("gen%d-%s", gen, b.Addr)
		}
		for range 6 {
			rr.Pick(pool, 0)
		}
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.members) > 3 || len(rr.current) > 3 {
		t.Errorf("after 200 generations of 3 backends: state for %d backends, want at most 3", len(rr.members))
	}
}

// TestRoundRobinWeightedRetry checks that a retry's pool keeps the smooth
// round robin's state of the whole pool rather than starting it afresh,
// and that the shares stay exact over whole rounds.
func TestRoundRobinWeightedRetry(t *testing.T) {
	rr := &RoundRobin{}
	pool := weighted(5, 1, 1)
	counts := make(map[*upstream.Backend]int)
	for i := range 70 {
		b := rr.Pick(pool, 0)
		counts[b]++
		if i%7 == 3 {
			rr.Pick(without(pool, b), 0)
			rr.mu.Lock()
			n := len(rr.members)
			rr.mu.Unlock()
			if n != 3 {
				t.Fatalf("after a retry: state for %d backends, want the pool's 3", n)
			}
		}
	}
	if counts[pool[0]] < 45 || counts[pool[1]] < 5 || counts[pool[2]] < 5 {
		t.Errorf("70 picks of weights 5, 1, 1 with retries = %d, %d, %d; want about 50, 10, 10", counts[pool[0]], counts[pool[1]], counts[pool[2]])
	}
}

// TestPickConcurrent runs every policy from many goroutines while backends
// flap, requests come and go, the pool changes generation and retries
// pass subsets; run it with -race.
func TestPickConcurrent(t *testing.T) {
	for _, tc := range policies() {
		t.Run(tc.name, func(t *testing.T) {
			var live atomic.Pointer[[]*upstream.Backend]
			gen0 := weighted(1, 2, 3, 1, 2, 1)
			live.Store(&gen0)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					pool := *live.Load()
					pool[i%len(pool)].SetHealthy(i%3 != 0, "flap")
					if i%50 == 0 {
						next := append(slices.Clone(pool[1:]), upstream.NewBackend("app", fmt.Sprintf("new-%d:80", i)))
						live.Store(&next)
					}
					time.Sleep(10 * time.Microsecond)
				}
			})
			var workers sync.WaitGroup
			for w := range 4 {
				workers.Go(func() {
					for i := range 3000 {
						pool := *live.Load()
						key := uint64(w*1_000_000 + i)
						b := tc.p.Pick(pool, key)
						if b == nil {
							continue // all may be down for a moment
						}
						if !slices.Contains(pool, b) {
							t.Errorf("Pick returned %s, not in the pool passed", b.Addr)
							return
						}
						rel := b.Acquire()
						if r := tc.p.Pick(without(pool, b), key); r == b {
							t.Errorf("retry Pick returned the tried backend %s", b.Addr)
						}
						rel(time.Millisecond, nil)
					}
				})
			}
			workers.Wait()
			close(stop)
			wg.Wait()
		})
	}
}

func TestNegLogUnit(t *testing.T) {
	for _, h := range []uint64{0, 1, 1 << 11, 1 << 40, 1 << 62, 1<<63 + 12345, math.MaxUint64 - 2048, math.MaxUint64} {
		u := (float64(h>>11) + 0.5) * (1.0 / (1 << 53))
		want := -math.Log(u)
		if got := negLogUnit(h); math.Abs(got-want) > 2e-6*math.Max(1, want) {
			t.Errorf("negLogUnit(%#x) = %v, want -ln(%v) = %v", h, got, u, want)
		}
	}
	for i := range uint64(100_000) {
		h := mix64(i)
		u := (float64(h>>11) + 0.5) * (1.0 / (1 << 53))
		if got, want := negLogUnit(h), -math.Log(u); math.Abs(got-want) > 2e-6*math.Max(1, want) {
			t.Fatalf("negLogUnit(%#x) = %v, want %v", h, got, want)
		}
	}
}

// TestRingSearch checks the bucketed search against a plain one.
func TestRingSearch(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 100} {
		ix := newPoolIndex(equal(n), true)
		rg := ix.ring
		for i := range uint64(20_000) {
			h := uint32(mix64(i) >> 32)
			if i < 4 {
				h = []uint32{0, 1, math.MaxUint32, rg.points[0]}[i]
			}
			want, _ := slices.BinarySearch(rg.points, h)
			if want == len(rg.points) {
				want = 0
			}
			if got := rg.search(h); got != want {
				t.Fatalf("n=%d: search(%#x) = %d, want %d", n, h, got, want)
			}
		}
	}
}
