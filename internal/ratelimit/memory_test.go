package ratelimit

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func take(t *testing.T, s Store, key string, l Limit) Result {
	t.Helper()
	res, err := s.Take(context.Background(), key, l, 1)
	if err != nil {
		t.Fatalf("Take(%q): %v", key, err)
	}
	return res
}

// TestGCRABurstAndRecovery checks the algorithm's arithmetic on a fake
// clock: a full burst at once, then one request per emission interval.
func TestGCRABurstAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(1000)
		l := Limit{Rate: 10, Period: time.Second, Burst: 5} // T = 100ms, τ = 500ms
		for i := range 5 {
			res := take(t, m, "k", l)
			if !res.Allowed || res.Remaining != int64(4-i) {
				t.Fatalf("request %d = %+v, want allowed with %d remaining", i, res, 4-i)
			}
		}
		res := take(t, m, "k", l)
		if res.Allowed || res.RetryAfter != 100*time.Millisecond || res.ResetAfter != 500*time.Millisecond {
			t.Fatalf("request 6 = %+v, want denied, retry after 100ms, reset after 500ms", res)
		}
		time.Sleep(99 * time.Millisecond)
		if res := take(t, m, "k", l); res.Allowed || res.RetryAfter != time.Millisecond {
			t.Fatalf("after 99ms = %+v, want denied, retry after 1ms", res)
		}
		time.Sleep(time.Millisecond)
		if res := take(t, m, "k", l); !res.Allowed || res.Remaining != 0 {
			t.Fatalf("after 100ms = %+v, want allowed with 0 remaining", res)
		}
		// Idle for the whole tolerance: a full burst again.
		time.Sleep(500 * time.Millisecond)
		if res := take(t, m, "k", l); !res.Allowed || res.Remaining != 4 || res.ResetAfter != 100*time.Millisecond {
			t.Fatalf("after 500ms idle = %+v, want allowed with 4 remaining, reset after 100ms", res)
		}
		// Another key is untouched by all of this.
		if res := take(t, m, "other", l); !res.Allowed || res.Remaining != 4 {
			t.Fatalf("other key = %+v, want allowed with 4 remaining", res)
		}
	})
}

// TestGCRAExactAllowance sends far more than the rate for 10 fake seconds:
// exactly burst + rate·elapsed requests get through.
func TestGCRAExactAllowance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit Limit
	}{
		{"100/s burst 100", Limit{Rate: 100, Period: time.Second, Burst: 100}},
		{"100/s burst 1", Limit{Rate: 100, Period: time.Second, Burst: 1}},
		{"600/m burst 20", Limit{Rate: 600, Period: time.Minute, Burst: 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(1000)
				const run = 10 * time.Second
				step := time.Millisecond
				allowed := int64(0)
				for elapsed := time.Duration(0); elapsed < run; elapsed += step {
					for range 3 {
						if take(t, m, "k", tc.limit).Allowed {
							allowed++
						}
					}
					time.Sleep(step)
				}
				// The last request is sent at run - step.
				want := tc.limit.Burst + int64((run-step)/tc.limit.interval())
				if allowed != want {
					t.Errorf("allowed %d in %v, want %d", allowed, run, want)
				}
			})
		})
	}
}

// TestMemoryBound sends 200,000 distinct keys at a store bounded at 10,000:
// the table never holds more.
func TestMemoryBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const bound = 10_000
		m := NewMemory(bound)
		l := Limit{Rate: 1, Period: time.Hour, Burst: 1} // nothing goes idle
		for i := range 200_000 {
			take(t, m, "client-"+strconv.Itoa(i), l)
			if i%10_000 == 0 {
				if n := m.Len(); n > bound {
					t.Fatalf("after %d keys the store holds %d, want at most %d", i+1, n, bound)
				}
			}
		}
		if n := m.Len(); n > bound || n < bound/2 {
			t.Fatalf("the store holds %d keys, want between %d and %d", n, bound/2, bound)
		}
		// Idle entries go first: after an hour every key is idle, and
		// new keys replace them without evicting each other.
		time.Sleep(time.Hour)
		for i := range bound / 2 {
			take(t, m, "late-"+strconv.Itoa(i), l)
		}
		late := 0
		for i := range bound / 2 {
			if !take(t, m, "late-"+strconv.Itoa(i), l).Allowed {
				late++ // denied: its state survived
			}
		}
		if late != bound/2 {
			t.Errorf("%d of %d new keys kept their state after idle keys were dropped, want all", late, bound/2)
		}
	})
}

func TestMemoryTakeAllocs(t *testing.T) {
	m := NewMemory(1000)
	l := Limit{Rate: 1e6, Period: time.Second, Burst: 1e6}
	take(t, m, "key", l)
	if n := testing.AllocsPerRun(1000, func() { m.Take(context.Background(), "key", l, 1) }); n != 0 {
		t.Errorf("Take of an existing key allocates %v times, want 0", n)
	}
}

// TestMemoryConcurrent checks, under -race, that concurrent Takes of one
// key never allow more than the burst.
func TestMemoryConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(1000)
		l := Limit{Rate: 1, Period: time.Hour, Burst: 50}
		var mu sync.Mutex
		allowed := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					if take(t, m, "k", l).Allowed {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if allowed != 50 {
			t.Errorf("allowed %d, want the burst of 50", allowed)
		}
	})
}

func BenchmarkTake(b *testing.B) {
	m := NewMemory(1_000_000)
	l := Limit{Rate: 1e9, Period: time.Second, Burst: 1e9}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "10.0.0." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	var worker atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine walks the keys from its own place: in lockstep
		// they would all contend for one shard at a time, which no
		// traffic does.
		i := int(worker.Add(1)) * 509
		for pb.Next() {
			m.Take(context.Background(), keys[i&1023], l, 1)
			i++
		}
	})
}

func BenchmarkTakeUncontended(b *testing.B) {
	m := NewMemory(1_000_000)
	l := Limit{Rate: 1e9, Period: time.Second, Burst: 1e9}
	b.ReportAllocs()
	for b.Loop() {
		m.Take(context.Background(), "10.0.0.1", l, 1)
	}
}
