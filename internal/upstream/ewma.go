package upstream

import (
	"math"
	"sync"
	"time"
)

// peakEWMA is the latency estimate of the ewma policy, as Finagle's and
// Linkerd's: a sample above the estimate replaces it at once (the peak),
// one below it pulls it down with a weight that decays with the time since
// the last sample, so a backend that turns slow is avoided at once and one
// that recovers is trusted again gradually. A mutex guards it: it is fed
// only for upstreams that use the ewma policy.
type peakEWMA struct {
	mu    sync.Mutex
	cost  float64 // nanoseconds
	stamp int64   // Unix nanoseconds of the last update
	decay float64 // nanoseconds; 0 until set
}

// penaltyNanos is the cost a failure counts as: a fast error must not make
// a backend look fast.
const penaltyNanos = float64(time.Second)

func (e *peakEWMA) observe(now int64, rtt time.Duration) {
	e.mu.Lock()
	e.updateLocked(now, float64(rtt))
	e.mu.Unlock()
}

func (e *peakEWMA) penalize(now int64) {
	e.mu.Lock()
	e.updateLocked(now, max(penaltyNanos, e.cost*2))
	e.mu.Unlock()
}

func (e *peakEWMA) updateLocked(now int64, sample float64) {
	switch {
	case e.stamp == 0 || sample > e.cost:
		e.cost = sample
	default:
		decay := e.decay
		if decay <= 0 {
			decay = float64(10 * time.Second)
		}
		w := math.Exp(-float64(max(now-e.stamp, 0)) / decay)
		e.cost = e.cost*w + sample*(1-w)
	}
	e.stamp = now
}

func (e *peakEWMA) setDecay(d time.Duration) {
	e.mu.Lock()
	e.decay = float64(d)
	e.mu.Unlock()
}

// read returns the estimate in nanoseconds (0 before any sample).
func (e *peakEWMA) read() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cost
}

// Latency returns the ewma policy's peak-EWMA latency estimate; zero
// before any sample or when the upstream does not use the policy.
func (b *Backend) Latency() time.Duration { return time.Duration(b.latency.read()) }
