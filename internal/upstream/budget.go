package upstream

import (
	"sync"
	"time"
)

// budgetWindow is how far back the retry budget looks, in seconds, as
// Finagle's RetryBudget (10 s).
const budgetWindow = 10

// retryBudget caps retries at a share of the first tries of the last
// budgetWindow seconds plus a floor per second. It is touched only when a
// request is about to be retried; requests are counted by the backends'
// own counters, so the budget costs the first try nothing. The window's
// requests are counted from its oldest bucket, which begins at the first
// retry of its second: requests before it are left out, so the budget errs
// on the side of fewer retries, never more.
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
	// Every retry counted was granted after the oldest bucket began and,
	// once sent, is in total as a request of its own: left in, each retry
	// would raise its own allowance, and a budget of 100% would never run
	// out. The share is of first tries.
	var firstTries uint64
	if n := total - oldest; n > uint64(retries) {
		firstTries = n - uint64(retries)
	}
	allowed := float64(minPerSec*budgetWindow) + ratio*float64(firstTries)
	if float64(retries) >= allowed {
		return false
	}
	cur.retries++
	return true
}
