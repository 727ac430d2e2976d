package lb

import "palisade/internal/upstream"

// Random sends each request to an available backend drawn at random in
// proportion to its effective weight, ignoring key. It needs no shared
// state beyond the pool's index, so it scales across cores without
// contention; its balance is statistical, good over many requests. The
// zero value is ready to use.
//
// Pick costs one draw (a binary search over cumulative weights when they
// differ) when the pool is the slice it saw last; a pool seen for the
// first time is indexed once, and a retry's pool is read in full.
type Random struct {
	idx indexCache
}

var _ Policy = (*Random)(nil)

// Pick returns a backend drawn at random by weight.
func (p *Random) Pick(pool []*upstream.Backend, _ uint64) *upstream.Backend {
	rng := newFastRand()
	b, _ := p.idx.draw(pool, nil, &rng)
	return b
}
