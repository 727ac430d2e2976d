package lb

import (
	"fmt"
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
func New(name string) (Policy, error) {
	switch name {
	case "", "round_robin":
		return &RoundRobin{}, nil
	}
	return nil, fmt.Errorf("unknown balancing policy %q", name)
}

// RoundRobin cycles through the available backends in order, ignoring key.
type RoundRobin struct {
	next atomic.Uint64
}

var _ Policy = (*RoundRobin)(nil)

// Pick returns the next available backend after the last one picked.
func (p *RoundRobin) Pick(pool []*upstream.Backend, _ uint64) *upstream.Backend {
	n := uint64(len(pool))
	if n == 0 {
		return nil
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
