// Package memstore is the memory cache.Store: entries by key in a
// byte-bounded otter cache (W-TinyLFU admission and eviction, weighted by
// each entry's Size), each dropped at its Expires, with an index of tags
// for purge by tag. It makes no RFC 9111 decision; package cache does.
package memstore

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"palisade/internal/cache"
)

// Store keeps entries in memory, bounded by the sum of their sizes. It is
// safe for concurrent use. Get returns the stored *cache.Entry itself, not
// a copy: entries are immutable once handed to Set.
type Store struct {
	c *otter.Cache[string, *cache.Entry]

	// mu guards tags. It is taken only inside otter's bucket locks (the
	// Compute function of Set and OnAtomicDeletion) or with no otter lock
	// held, never the other way round, so the two cannot deadlock.
	mu sync.Mutex
	// tags maps a tag to the keys whose entry carries it, each with the
	// entry that put it there: a deletion removes the key only while the
	// entry deleted is the one indexed, so replacing an entry with another
	// of the same tag keeps it indexed.
	tags   map[string]map[string]*cache.Entry
	closed bool
}

var _ cache.Store = (*Store)(nil)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("memstore: closed")

// New returns a store holding at most maxBytes of entries (the sum of
// cache.Entry.Size plus their keys' lengths). An entry larger than that is
// refused.
func New(maxBytes int64) *Store {
	s := &Store{tags: make(map[string]map[string]*cache.Entry)}
	s.c = otter.Must(&otter.Options[string, *cache.Entry]{
		MaximumWeight: uint64(max(maxBytes, 1)),
		Weigher:       weight,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *cache.Entry]) time.Duration {
			return ttl(e.Value)
		}),
		OnAtomicDeletion: s.unindex,
	})
	return s
}

// weight is what an entry counts against the bound.
func weight(key string, e *cache.Entry) uint32 {
	return uint32(min(int64(len(key))+e.Size(), math.MaxUint32))
}

// ttl is how long e may stay; an entry without Expires stays until evicted.
func ttl(e *cache.Entry) time.Duration {
	if e.Expires.IsZero() {
		return math.MaxInt64
	}
	return max(time.Until(e.Expires), 1)
}

// Get returns the entry stored under key, or cache.ErrMiss. It does not
// allocate.
func (s *Store) Get(_ context.Context, key string) (*cache.Entry, error) {
	e, ok := s.c.GetIfPresent(key)
	if !ok {
		return nil, cache.ErrMiss
	}
	return e, nil
}

// Set stores e under key until e.Expires. An entry already expired, or
// larger than the whole store, is refused without error.
func (s *Store) Set(_ context.Context, key string, e *cache.Entry) error {
	if !e.Expires.IsZero() && !time.Now().Before(e.Expires) {
		return nil
	}
	if uint64(weight(key, e)) > s.c.GetMaximum() {
		return nil
	}
	var err error
	s.c.Compute(key, func(*cache.Entry, bool) (*cache.Entry, otter.ComputeOp) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			err = ErrClosed
			return nil, otter.CancelOp
		}
		for _, t := range e.Tags {
			keys := s.tags[t]
			if keys == nil {
				keys = make(map[string]*cache.Entry)
				s.tags[t] = keys
			}
			keys[key] = e
		}
		return e, otter.WriteOp
	})
	return err
}

// unindex removes a deleted (evicted, expired, replaced or invalidated)
// entry's key from the tag index. It runs under otter's bucket lock.
func (s *Store) unindex(ev otter.DeletionEvent[string, *cache.Entry]) {
	if len(ev.Value.Tags) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range ev.Value.Tags {
		keys := s.tags[t]
		if keys[ev.Key] != ev.Value {
			continue
		}
		delete(keys, ev.Key)
		if len(keys) == 0 {
			delete(s.tags, t)
		}
	}
}

// Delete removes the entry under key, if any.
func (s *Store) Delete(_ context.Context, key string) error {
	s.c.Invalidate(key)
	return nil
}

// Purge removes the entries sel picks. By tag it costs the number of keys
// carrying the tag (the index); by prefix it walks every key in the store,
// O(entries), which is fine for an operator's purge and not meant for the
// request path.
func (s *Store) Purge(ctx context.Context, sel cache.Selector) (int, error) {
	if sel.Tag != "" {
		s.mu.Lock()
		keys := make([]string, 0, len(s.tags[sel.Tag]))
		for k := range s.tags[sel.Tag] {
			if strings.HasPrefix(k, sel.Prefix) {
				keys = append(keys, k)
			}
		}
		s.mu.Unlock()
		n := 0
		for _, k := range keys {
			if _, ok := s.c.Invalidate(k); ok {
				n++
			}
		}
		return n, nil
	}
	n := 0
	for k := range s.c.Keys() {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if strings.HasPrefix(k, sel.Prefix) {
			if _, ok := s.c.Invalidate(k); ok {
				n++
			}
		}
	}
	return n, nil
}

// Len returns the number of entries stored, for tests and status pages.
func (s *Store) Len() int { return s.c.EstimatedSize() }

// WeightedSize returns the bytes the entries stored count against the
// bound.
func (s *Store) WeightedSize() int64 { return int64(s.c.WeightedSize()) }

// Close drops every entry and stops the store's maintenance goroutines;
// later calls to Set fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.c.InvalidateAll()
	s.c.StopAllGoroutines()
	return nil
}
