package lb

import (
	"math"

	"palisade/internal/upstream"
)

// Hash maps each key to a backend by rendezvous (highest random weight)
// hashing: every available backend scores the key, and the highest score
// wins. The score is weighted as in "Weighted Distributed Hash Tables"
// (Schindelhauer and Schomaker): with u uniform in (0,1) from the hash of
// key and backend address, the score is -w/ln(u), so a backend wins a
// share of the keys proportional to its effective weight w. Adding or
// removing one of n backends moves only the keys it wins or won, about
// 1/n of them, and a key whose backend is unavailable goes to its
// next-highest score, the same backend for every request with that key,
// and comes back when its backend does. The caller hashes what the
// upstream's hash_key names (HashString of a header, cookie or query
// value, HashAddr of the client address). The zero value is ready to use.
//
// Pick scores every backend, O(n): rendezvous hashing has no structure to
// search, which is what makes it need no ring and move the fewest keys.
// Backends of equal effective weight compare raw hashes; a logarithm is
// taken only where weights differ. ConsistentHash finds a key's backend
// in O(log n).
type Hash struct {
	idx indexCache
}

var _ Policy = (*Hash)(nil)

// Pick returns the available backend with the highest score for key.
func (p *Hash) Pick(pool []*upstream.Backend, key uint64) *upstream.Backend {
	if len(pool) == 0 {
		return nil
	}
	ix := p.idx.exact(pool)
	if ix == nil {
		ix, _ = p.idx.resolve(pool, false)
	}
	return rendezvous(ix, pool, key)
}

// rendezvous returns the available backend of pool with the highest
// weighted score for key. ix supplies the address hashes of the members
// it shares positions with; any other backend's is computed.
func rendezvous(ix *poolIndex, pool []*upstream.Backend, key uint64) *upstream.Backend {
	km := mix64(key)
	var (
		best  *upstream.Backend
		bestH uint64
		bestW int64
		bestE = -1.0 // -ln(u) of best, computed when first needed
	)
	for i, b := range pool {
		if !b.Available() {
			continue
		}
		h := mix64(km ^ ix.addrHashOf(i, b))
		w := b.EffectiveWeight()
		switch {
		case best == nil:
		case w == bestW:
			// -w/ln(u) grows with u, and u with h.
			if h <= bestH {
				continue
			}
			bestE = -1
		case w < bestW && h <= bestH:
			// Lighter and a lower u: it cannot score higher.
			continue
		case w > bestW && h >= bestH:
			// Heavier and a higher u: it scores higher.
			bestE = -1
		default:
			if bestE < 0 {
				bestE = negLogUnit(bestH)
			}
			// -w/ln(u) > -bestW/ln(bestU) ⇔ e/w < bestE/bestW.
			e := negLogUnit(h)
			if e*float64(bestW) >= bestE*float64(w) {
				continue
			}
			best, bestH, bestW, bestE = b, h, w, e
			continue
		}
		best, bestH, bestW = b, h, w
	}
	return best
}

// addrHashOf returns HashString(b.Addr), from the index when pool[i] is
// the member it indexed there.
func (ix *poolIndex) addrHashOf(i int, b *upstream.Backend) uint64 {
	if i < len(ix.members) && ix.members[i] == b {
		return ix.addrHash[i]
	}
	return HashString(b.Addr)
}

// negLogUnit returns -ln(u) for u = (top 53 bits of h + 0.5) / 2^53, which
// lies strictly between 0 and 1. It splits u into 2^e × m with m in
// [1, 2) and sums the series ln m = 2·artanh((m-1)/(m+1)) to five terms:
// the error is below 2e-6, far finer than the shares it decides, at a
// third of math.Log's cost.
func negLogUnit(h uint64) float64 {
	u := (float64(h>>11) + 0.5) * (1.0 / (1 << 53))
	bits := math.Float64bits(u)
	e := float64(int(bits>>52&0x7ff) - 1023)
	m := math.Float64frombits(bits&(1<<52-1) | 1023<<52)
	t := (m - 1) / (m + 1)
	t2 := t * t
	lnm := 2 * t * (1 + t2*(1.0/3+t2*(1.0/5+t2*(1.0/7+t2*(1.0/9)))))
	return -(e*math.Ln2 + lnm)
}
