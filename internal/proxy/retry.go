package proxy

import "time"

// RetryPolicy says when a failed request is tried again on another
// backend. A connect failure, where nothing was sent, is always retried
// while an untried backend is left, whatever the policy.
type RetryPolicy struct {
	// Attempts is the most tries of one request, the first included.
	Attempts int
	// PerTryTimeout bounds each try's wait for a response head; 0 leaves
	// the upstream's response_header timeout alone.
	PerTryTimeout time.Duration
	// OnStatus are the backend statuses retried like failures.
	OnStatus StatusSet
	// NonIdempotent retries requests whose method is not idempotent.
	NonIdempotent bool
	// BodyBuffer is the most of a request body kept for replay.
	BodyBuffer int64
}

// StatusSet is a set of 5xx statuses.
type StatusSet struct{ bits [2]uint64 }

// Add puts status in s; statuses outside 500–599 are ignored.
func (s *StatusSet) Add(status int) {
	if i := status - 500; i >= 0 && i < 100 {
		s.bits[i/64] |= 1 << (i % 64)
	}
}

// Has reports whether status is in s.
func (s *StatusSet) Has(status int) bool {
	i := status - 500
	return i >= 0 && i < 100 && s.bits[i/64]&(1<<(i%64)) != 0
}

// Options are a route's settings of its terminal handler.
type Options struct {
	// RetryNonIdempotent lets the route's non-idempotent requests be
	// retried under the upstream's retry policy.
	RetryNonIdempotent bool
}
