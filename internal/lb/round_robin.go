package lb

import (
	"sync"
	"sync/atomic"

	"palisade/internal/upstream"
)

// RoundRobin cycles through the available backends in order, ignoring key.
// When the backends' effective weights differ it is nginx's smooth
// weighted round robin: over any run of picks each backend gets its share
// of the weight sum, and the picks of a heavy backend are spread out
// rather than bunched (weights 5, 1, 1 give a a b a c a a). Slow start
// counts: a backend ramping up has a lower effective weight. The zero
// value is ready to use.
//
// Pick reads every backend of the pool, O(n): to give each available
// backend exactly its share whichever others are down, it must know which
// are available, and nothing maintains that count for it. With equal
// weights it takes no lock; with unequal ones a mutex guards the current
// weights.
type RoundRobin struct {
	next atomic.Uint64

	mu sync.Mutex // guards the fields below
	// members is the pool the current weights belong to, a private copy;
	// current[i] is the smooth round robin's current weight of
	// members[i]. A pool that is not members nor a retry's subset of it
	// replaces both, so backends that left the upstream leave no state
	// behind.
	members []*upstream.Backend
	current []int64
	// last is the caller's slice members was last aligned with, so the
	// same slice skips the alignment.
	last []*upstream.Backend
	// total and best are sumLocked's results.
	total int64
	best  int
}

var _ Policy = (*RoundRobin)(nil)

// Pick returns the next available backend.
func (p *RoundRobin) Pick(pool []*upstream.Backend, _ uint64) *upstream.Backend {
	avail := uint64(0)
	equal := true
	var w0 int64
	for _, b := range pool {
		if !b.Available() {
			continue
		}
		w := b.EffectiveWeight()
		if avail == 0 {
			w0 = w
		} else if w != w0 {
			equal = false
		}
		avail++
	}
	if avail == 0 {
		return nil
	}
	if !equal {
		return p.pickWeighted(pool)
	}
	// Availability may change between the two passes: fall back to the
	// first available backend rather than return nil.
	k := (p.next.Add(1) - 1) % avail
	var first *upstream.Backend
	for _, b := range pool {
		if !b.Available() {
			continue
		}
		if k == 0 {
			return b
		}
		k--
		if first == nil {
			first = b
		}
	}
	return first
}

// pickWeighted is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer): every available backend's current weight
// grows by its effective weight, the largest is picked and drops by the
// total.
func (p *RoundRobin) pickWeighted(pool []*upstream.Backend) *upstream.Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !sameSlice(pool, p.last) || !p.sumLocked(pool, false) {
		p.alignLocked(pool)
		p.last = pool
		p.sumLocked(pool, true)
	}
	best := p.best
	if best < 0 {
		return nil
	}
	p.current[best] -= p.total
	return p.members[best]
}

// sumLocked adds each available backend's effective weight to its current
// weight, and finds the largest (best, -1 if none) and their total. When
// subset is false pool must be aligned with members; sumLocked reports
// false, having changed nothing, when it is not (the caller changed the
// slice in place).
func (p *RoundRobin) sumLocked(pool []*upstream.Backend, subset bool) bool {
	if !subset {
		if len(pool) != len(p.members) {
			return false
		}
		for i, b := range pool {
			if p.members[i] != b {
				return false
			}
		}
	}
	p.total, p.best = 0, -1
	j := 0
	for _, b := range pool {
		// In a retry's subset, members[j] catches up with b (alignLocked
		// made pool a subsequence of members).
		for p.members[j] != b {
			j++
		}
		i := j
		j++
		if !b.Available() {
			continue
		}
		w := b.EffectiveWeight()
		p.total += w
		p.current[i] += w
		if p.best < 0 || p.current[i] > p.current[p.best] {
			p.best = i
		}
	}
	return true
}

// alignLocked makes members the pool's generation: kept when pool is
// members or a retry's subset of it (members in order, some left out, one
// of those still live), replaced otherwise with zero current weights, as
// nginx starts them after a reload. So members never holds more than one
// generation, and backends removed from the upstream (draining) are
// dropped with their state.
func (p *RoundRobin) alignLocked(pool []*upstream.Backend) {
	j, sub, missingLive := 0, true, false
	for _, b := range pool {
		for j < len(p.members) && p.members[j] != b {
			missingLive = missingLive || !p.members[j].Draining()
			j++
		}
		if j == len(p.members) {
			sub = false
			break
		}
		j++
	}
	for ; sub && j < len(p.members); j++ {
		missingLive = missingLive || !p.members[j].Draining()
	}
	if sub && (len(pool) == len(p.members) || missingLive) {
		return
	}
	p.members = append(p.members[:0], pool...)
	if cap(p.current) < len(pool) {
		p.current = make([]int64, len(pool))
	}
	p.current = p.current[:len(pool)]
	clear(p.current)
}
