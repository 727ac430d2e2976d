package upstream

import (
	"sync"
	"time"
)

// budgetWindow is how far back the retry budget looks, in seconds, as
// Finagle's RetryBudget (10 s).
const budgetWindow = 10

// retryBudget caps retries at a share of the first tries of the last
// budgetWindow seconds plus a floor per second, spent over the window as
// Finagle's does. It is touched only when a request is about to be
// retried; requests are counted by the backends' own counters, so the
// budget costs the first try nothing. The window's requests are counted
// from the first retry in it: after a quiet spell only the floor is
// available until the window fills again, so min_per_second 0 refuses the
// first retry of a window.
type retryBudget struct {
	mu      sync.Mutex
	buckets [budgetWindow]budgetBucket
}

type budgetBucket struct {
	sec     int64  // the second the bucket holds; 0 when unused
	base    uint64 // the pool's request total when the bucket began
	retries int
}

// take spends one retry if the budget allows it at now, given the pool's
// request total.
func (rb *retryBudget) take(now int64, total uint64, ratio float64, minPerSec int) bool {
	sec := now / int64(time.Second)
	rb.mu.Lock()
	defer rb.mu.Unlock()
	cur := &rb.buckets[sec%budgetWindow]
	if cur.sec != sec {
		*cur = budgetBucket{sec: sec, base: total}
	}
	oldest := total
	retries := 0
	for i := range rb.buckets {
		bk := &rb.buckets[i]
		if bk.sec == 0 || sec-bk.sec >= budgetWindow {
			continue
		}
		oldest = min(oldest, bk.base)
		retries += bk.retries
	}
	// Retries are requests too (Acquire counts them); the budget is a
	// share of first tries.
	first := max(int64(total-oldest)-int64(retries), 0)
	allowed := float64(minPerSec*budgetWindow) + ratio*float64(first)
	if float64(retries) >= allowed {
		return false
	}
	cur.retries++
	return true
}
