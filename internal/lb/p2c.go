package lb

import "palisade/internal/upstream"

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
	rng := newFastRand()
	a, wa := p.idx.draw(pool, nil, &rng)
	if a == nil {
		return nil
	}
	b, wb := p.idx.draw(pool, a, &rng)
	if b == nil {
		return a
	}
	if b.InFlight()*wa < a.InFlight()*wb {
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
// back to scanWeighted, which is exact too. It returns the backend's
// effective weight beside it.
func (c *indexCache) draw(pool []*upstream.Backend, skip *upstream.Backend, rng *fastRand) (*upstream.Backend, int64) {
	if len(pool) == 0 {
		return nil, 0
	}
	ix := c.exact(pool)
	if ix == nil {
		c.resolve(pool, false)
		return withWeight(scanWeighted(pool, skip))
	}
	for range drawTries {
		i := ix.sample(rng.next())
		b := pool[i]
		w := b.Weight()
		if b != ix.members[i] || w != ix.weight(i) {
			// The caller changed the slice in place.
			c.resolve(pool, false)
			break
		}
		if b == skip || !b.Available() {
			continue
		}
		eff, full := b.EffectiveWeight(), int64(w)*256
		if eff < full && below(rng.next(), uint64(full)) >= uint64(eff) {
			continue
		}
		return b, eff
	}
	return withWeight(scanWeighted(pool, skip))
}

func withWeight(b *upstream.Backend) (*upstream.Backend, int64) {
	if b == nil {
		return nil, 0
	}
	return b, b.EffectiveWeight()
}
