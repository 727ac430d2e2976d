package lb

import (
	"math/rand/v2"

	"palisade/internal/upstream"
)

// P2C is the power of two choices, ignoring key: it draws two distinct
// available backends at random, each in proportion to its configured
// weight, and sends the request to the one with fewer requests in flight
// relative to its effective weight (the first drawn on a tie). It comes
// close to LeastConn's balance in constant time and, since it never sends
// every request to the one least loaded backend, avoids the herd that
// least-loaded choices cause when many balancers share backends. Idle
// backends share traffic by weight. The zero value is ready to use.
//
// Pick costs two draws when the pool is the slice it saw last; a pool seen
// for the first time is indexed once (the only allocation, once per
// generation of members), and a retry's pool is read in full.
type P2C struct {
	idx indexCache
}

var _ Policy = (*P2C)(nil)

// Pick returns the less loaded of two backends drawn at random.
func (p *P2C) Pick(pool []*upstream.Backend, _ uint64) *upstream.Backend {
	a := p.idx.draw(pool, nil)
	if a == nil {
		return nil
	}
	b := p.idx.draw(pool, a)
	if b == nil {
		return a
	}
	if b.InFlight()*a.EffectiveWeight() < a.InFlight()*b.EffectiveWeight() {
		return b
	}
	return a
}

// drawTries bounds the draws of one choice before draw reads the whole
// pool: with half the weight unavailable, four draws all miss one time in
// sixteen.
const drawTries = 4

// draw returns an available backend of pool other than skip, drawn with
// probability proportional to its effective weight, or nil when there is
// none. When pool is the indexed slice it draws by configured weight and
// keeps a backend that slow start holds back with probability
// effective/full, which makes the whole proportional to effective
// weight; when the draws keep missing, or pool is another slice, it falls
// back to scanWeighted, which is exact too.
func (c *indexCache) draw(pool []*upstream.Backend, skip *upstream.Backend) *upstream.Backend {
	if len(pool) == 0 {
		return nil
	}
	ix := c.exact(pool)
	if ix == nil {
		c.resolve(pool, false)
		return scanWeighted(pool, skip)
	}
	for range drawTries {
		i := ix.sample(rand.Uint64())
		b := pool[i]
		if b != ix.members[i] || b.Weight() != ix.weight(i) {
			// The caller changed the slice in place.
			c.resolve(pool, false)
			break
		}
		if b == skip || !b.Available() {
			continue
		}
		if eff, full := b.EffectiveWeight(), fullWeight(b); eff < full && below(rand.Uint64(), uint64(full)) >= uint64(eff) {
			continue
		}
		return b
	}
	return scanWeighted(pool, skip)
}
