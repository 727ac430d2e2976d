package cache

import (
	"hash/maphash"
	"sync"
)

// fillTable tracks the fills in progress, one per cache key: a fill is an
// upstream request whose response may be stored. Concurrent misses for a
// key wait on its fill instead of each going to the upstream (request
// coalescing). The table is sharded, a mutex per shard, so misses for
// different keys rarely contend.
type fillTable struct {
	seed   maphash.Seed // set by NewZone
	shards [fillShards]fillShard
}

const fillShards = 64

type fillShard struct {
	mu    sync.Mutex // guards fills
	fills map[string]*fill
}

// fill is one upstream request in progress for a key. done is closed when
// the waiters may look again: as soon as the response head shows it will
// not be stored (the waiters go to the upstream themselves, in parallel),
// or once it has been stored, or when the request failed.
type fill struct {
	done chan struct{}
}

func (t *fillTable) shard(key string) *fillShard {
	return &t.shards[maphash.String(t.seed, key)%fillShards]
}

// start returns a new fill for key and true when none is in progress, the
// caller then being its leader and bound to call finish; otherwise the
// fill in progress and false.
func (t *fillTable) start(key string) (*fill, bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fills[key]; f != nil {
		return f, false
	}
	if s.fills == nil {
		s.fills = make(map[string]*fill)
	}
	f := &fill{done: make(chan struct{})}
	s.fills[key] = f
	return f, true
}

// busy reports whether a fill for key is in progress.
func (t *fillTable) busy(key string) bool {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fills[key] != nil
}

// finish removes f from the table and wakes its waiters. It may be called
// more than once; only the first call counts.
func (t *fillTable) finish(key string, f *fill) {
	s := t.shard(key)
	s.mu.Lock()
	if s.fills[key] != f {
		s.mu.Unlock()
		return
	}
	delete(s.fills, key)
	s.mu.Unlock()
	close(f.done)
}
