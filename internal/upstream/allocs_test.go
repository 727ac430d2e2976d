//go:build !race

package upstream

import (
	"testing"
	"time"
)

// TestPooledAcquireAllocs checks that a request to a pooled backend, with
// passive health, limits and latency tracking on, allocates nothing on its
// success and failure paths.
func TestPooledAcquireAllocs(t *testing.T) {
	set := passiveSettings(1<<30, 0.9, 1<<30)
	set.MaxRequests = 1 << 20
	set.SlowStart = time.Minute
	tracked := set
	tracked.TrackLatency = true
	for _, tc := range []struct {
		name string
		set  Settings
		err  error
	}{
		{"success", set, nil},
		{"connect failure", set, errConnect},
		{"server error", set, errStatus},
		{"client failure", set, errClient},
		{"success, latency tracked", tracked, nil},
		{"server error, latency tracked", tracked, errStatus},
		{"connect failure, latency tracked", tracked, errConnect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTestPool(t, tc.set, testMembers(2)...)
			// The second commit puts the new backend under slow start.
			p.Plan(tc.set, testMembers(3)).Commit()
			b := p.Primaries()[2]
			if n := testing.AllocsPerRun(1000, func() {
				if !b.Available() {
					t.Fatal("backend not available")
				}
				b.EffectiveWeight()
				release := b.Acquire()
				release(time.Millisecond, tc.err)
			}); n != 0 {
				t.Errorf("Available+Acquire+release (%s) allocates %v times, want 0", tc.name, n)
			}
		})
	}
}

// TestUnavailableAllocs checks that asking an ejected, a draining or a busy
// backend allocates nothing.
func TestUnavailableAllocs(t *testing.T) {
	p, _ := newTestPool(t, passiveSettings(1, 0, 1), testMembers(4)...)
	list := p.Primaries()
	exchange(list[0], errConnect)
	list[1].SetDraining(true)
	list[2].SetHealthy(false, "probe failed")
	if n := testing.AllocsPerRun(1000, func() {
		for _, b := range list[:3] {
			if b.Available() || b.Usable() {
				t.Fatal("backend available")
			}
		}
	}); n != 0 {
		t.Errorf("Available+Usable of unavailable backends allocates %v times, want 0", n)
	}
}
