package lb

import (
	"fmt"

	"palisade/internal/config"
	"sync"
	"sync/atomic"

	"palisade/internal/upstream"
)

// Policy chooses a backend for one request. Pick returns nil when no backend
// in pool is available. pool is only read; a retry passes the pool minus the
// backends already tried. Pick may be called concurrently.
type Policy interface {
	Pick(pool []*upstream.Backend, key uint64) *upstream.Backend
}

// New returns the policy named in config.
func New(cfg config.Upstream) (Policy, error) {
	name := cfg.Policy
	switch name {
	case "", "round_robin":
		return &RoundRobin{}, nil
	}
	return nil, fmt.Errorf("unknown balancing policy %q", name)
}

// RoundRobin cycles through the available backends in order, ignoring key.
// When the backends' weights differ it is nginx's smooth weighted round
// robin: over any run of picks each backend gets its share of the weight
// sum, and the picks of a heavy backend are spread out rather than
// bunched (weights 5, 1, 1 give a a b a c a a).
type RoundRobin struct {
	next atomic.Uint64

	mu      sync.Mutex // guards current
	current map[*upstream.Backend]int
}

var _ Policy = (*RoundRobin)(nil)

// Pick returns the next available backend. With equal weights it is one
// atomic add; with unequal weights it takes a mutex.
func (p *RoundRobin) Pick(pool []*upstream.Backend, _ uint64) *upstream.Backend {
	n := uint64(len(pool))
	if n == 0 {
		return nil
	}
	for _, b := range pool[1:] {
		if b.Weight() != pool[0].Weight() {
			return p.pickWeighted(pool)
		}
	}
	avail := uint64(0)
	for _, b := range pool {
		if b.Available() {
			avail++
		}
	}
	if avail == 0 {
		return nil
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
// grows by its weight, the largest is picked and drops by the total.
func (p *RoundRobin) pickWeighted(pool []*upstream.Backend) *upstream.Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == nil {
		p.current = make(map[*upstream.Backend]int, len(pool))
	}
	total := 0
	var best *upstream.Backend
	for _, b := range pool {
		if !b.Available() {
			continue
		}
		w := b.Weight()
		total += w
		p.current[b] += w
		if best == nil || p.current[b] > p.current[best] {
			best = b
		}
	}
	if best != nil {
		p.current[best] -= total
	}
	return best
}
