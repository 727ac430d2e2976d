package lifecycle

import (
	"errors"
	"sync"
)

// Txn is one reload's use of long-lived state. Take values in it from any
// number of Sets, then call exactly one of Commit or Abort. A Txn is used
// by one goroutine; Sets serialise Txns against each other.
type Txn struct {
	parts []part
	done  bool
}

// part is one Set's share of a Txn.
type part interface {
	commit()
	abort()
}

// Commit makes every value taken in t the live value of its key and
// releases, in each Set, the live values t did not take.
func (t *Txn) Commit() {
	if t.done {
		panic("lifecycle: Txn ended twice")
	}
	t.done = true
	for _, p := range t.parts {
		p.commit()
	}
}

// Abort releases the values t created and leaves every Set as it was.
func (t *Txn) Abort() {
	if t.done {
		return
	}
	t.done = true
	for _, p := range t.parts {
		p.abort()
	}
}

// Set holds the live values of one kind of state by key. Release runs for
// each value that leaves the Set (after a Commit that no longer takes it,
// after an Abort for what the aborted Txn created, and in Close); it may
// defer the actual close, for example until requests in flight ended.
type Set[K comparable, V any] struct {
	release func(K, V)

	mu   sync.Mutex // guards the fields below
	live map[K]V
	// pending is the open Txn's part, nil when none.
	pending *setPart[K, V]
}

// NewSet returns an empty Set whose values are released with release.
func NewSet[K comparable, V any](release func(K, V)) *Set[K, V] {
	return &Set[K, V]{release: release, live: make(map[K]V)}
}

// ErrBusy is returned by Take when another Txn has the Set.
var ErrBusy = errors.New("lifecycle: set taken by another transaction")

// Take returns the value for k in t: the one t already took, the live one,
// or a new one from create, which becomes live only when t commits. A
// create error is returned as it is and records nothing.
func (s *Set[K, V]) Take(t *Txn, k K, create func() (V, error)) (V, error) {
	p, err := s.part(t)
	if err != nil {
		var zero V
		return zero, err
	}
	if v, ok := p.taken[k]; ok {
		return v, nil
	}
	s.mu.Lock()
	v, ok := s.live[k]
	s.mu.Unlock()
	if !ok {
		if v, err = create(); err != nil {
			return v, err
		}
		p.created[k] = v
	}
	p.taken[k] = v
	return v, nil
}

// Live returns the live value of k, if any.
func (s *Set[K, V]) Live(k K) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.live[k]
	return v, ok
}

// Each calls f for every live value; f must not call back into s.
func (s *Set[K, V]) Each(f func(K, V)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.live {
		f(k, v)
	}
}

// Len returns the number of live values.
func (s *Set[K, V]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Close releases every live value; the Set is empty afterwards.
func (s *Set[K, V]) Close() {
	s.mu.Lock()
	live := s.live
	s.live = make(map[K]V)
	s.mu.Unlock()
	for k, v := range live {
		s.release(k, v)
	}
}

func (s *Set[K, V]) part(t *Txn) (*setPart[K, V], error) {
	if t.done {
		panic("lifecycle: Take after the Txn ended")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil {
		if s.pending.t == t {
			return s.pending, nil
		}
		return nil, ErrBusy
	}
	p := &setPart[K, V]{s: s, t: t, taken: make(map[K]V), created: make(map[K]V)}
	s.pending = p
	t.parts = append(t.parts, p)
	return p, nil
}

// setPart is a Set's share of one Txn.
type setPart[K comparable, V any] struct {
	s       *Set[K, V]
	t       *Txn
	taken   map[K]V
	created map[K]V
}

func (p *setPart[K, V]) commit() {
	s := p.s
	s.mu.Lock()
	old := s.live
	s.live = p.taken
	s.pending = nil
	s.mu.Unlock()
	for k, v := range old {
		if _, kept := p.taken[k]; !kept {
			s.release(k, v)
		}
	}
}

func (p *setPart[K, V]) abort() {
	s := p.s
	s.mu.Lock()
	s.pending = nil
	s.mu.Unlock()
	for k, v := range p.created {
		s.release(k, v)
	}
}

// Join makes s part of t even if t takes nothing from it, so that t's
// Commit releases every live value of s. Call it for every Set at the start
// of a reload.
func (s *Set[K, V]) Join(t *Txn) error {
	_, err := s.part(t)
	return err
}
