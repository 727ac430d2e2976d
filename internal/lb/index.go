package lb

import (
	"sync"
	"sync/atomic"

	"palisade/internal/upstream"
)

// poolIndex is what a policy precomputes about one pool: the backends'
// address hashes, their configured weights as a cumulative table for
// weighted sampling and, for consistent_hash, the ring. It is built once
// per generation of an upstream's members, published through an atomic
// pointer and never modified after, so any number of Picks read it without
// locks.
type poolIndex struct {
	// pool is the caller's slice. Holding it keeps its array alive, so
	// while the index is cached no other slice can start at its address.
	pool []*upstream.Backend
	// members is a private copy of pool: a Pick that finds pool[i] !=
	// members[i] knows the caller changed the slice in place.
	members  []*upstream.Backend
	addrHash []uint64 // HashString(members[i].Addr)
	// cum holds the cumulative configured weights of members; nil when
	// they are all equal to uniform, the common case sampled without a
	// search.
	cum     []uint64
	uniform int
	ring    *ring // nil unless the cache was asked for one
}

func newPoolIndex(pool []*upstream.Backend, withRing bool) *poolIndex {
	ix := &poolIndex{
		pool:     pool,
		members:  append([]*upstream.Backend(nil), pool...),
		addrHash: make([]uint64, len(pool)),
	}
	equal := true
	for i, b := range pool {
		ix.addrHash[i] = HashString(b.Addr)
		if b.Weight() != pool[0].Weight() {
			equal = false
		}
	}
	if len(pool) > 0 && equal {
		ix.uniform = pool[0].Weight()
	} else if len(pool) > 0 {
		ix.cum = make([]uint64, len(pool))
		var sum uint64
		for i, b := range pool {
			sum += uint64(b.Weight())
			ix.cum[i] = sum
		}
	}
	if withRing {
		ix.ring = buildRing(ix)
	}
	return ix
}

// weight returns the configured weight members[i] had when ix was built.
func (ix *poolIndex) weight(i int) int {
	if ix.cum == nil {
		return ix.uniform
	}
	if i == 0 {
		return int(ix.cum[0])
	}
	return int(ix.cum[i] - ix.cum[i-1])
}

// sample returns the position of a member drawn with probability
// proportional to its configured weight, from the random r.
func (ix *poolIndex) sample(r uint64) int {
	if ix.cum == nil {
		return int(below(r, uint64(len(ix.members))))
	}
	t := below(r, ix.cum[len(ix.cum)-1])
	lo, hi := 0, len(ix.cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ix.cum[m] > t {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// matches reports whether pool holds exactly ix's members with the
// weights ix was built with.
func (ix *poolIndex) matches(pool []*upstream.Backend) bool {
	if len(pool) != len(ix.members) {
		return false
	}
	for i, b := range pool {
		if b != ix.members[i] || b.Weight() != ix.weight(i) {
			return false
		}
	}
	return true
}

// retrySubset reports whether pool looks like a retry's pool: ix's members
// in order with some left out, at least one of those still live. A pool
// whose missing members all drain is a new generation (a reload or a name
// resolution removed them) and deserves an index of its own.
func (ix *poolIndex) retrySubset(pool []*upstream.Backend) bool {
	if len(pool) >= len(ix.members) {
		return false
	}
	j, live := 0, false
	for _, b := range pool {
		for j < len(ix.members) && ix.members[j] != b {
			live = live || !ix.members[j].Draining()
			j++
		}
		if j == len(ix.members) {
			return false
		}
		j++
	}
	for ; j < len(ix.members); j++ {
		live = live || !ix.members[j].Draining()
	}
	return live
}

// indexCache holds the index of the pool a policy saw last. Only one is
// kept, so the memory it holds is bounded by the live pool and the
// backends it references are released at the next generation.
type indexCache struct {
	cur atomic.Pointer[poolIndex]
	mu  sync.Mutex // serialises rebuilds, so a new generation is indexed once
}

// exact returns the index built from the slice pool itself, or nil. It
// costs one atomic load and two compares; the caller still checks that
// the members it uses are unchanged (pool[i] == members[i]).
func (c *indexCache) exact(pool []*upstream.Backend) *poolIndex {
	ix := c.cur.Load()
	if ix != nil && len(pool) > 0 && len(ix.pool) == len(pool) && &ix.pool[0] == &pool[0] {
		return ix
	}
	return nil
}

// resolve is the slow path of a Pick whose pool is not the cached slice
// or was changed in place: it returns the cached index with subset set
// when pool is a retry's subset of it, else an index built for pool. It
// allocates only when it builds, once per generation of members.
func (c *indexCache) resolve(pool []*upstream.Backend, withRing bool) (ix *poolIndex, subset bool) {
	ix = c.cur.Load()
	if ix != nil {
		if sameSlice(ix.pool, pool) && ix.matches(pool) {
			return ix, false
		}
		if ix.retrySubset(pool) {
			return ix, true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ix := c.cur.Load(); ix != nil && sameSlice(ix.pool, pool) && ix.matches(pool) {
		return ix, false
	}
	ix = newPoolIndex(pool, withRing)
	c.cur.Store(ix)
	return ix, false
}

func sameSlice(a, b []*upstream.Backend) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
