package lb

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"palisade/internal/upstream"
)

// TestSlowStartShare checks that every policy balances on the effective
// weight: a backend added halfway through its slow-start window carries
// half its weight (a third of the picks beside an equal backend at full
// weight; consistent_hash keeps half of its own keys) and all of it once
// the window is over.
func TestSlowStartShare(t *testing.T) {
	for _, tc := range policies() {
		if tc.name == "ewma" {
			continue // balances on latency first; TestEWMAHonoursWeight covers weight
		}
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pl := upstream.NewPool("app", nil)
				set := upstream.Settings{SlowStart: 10 * time.Second}
				pl.Plan(set, []upstream.Member{{Addr: "a:80", Weight: 1}}).Commit()
				pl.Plan(set, []upstream.Member{{Addr: "a:80", Weight: 1}, {Addr: "b:80", Weight: 1}}).Commit()
				pool := pl.Primaries()
				for _, at := range []struct {
					wait time.Duration
					want float64 // b's share
				}{
					{5 * time.Second, 1.0 / 3},
					{6 * time.Second, 1.0 / 2},
				} {
					time.Sleep(at.wait)
					const picks = 30_000
					got := 0
					var held []func(time.Duration, error)
					for i := range picks {
						b := tc.p.Pick(pool, mix64(uint64(i)))
						if b == pool[1] {
							got++
						}
						if tc.name == "least_conn" || tc.name == "p2c" {
							held = append(held, b.Acquire())
							if len(held) > 30 {
								held[0](0, nil)
								held = held[1:]
							}
						}
					}
					for _, r := range held {
						r(0, nil)
					}
					tol, want := 0.06, at.want
					if tc.name == "consistent_hash" {
						// The ring does not move other backends' keys to a
						// ramping one: it keeps effective/full of its own
						// keys, half of its half here.
						tol = 0.15
						if want < 0.5 {
							want = 0.25
						}
					}
					if share := float64(got) / picks; math.Abs(share-want) > tol*want+0.01 {
						t.Errorf("after %v: ramping backend got %.3f of the picks, want %.3f", at.wait, share, want)
					}
				}
			})
		})
	}
}
