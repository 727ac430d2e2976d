package upstream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// peakEWMA is the latency estimate of the ewma policy, as Finagle's and
// Linkerd's: a sample above the estimate replaces it at once (the peak),
// one below it pulls it down with a weight that decays with the time since
// the last sample, so a backend that turns slow is avoided at once and one
// that recovers is trusted again gradually. A read decays the estimate
// toward zero by the time since the last sample too, as Finagle's does, so
// a backend that was judged slow and then got no traffic is tried again.
// Updates take a mutex (the estimate is fed only for upstreams that use
// the ewma policy); reads are atomic.
type peakEWMA struct {
	mu    sync.Mutex    // serialises updates
	cost  atomic.Uint64 // float64 bits, nanoseconds
	stamp atomic.Int64  // Unix nanoseconds of the last update; 0 before any
	decay atomic.Int64  // nanoseconds; 0 until set
}

// penaltyNanos is the cost a failure counts as: a fast error must not make
// a backend look fast.
const penaltyNanos = float64(time.Second)

// defaultDecay is the time constant when none was set.
const defaultDecay = 10 * time.Second

func (e *peakEWMA) observe(now int64, rtt time.Duration) {
	e.mu.Lock()
	e.updateLocked(now, float64(rtt))
	e.mu.Unlock()
}

func (e *peakEWMA) penalize(now int64) {
	e.mu.Lock()
	e.updateLocked(now, max(penaltyNanos, 2*math.Float64frombits(e.cost.Load())))
	e.mu.Unlock()
}

func (e *peakEWMA) updateLocked(now int64, sample float64) {
	cost := math.Float64frombits(e.cost.Load())
	stamp := e.stamp.Load()
	if stamp == 0 || sample > cost {
		cost = sample
	} else {
		w := math.Exp(-float64(max(now-stamp, 0)) / e.decayNanos())
		cost = cost*w + sample*(1-w)
	}
	e.cost.Store(math.Float64bits(cost))
	e.stamp.Store(max(now, 1))
}

func (e *peakEWMA) decayNanos() float64 {
	if d := e.decay.Load(); d > 0 {
		return float64(d)
	}
	return float64(defaultDecay)
}

func (e *peakEWMA) setDecay(d time.Duration) { e.decay.Store(int64(d)) }

// read returns the estimate in nanoseconds at now, decayed toward zero by
// the time since the last sample (0 before any sample).
func (e *peakEWMA) read(now int64) float64 {
	stamp := e.stamp.Load()
	if stamp == 0 {
		return 0
	}
	cost := math.Float64frombits(e.cost.Load())
	if elapsed := now - stamp; elapsed > 0 {
		cost *= decayFactor(float64(elapsed) / e.decayNanos())
	}
	return cost
}

// decayFactor is e^-x. Under load samples come microseconds apart and x is
// tiny: there 1 - x + x²/2 is off by at most x³/6, under 1e-11, and much cheaper
// than math.Exp on every pick.
func decayFactor(x float64) float64 {
	if x < 1.0/4096 {
		return 1 - x + x*x/2
	}
	return math.Exp(-x)
}

// Latency returns the ewma policy's peak-EWMA latency estimate, decayed by
// the time since its last sample; zero before any sample or when the
// upstream does not use the policy. It reads the clock.
func (b *Backend) Latency() time.Duration {
	return time.Duration(b.latency.read(time.Now().UnixNano()))
}

// LatencyAt is Latency at now (Unix nanoseconds), for a caller that reads
// several backends at one instant and the clock once.
func (b *Backend) LatencyAt(now int64) time.Duration {
	return time.Duration(b.latency.read(now))
}
