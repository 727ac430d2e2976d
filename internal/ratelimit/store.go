package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Store holds the GCRA state of many keys. Take is safe for concurrent
// use and must not retain key after it returns.
type Store interface {
	// Take charges n against key's allowance under limit and reports
	// whether the request is allowed. An error means the store could
	// not decide; the Result is then meaningless.
	Take(ctx context.Context, key string, limit Limit, n int) (Result, error)
}

// Limit is a GCRA limit: Rate requests every Period on average, up to
// Burst at once after a pause.
type Limit struct {
	Rate   int64
	Period time.Duration
	Burst  int64
}

// interval returns T, the time one request costs: Period/Rate.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Rate) }

// Result is one Take's decision.
type Result struct {
	Allowed bool
	// Remaining is how many more requests the key may send at once now.
	Remaining int64
	// RetryAfter is, when denied, how long until the request would be
	// allowed; 0 when allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to a full burst.
	ResetAfter time.Duration
	// Unchecked is set when no store decided: a Redis zone failing open
	// allowed the request without counting it.
	Unchecked bool
}

// ErrUnavailable is returned while a Redis zone failing closed cannot
// reach its Redis.
var ErrUnavailable = errors.New("ratelimit: store unavailable")

// decide is GCRA for one key: tat is the key's stored TAT (0 for none), now
// the current time, both on one clock in nanoseconds. It returns the
// decision and the TAT to store (unchanged when denied).
func decide(tat, now int64, l Limit, n int64) (Result, int64) {
	t := int64(l.interval())
	tau := t * l.Burst
	if tat < now {
		tat = now
	}
	newTAT := tat + n*t
	if allowAt := newTAT - tau; allowAt > now {
		return Result{RetryAfter: time.Duration(allowAt - now), ResetAfter: time.Duration(tat - now)}, tat
	}
	return Result{
		Allowed:    true,
		Remaining:  (tau - (newTAT - now)) / t,
		ResetAfter: time.Duration(newTAT - now),
	}, newTAT
}
