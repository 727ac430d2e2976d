package upstream

import (
	"math"
	"sync/atomic"
	"time"
)

// Backend is one server address in an upstream. Its live state is read
// without locks on the request path and survives config reloads that keep
// the same upstream name and address.
type Backend struct {
	// Upstream and Addr are the backend's identity; Addr is host:port.
	Upstream string
	Addr     string

	weight   atomic.Int32
	healthy  atomic.Bool
	inflight atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64
	// ewma is the smoothed round-trip time in nanoseconds.
	ewma atomic.Int64

	// release is b.done bound once, so Acquire allocates nothing.
	release func(rtt time.Duration, err error)
}

// NewBackend returns a healthy backend with weight 1.
func NewBackend(upstreamName, addr string) *Backend {
	b := &Backend{Upstream: upstreamName, Addr: addr}
	b.weight.Store(1)
	b.healthy.Store(true)
	b.release = b.done
	return b
}

// Available reports whether a new request may be sent to b. It never blocks.
func (b *Backend) Available() bool { return b.healthy.Load() }

// SetHealthy records the verdict of a health check. reason is for the log of
// the caller; it is accepted here so every caller states one.
func (b *Backend) SetHealthy(ok bool, reason string) { b.healthy.Store(ok) }

// Weight returns the configured weight (at least 1).
func (b *Backend) Weight() int { return int(b.weight.Load()) }

// SetWeight sets the weight; values below 1 count as 1.
func (b *Backend) SetWeight(w int) {
	w = min(max(w, 1), math.MaxInt32)
	b.weight.Store(int32(w))
}

// InFlight returns the number of requests currently sent to b.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Requests returns the number of requests ever sent to b.
func (b *Backend) Requests() uint64 { return b.requests.Load() }

// Failures returns the number of exchanges with b that failed.
func (b *Backend) Failures() uint64 { return b.failures.Load() }

// EWMA returns the smoothed round-trip time of successful exchanges.
func (b *Backend) EWMA() time.Duration { return time.Duration(b.ewma.Load()) }

// Acquire counts a request sent to b. The caller must call release exactly
// once when the exchange ends, with the time to the response head and the
// error that ended it (nil on success).
func (b *Backend) Acquire() (release func(rtt time.Duration, err error)) {
	b.inflight.Add(1)
	b.requests.Add(1)
	return b.release
}

// ewmaWeight is the share of a new sample, as a right shift: 1/8.
const ewmaShift = 3

func (b *Backend) done(rtt time.Duration, err error) {
	b.inflight.Add(-1)
	if err != nil {
		b.failures.Add(1)
		return
	}
	for {
		old := b.ewma.Load()
		next := int64(rtt)
		if old != 0 {
			next = old + (int64(rtt)-old)>>ewmaShift
		}
		if b.ewma.CompareAndSwap(old, next) {
			return
		}
	}
}
