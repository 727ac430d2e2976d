package upstream

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolConcurrent runs requests, active health verdicts, ejections,
// queueing, retries and reloads at once (run it with -race). The pool's
// ejected count must stay within [0, max] throughout and match its members'
// ejections at the end.
//
// It guards two bugs: eject checked the count against the largest share
// and added to it in two steps, so backends ejected at once passed it (5
// of 8 at 50%); and Commit cleared a removed backend's ejection in two
// steps, so an ejection ending at the same time counted it down twice
// (-1).
func TestPoolConcurrent(t *testing.T) {
	set := Settings{
		SlowStart:    time.Millisecond,
		MaxRequests:  2,
		MaxPending:   4,
		QueueTimeout: time.Millisecond,
		RetryBudget:  0.2, RetryMinPerSecond: 10,
		Passive: PassiveSettings{
			Enabled: true, ConsecutiveFailures: 2, ErrorRatio: 0.5, MinRequests: 4,
			Window: time.Second, EjectTime: 50 * time.Microsecond, MaxEjectTime: 200 * time.Microsecond, MaxEjected: 0.5,
		},
	}
	// Two member lists of the same size, so the largest ejected share
	// stays 4: reloads swap the last backend.
	specsA, specsB := testMembers(8), testMembers(8)
	specsB[7].Addr = addr(8)
	const maxEjected = 4
	p, _ := newTestPool(t, set, specsA...)

	var (
		stop    atomic.Bool
		badSeen atomic.Int32
		wg      sync.WaitGroup
	)
	check := func() {
		if n := p.ejected.Load(); n < 0 || n > maxEjected {
			badSeen.Store(n)
		}
	}
	var workers sync.WaitGroup
	for w := range 6 {
		workers.Go(func() {
			outcomes := []error{errConnect, nil, errStatus, errConnect, errClient, nil, errConnect}
			for i := range 4000 {
				list := p.Primaries()
				b := list[(w*7+i)%len(list)]
				if !b.Available() {
					if i%16 == 0 {
						ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
						if q, err := p.Queue(ctx, func() *Backend {
							if b.Available() {
								return b
							}
							return nil
						}); err == nil {
							exchange(q, nil)
						}
						cancel()
					}
					continue
				}
				release := b.Acquire()
				b.EffectiveWeight()
				if i%5 == 0 {
					p.TryRetry()
				}
				release(time.Microsecond, outcomes[(w+i)%len(outcomes)])
				check()
			}
		})
	}
	wg.Go(func() { // the active health check
		for i := 0; !stop.Load(); i++ {
			list := p.Primaries()
			list[i%len(list)].SetHealthy(i%3 != 0, "probe")
			check()
		}
	})
	wg.Go(func() { // reloads
		for i := 0; !stop.Load(); i++ {
			specs := specsA
			if i%2 == 1 {
				specs = specsB
			}
			p.Plan(set, specs).Commit()
			check()
			time.Sleep(50 * time.Microsecond)
		}
	})
	wg.Go(func() { // readers: the admin API, Watch
		for !stop.Load() {
			for _, b := range p.Primaries() {
				b.Ejected()
				b.Healthy()
				b.Usable()
			}
			p.Watch()
			check()
		}
	})
	workers.Wait()
	stop.Store(true)
	wg.Wait()

	if n := badSeen.Load(); n != 0 {
		t.Errorf("pool ejected count reached %d, want it within [0, %d]", n, maxEjected)
	}
	members := 0
	for _, b := range p.Primaries() {
		if ejectedBit(b) {
			members++
		}
		if b.InFlight() != 0 {
			t.Errorf("%s: InFlight() = %d after every release, want 0", b.Addr, b.InFlight())
		}
	}
	if got := int(p.ejected.Load()); got != members {
		t.Errorf("at rest: pool ejected count = %d, want %d (the members ejected)", got, members)
	}
	if got := p.Waiting(); got != 0 {
		t.Errorf("at rest: Waiting() = %d, want 0", got)
	}
}
