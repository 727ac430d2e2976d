package bench

import (
	"fmt"
	"testing"

	"palisade/internal/config"
	"palisade/internal/lb"
	"palisade/internal/upstream"
)

// pickPolicies are the balancing policies, by config name.
var pickPolicies = []string{"round_robin", "least_conn", "p2c", "random", "ip_hash", "hash", "consistent_hash", "ewma"}

// pickPool returns n backends of weights 1 to 4, all available and idle.
func pickPool(n int) []*upstream.Backend {
	pool := make([]*upstream.Backend, n)
	for i := range pool {
		pool[i] = upstream.NewBackend("bench", fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255))
		pool[i].SetWeight(i%4 + 1)
	}
	return pool
}

// BenchmarkPick measures one Pick of every policy over pools of 3, 100 and
// 1000 weighted backends, idle, with a new key each time (the pool's index
// is built before the timer starts, as the first request of a generation
// builds it). Run:
//
//	go test ./bench -run '^$' -bench BenchmarkPick -benchmem -count=3
func BenchmarkPick(b *testing.B) {
	for _, name := range pickPolicies {
		for _, n := range []int{3, 100, 1000} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				benchPick(b, name, pickPool(n))
			})
		}
	}
}

// BenchmarkPickLoaded is BenchmarkPick with one to three requests in flight
// on every backend: least_conn and p2c compare real loads, and
// consistent_hash has to sum the pool's load for its bound.
func BenchmarkPickLoaded(b *testing.B) {
	for _, name := range []string{"least_conn", "p2c", "consistent_hash", "ewma"} {
		for _, n := range []int{3, 100, 1000} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				pool := pickPool(n)
				for i, bk := range pool {
					for range i%3 + 1 {
						defer bk.Acquire()(0, nil)
					}
				}
				benchPick(b, name, pool)
			})
		}
	}
}

func benchPick(b *testing.B, name string, pool []*upstream.Backend) {
	p, err := lb.New(config.Upstream{Policy: name, BalanceFactor: 1.25})
	if err != nil {
		b.Fatal(err)
	}
	p.Pick(pool, 0)
	key := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		key += 0x9e3779b97f4a7c15
		if p.Pick(pool, key) == nil {
			b.Fatal("Pick = nil")
		}
	}
}
