package lb

import (
	"time"

	"palisade/internal/upstream"
)

// EWMA is peak-EWMA balancing as Finagle and Linkerd do it, ignoring key:
// it draws two distinct available backends like P2C and sends the request
// to the one of lower cost, Latency × (InFlight+1) / EffectiveWeight.
// Latency is the backend's peak-sensitive moving average of response
// times, which the proxy feeds only when the upstream's policy is ewma
// (upstream.Settings.TrackLatency; ewma_decay is its time constant). A slow
// backend is avoided as soon as it turns slow, and a backend with many
// requests waiting costs more the slower it is.
//
// A backend without a sample yet (new, or the upstream just switched to
// ewma) costs nothing while it is idle, so it wins any draw it is in and
// gets measured; while its first requests are in flight it costs
// unmeasuredCost per request, so it is not flooded before its latency is
// known. The zero value is ready to use. Pick costs what P2C's does plus
// one clock read and two decayed latency reads (an exponential each, as
// Finagle's estimate decays when read): about 200 ns at 100 backends on the
// 2-core bench machine, above the 100 ns the other constant-time policies
// stay under.
type EWMA struct {
	idx indexCache
}

var _ Policy = (*EWMA)(nil)

// unmeasuredCost stands for the latency of a backend without samples while
// it has requests in flight: far above any real response time.
const unmeasuredCost = float64(time.Minute)

// Pick returns the cheaper of two backends drawn at random.
func (p *EWMA) Pick(pool []*upstream.Backend, _ uint64) *upstream.Backend {
	rng := newFastRand()
	a, wa := p.idx.draw(pool, nil, &rng)
	if a == nil {
		return nil
	}
	b, wb := p.idx.draw(pool, a, &rng)
	if b == nil {
		return a
	}
	now := time.Now().UnixNano()
	if ewmaCost(b, wb, now) < ewmaCost(a, wa, now) {
		return b
	}
	return a
}

// ewmaCost is b's cost at now, given its effective weight eff.
func ewmaCost(b *upstream.Backend, eff int64, now int64) float64 {
	in := b.InFlight()
	lat := float64(b.LatencyAt(now))
	if lat == 0 {
		if in == 0 {
			return 0
		}
		lat = unmeasuredCost
	}
	return lat * float64(in+1) / float64(eff)
}
