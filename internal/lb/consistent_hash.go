package lb

import (
	"math"
	"math/bits"
	"slices"

	"palisade/internal/upstream"
)

// DefaultBalanceFactor is ConsistentHash's bound when none is configured,
// HAProxy's hash-balance-factor 125.
const DefaultBalanceFactor = 1.25

// ConsistentHash maps each key to a backend on a hash ring with bounded
// loads ("Consistent Hashing with Bounded Loads", Mirrokni, Thorup and
// Zadimoghaddam; HAProxy's hash-balance-factor). Each backend owns points
// on the ring in proportion to its configured weight, 160 per average
// weight as ketama places them, at hashes of its address alone, so adding
// or removing one of n backends moves about 1/n of the keys. A key goes to
// the owner of the first point at or after its hash, walking on past
// owners that are unavailable or over their bound: a backend with c
// requests in flight takes one more only while
//
//	c < ⌈BalanceFactor × (T+1) × w / W⌉
//
// where T is the requests in flight over the available backends of the
// pool, w the backend's effective weight and W the sum of theirs. So no
// backend carries more than BalanceFactor times its share, a hot key
// spills over to its next backends instead of overloading one, and the
// keys of a backend come back to it as its load drops. A backend that
// slow start holds back keeps each of its keys with probability
// effective/full weight, decided by the key's hash, so its keys return in
// a stable order as it ramps up. The caller hashes what hash_key names.
//
// Pick is O(log n) when the key's backend is idle, with no allocation:
// the ring is built once per generation of the pool's members and cached
// behind an atomic pointer, found again by the pool slice's identity. When
// the backend is busy, the bound needs T and W, which nothing maintains,
// so Pick sums them over the pool, O(n). After 64 ring points without an
// eligible backend it scores the remaining ones by rendezvous hashing
// instead of walking further.
type ConsistentHash struct {
	// BalanceFactor bounds each backend's load relative to its share; it
	// must be above 1, and 0 means DefaultBalanceFactor.
	BalanceFactor float64

	idx indexCache
}

var _ Policy = (*ConsistentHash)(nil)

const (
	// ringPointsPerWeight is how many ring points a backend of average
	// weight owns (ketama's 160): the spread of the keys' shares falls as
	// one over its square root.
	ringPointsPerWeight = 160
	// ringWalk bounds the points a Pick visits before it scores the
	// eligible backends instead.
	ringWalk = 64
)

// ring is the sorted points of a pool's members and the member owning
// each.
type ring struct {
	points []uint32
	owner  []uint32 // index into the poolIndex's members
	// bucket[k] is the index of the first point whose top bits are k or
	// more (bucket[len-1] is len(points)), so a search narrows to about
	// two points before it bisects.
	bucket []uint32
	shift  uint
}

