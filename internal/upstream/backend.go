package upstream

import (
	"errors"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Outcome errors a caller passes to release to say what an exchange tells
// about the backend. Any other non-nil error is a failure of the backend
// (refused, reset, timed out), which passive health counts.
var (
	// ErrServerStatus marks an exchange the backend answered with a 5xx
	// status: counted by passive health's error ratio, not as a failure
	// in a row.
	ErrServerStatus = errors.New("backend answered with a server error")
	// ErrNotBackend marks an exchange that ended for a reason that says
	// nothing about the backend (the client went away, its body failed):
	// neither passive health nor latency learns from it.
	ErrNotBackend = errors.New("exchange ended by the client")
)

// state bits of a Backend.
const (
	stateDown     uint32 = 1 << iota // the active health check says down
	stateEjected                     // passive health ejected it until ejectUntil
	stateDraining                    // configured to drain, or removed by a reload
)

// weightScale is the fixed point of EffectiveWeight: a full weight w counts
// w*weightScale, so that slow start can ramp a weight-1 backend smoothly.
const weightScale = 256

// Backend is one server address in an upstream. Its live state (health,
// ejection, drain, requests in flight, latency) is read without locks on
// the request path and survives config reloads that keep the same upstream
// and address: the Pool of the upstream hands out the same Backend.
type Backend struct {
	// Upstream and Addr are the backend's identity; Addr is host:port.
	Upstream string
	Addr     string

	// pool is the upstream's shared state (settings, ejected count); nil
	// for a backend made by NewBackend alone.
	pool *Pool

	weight atomic.Int32
	// state holds the state bits; ejectUntil is the Unix time in
	// nanoseconds at which an ejection ends.
	state      atomic.Uint32
	ejectUntil atomic.Int64
	// rampStart is when slow start began (Unix nanoseconds), 0 when the
	// backend carries its full weight.
	rampStart atomic.Int64
	// reason is why the backend last changed health, for the log and the
	// admin API.
	reason atomic.Pointer[string]

	inflight atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64
	// maxInflight is the per-backend request limit (0: none).
	maxInflight atomic.Int64
	// ewma is the smoothed round-trip time in nanoseconds.
	ewma atomic.Int64
	// latency is the peak-EWMA cost the ewma policy reads; it is fed only
	// while trackLatency is set.
	latency      peakEWMA
	trackLatency atomic.Bool

	passive passiveState

	// release is b.done bound once, so Acquire allocates nothing.
	release func(rtt time.Duration, err error)
}

// NewBackend returns a healthy backend with weight 1 that belongs to no
// pool: no passive health, limits or slow start apply to it.
func NewBackend(upstreamName, addr string) *Backend {
	b := &Backend{Upstream: upstreamName, Addr: addr}
	b.weight.Store(1)
	b.release = b.done
	return b
}

// Available reports whether a new request may be sent to b: it is not
// down, ejected, draining, nor at its request limit. It never blocks and
// reads the clock only while b is ejected.
func (b *Backend) Available() bool {
	s := b.state.Load()
	if s != 0 {
		// The ejection is looked at first, so that one that ran its course
		// ends even while b is down or draining: otherwise it would keep
		// one of the pool's max_ejected slots until b came back up.
		if s&stateEjected != 0 && !b.ejectionOver() {
			return false
		}
		if s&(stateDown|stateDraining) != 0 {
			return false
		}
	}
	if m := b.maxInflight.Load(); m > 0 && b.inflight.Load() >= m {
		return false
	}
	return true
}

// Usable reports whether b may serve a request at all, limits aside: not
// down, ejected or draining. The queue uses it to tell a backend worth
// waiting for (busy) from one that is gone.
func (b *Backend) Usable() bool {
	s := b.state.Load()
	if s&stateEjected != 0 && !b.ejectionOver() {
		return false
	}
	return s&(stateDown|stateDraining) == 0
}

// SetHealthy records the verdict of the active health check with its
// reason ("status 503", "connect: connection refused"). It reports whether
// the verdict changed, so the caller logs each transition once; a verdict
// that did not change changes nothing, its reason included. A backend
// coming up also ends a passive ejection: the active check has the last
// word, and the backend ramps up under slow start. A backend that stays up
// stays ejected: probes that pass do not cut an ejection short.
func (b *Backend) SetHealthy(ok bool, reason string) (changed bool) {
	for {
		old := b.state.Load()
		next := old | stateDown
		if ok {
			next = old &^ stateDown
			if old&stateDown != 0 {
				next &^= stateEjected
			}
		}
		if next == old {
			return false
		}
		if b.state.CompareAndSwap(old, next) {
			b.reason.Store(&reason)
			if ok {
				if old&stateEjected != 0 && next&stateEjected == 0 && b.pool != nil {
					b.pool.ejected.Add(-1)
				}
				b.startRamp()
			}
			b.pool.changed()
			// Ending an ejection alone is no change of the verdict.
			return (old&stateDown != 0) == ok
		}
	}
}

// Healthy reports the active health check's verdict and the reason of the
// last change ("" before any).
func (b *Backend) Healthy() (ok bool, reason string) {
	if r := b.reason.Load(); r != nil {
		reason = *r
	}
	return b.state.Load()&stateDown == 0, reason
}

// Ejected reports whether passive health has b ejected, and until when.
func (b *Backend) Ejected() (bool, time.Time) {
	if b.state.Load()&stateEjected == 0 || b.ejectionOver() {
		return false, time.Time{}
	}
	return true, time.Unix(0, b.ejectUntil.Load())
}

// Draining reports whether b takes no new requests.
func (b *Backend) Draining() bool { return b.state.Load()&stateDraining != 0 }

// SetDraining starts or ends draining: a draining backend gets no new
// request; those in flight finish.
func (b *Backend) SetDraining(on bool) {
	for {
		old := b.state.Load()
		next := old &^ stateDraining
		if on {
			next = old | stateDraining
		}
		if old == next || b.state.CompareAndSwap(old, next) {
			if old != next && !on {
				b.startRamp()
			}
			return
		}
	}
}

// Weight returns the configured weight (at least 1).
func (b *Backend) Weight() int { return int(b.weight.Load()) }

// SetWeight sets the weight; values below 1 count as 1.
func (b *Backend) SetWeight(w int) {
	w = min(max(w, 1), math.MaxInt32)
	b.weight.Store(int32(w))
}

// EffectiveWeight returns the weight policies balance by, in units of
// 1/256 of a configured weight: Weight()*256, or less while slow start
// ramps b up after it was added or recovered. It is at least 1 and reads
// the clock only during a ramp.
func (b *Backend) EffectiveWeight() int64 {
	full := int64(b.weight.Load()) * weightScale
	start := b.rampStart.Load()
	if start == 0 || b.pool == nil {
		return full
	}
	window := b.pool.settings.Load().SlowStart
	elapsed := time.Now().UnixNano() - start
	if window <= 0 || elapsed >= int64(window) || elapsed < 0 {
		b.rampStart.CompareAndSwap(start, 0)
		return full
	}
	// full*elapsed overflows int64 for a large weight (2^31*256 times
	// 17ms), so it is taken in 128 bits; elapsed < window keeps the
	// quotient below full and Div64 from panicking.
	hi, lo := bits.Mul64(uint64(full), uint64(elapsed))
	ramped, _ := bits.Div64(hi, lo, uint64(window))
	return max(int64(ramped), 1)
}

// startRamp begins slow start when the pool has a window.
func (b *Backend) startRamp() {
	if b.pool != nil && b.pool.settings.Load().SlowStart > 0 {
		b.rampStart.Store(max(time.Now().UnixNano(), 1))
	}
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
// outcome: nil on success, an error wrapping ErrServerStatus for a 5xx
// answer, ErrNotBackend when the client ended it, any other error for a
// failure of the backend.
func (b *Backend) Acquire() (release func(rtt time.Duration, err error)) {
	b.inflight.Add(1)
	b.requests.Add(1)
	return b.release
}

// ewmaShift is the share of a new sample, as a right shift: 1/8.
const ewmaShift = 3

func (b *Backend) done(rtt time.Duration, err error) {
	b.inflight.Add(-1)
	if p := b.pool; p != nil && p.waiters.Load() > 0 {
		p.wake()
	}
	if err != nil {
		b.failed(err)
		return
	}
	if b.trackLatency.Load() {
		b.latency.observe(time.Now().UnixNano(), rtt)
	}
	if b.pool != nil {
		b.passive.success()
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

// failed accounts an exchange that did not succeed.
func (b *Backend) failed(err error) {
	if errors.Is(err, ErrNotBackend) {
		return
	}
	b.failures.Add(1)
	if b.pool == nil {
		return
	}
	status := errors.Is(err, ErrServerStatus)
	if status && b.trackLatency.Load() {
		// A fast 5xx must not make b look attractive to ewma.
		b.latency.penalize(time.Now().UnixNano())
	}
	b.passive.failure(b, status)
}
