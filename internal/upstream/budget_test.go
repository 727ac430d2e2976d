package upstream

import (
	"testing"
	"testing/synctest"
	"time"
)

// retryLoad sends n first tries to b, one every gap, and after each asks
// for as many retries as the budget allows, sending each; it returns the
// retries granted.
func retryLoad(p *Pool, b *Backend, n int, gap time.Duration) int {
	retries := 0
	for i := range n {
		if i > 0 {
			time.Sleep(gap)
		}
		exchange(b, errStatus)
		for p.TryRetry() {
			exchange(b, nil)
			retries++
			if retries > 100*n {
				break
			}
		}
	}
	return retries
}

func TestRetryBudget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ratio    float64
		min      int
		requests int
		// want bounds the retries granted over one 10s window.
		wantMin, wantMax int
	}{
		{"floor alone", 0, 10, 1000, 100, 100},
		{"20% plus the floor", 0.2, 10, 1000, 290, 300},
		{"50% plus the floor", 0.5, 10, 1000, 590, 600},
		{"100% without a floor", 1, 0, 1000, 990, 1000},
		{"nothing", 0, 0, 1000, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := newTestPool(t, Settings{RetryBudget: tc.ratio, RetryMinPerSecond: tc.min}, testMembers(1)...)
				b := p.Primaries()[0]
				// The requests span 9.99s, one window.
				got := retryLoad(p, b, tc.requests, 10*time.Second/time.Duration(tc.requests))
				if got < tc.wantMin || got > tc.wantMax {
					t.Errorf("budget %v + %d/s over %d requests: %d retries, want %d to %d", tc.ratio, tc.min, tc.requests, got, tc.wantMin, tc.wantMax)
				}
				if p.TryRetry() {
					t.Errorf("budget spent: TryRetry() = true, want false")
				}
			})
		})
	}
}

func TestRetryBudgetSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, Settings{RetryBudget: 0.2, RetryMinPerSecond: 10}, testMembers(1)...)
		b := p.Primaries()[0]
		if got := retryLoad(p, b, 1, 0); got != 100 {
			t.Fatalf("a burst: %d retries, want the floor, 100", got)
		}
		time.Sleep(9 * time.Second)
		if p.TryRetry() {
			t.Errorf("9s after the burst: TryRetry() = true, want false (the burst is in the window)")
		}
		time.Sleep(time.Second)
		// The floor again, and 20% of the one first try in the window.
		if got := retryLoad(p, b, 1, 0); got != 101 {
			t.Errorf("10s after the burst: %d retries, want 101", got)
		}
	})
}

// TestRetryBudgetRetriesAreNotRequests guards a bug: the budget took its
// share of every request sent, retries included, so each retry granted
// raised its own allowance: a 20% budget allowed 25% (375 retries for 1000
// requests and a floor of 100, not 300), and a 100% budget never ran out.
func TestRetryBudgetRetriesAreNotRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, Settings{RetryBudget: 1}, testMembers(1)...)
		b := p.Primaries()[0]
		if got := retryLoad(p, b, 10, 10*time.Millisecond); got > 10 {
			t.Errorf("budget 100%% over 10 requests: %d retries, want at most 10", got)
		}
	})
}