func buildRing(ix *poolIndex) *ring {
	n := len(ix.members)
	var sum float64
	for i := range n {
		sum += float64(ix.weight(i))
	}
	type point struct{ hash, owner uint32 }
	var pts []point
	for i := range n {
		count := max(1, int(math.Round(ringPointsPerWeight*float64(n)*float64(ix.weight(i))/sum)))
		for r := range count {
			h := mix64(ix.addrHash[i] ^ mix64(uint64(r)+1))
			pts = append(pts, point{uint32(h >> 32), uint32(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		if a.hash != b.hash {
			return int(int64(a.hash) - int64(b.hash))
		}
		return int(int64(a.owner) - int64(b.owner))
	})
	rg := &ring{points: make([]uint32, len(pts)), owner: make([]uint32, len(pts))}
	for i, p := range pts {
		rg.points[i], rg.owner[i] = p.hash, p.owner
	}
	nb := bits.Len(uint(len(pts) / 2))
	rg.shift = uint(32 - nb)
	rg.bucket = make([]uint32, 1<<nb+1)
	j := 0
	for k := range 1 << nb {
		for j < len(pts) && pts[j].hash>>rg.shift < uint32(k) {
			j++
		}
		rg.bucket[k] = uint32(j)
	}
	rg.bucket[1<<nb] = uint32(len(pts))
	return rg
}

// search returns the index of the first point at or after h, wrapping to
// 0 past the last.
func (rg *ring) search(h uint32) int {
	k := h >> rg.shift
	lo, hi := int(rg.bucket[k]), int(rg.bucket[k+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rg.points[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(rg.points) {
		return 0
	}
	return lo
}

// Pick returns the backend of key's ring position, or the next one under
// its bound.
func (p *ConsistentHash) Pick(pool []*upstream.Backend, key uint64) *upstream.Backend {
	if len(pool) == 0 {
		return nil
	}
	ix, subset := p.idx.exact(pool), false
	if ix == nil {
		ix, subset = p.idx.resolve(pool, true)
	}
	b, ok := p.pick(ix, subset, pool, key)
	if !ok {
		// The caller changed the slice in place; index it anew.
		ix, subset = p.idx.resolve(pool, true)
		b, _ = p.pick(ix, subset, pool, key)
	}
	return b
}

// loads is the pool's load, summed when a bound first needs it.
type loads struct {
	summed         bool
	factor         uint64 // BalanceFactor in 1/1024ths
	inflight, wsum uint64
}

func (p *ConsistentHash) pick(ix *poolIndex, subset bool, pool []*upstream.Backend, key uint64) (*upstream.Backend, bool) {
	km := mix64(key)
	rg := ix.ring
	f := p.BalanceFactor
	if f == 0 {
		f = DefaultBalanceFactor
	}
	ld := loads{factor: uint64(math.Round(f * 1024))}
	start := rg.search(uint32(km >> 32))
	last := uint32(math.MaxUint32)
	for step := range min(len(rg.points), ringWalk) {
		pos := start + step
		if pos >= len(rg.points) {
			pos -= len(rg.points)
		}
		o := rg.owner[pos]
		if o == last {
			continue
		}
		last = o
		b := ix.members[o]
		if subset {
			if !slices.Contains(pool, b) {
				continue
			}
		} else if pool[o] != b {
			return nil, false
		}
		if !b.Available() {
			continue
		}
		eff, full := b.EffectiveWeight(), fullWeight(b)
		if eff < full && below(mix64(km^ix.addrHash[o]), uint64(full)) >= uint64(eff) {
			continue
		}
		if ld.eligible(pool, b, eff) {
			return b, true
		}
	}
	// Score the eligible backends by rendezvous hashing, ignoring slow
	// start so that one is found whenever any is available: the bounds
	// of the available backends sum to more than T.
	var best *upstream.Backend
	var bestH uint64
	for i, b := range pool {
		if !b.Available() || !ld.eligible(pool, b, b.EffectiveWeight()) {
			continue
		}
		if h := mix64(km ^ ix.addrHashOf(i, b)); best == nil || h > bestH {
			best, bestH = b, h
		}
	}
	return best, true
}

// eligible reports whether b, of effective weight eff, is under its bound.
// An idle backend always is (its bound is at least 1), without summing
// the pool.
func (ld *loads) eligible(pool []*upstream.Backend, b *upstream.Backend, eff int64) bool {
	in := b.InFlight()
	if in <= 0 {
		return true
	}
	if !ld.summed {
		ld.summed = true
		for _, m := range pool {
			if m.Available() {
				ld.inflight += uint64(max(m.InFlight(), 0))
				ld.wsum += uint64(m.EffectiveWeight())
			}
		}
		ld.wsum = max(ld.wsum, 1)
	}
	// bound = ⌈factor × (T+1) × eff / (1024 × W)⌉ in 128-bit arithmetic.
	hi, lo := bits.Mul64(ld.factor*(ld.inflight+1), uint64(eff))
	den := 1024 * ld.wsum
	if hi >= den {
		return true
	}
	q, r := bits.Div64(hi, lo, den)
	if r != 0 {
		q++
	}
	return uint64(in) < q
}
