package cache

import (
	"hash/maphash"
	"sync"
	"time"
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
	mu    sync.Mutex // guards fills and unstorable
	fills map[string]*fill
	// unstorable maps the hash of a key whose last fill found its
	// response unstorable to when that stops being assumed (Unix
	// nanoseconds); at most maxUnstorablePerShard of them.
	unstorable map[uint64]int64
}

// unstorableTTL is how long a fill's finding that its response cannot be
// stored is assumed to hold for the next requests of its key; short,
// since it only decides whether a Range miss asks the upstream for the
// range or for the whole object.
const unstorableTTL = time.Minute

// maxUnstorablePerShard bounds the unstorable hints a shard keeps: 4,096
// for a zone, 16 bytes each. A hint beyond it replaces an expired one,
// else an arbitrary one: a lost hint costs one whole fetch, never a wrong
// response.
const maxUnstorablePerShard = 64

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

// markUnstorable remembers for unstorableTTL from now that a fill of key
// found its response unstorable (too large, no-store, private, ...). Keys
// are remembered by hash: a collision only makes a Range miss ask the
// upstream for the range.
func (t *fillTable) markUnstorable(key string, now time.Time) {
	h := maphash.String(t.seed, key)
	s := &t.shards[h%fillShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unstorable == nil {
		s.unstorable = make(map[uint64]int64)
	}
	if _, ok := s.unstorable[h]; !ok && len(s.unstorable) >= maxUnstorablePerShard {
		victim, ok := uint64(0), false
		for k, until := range s.unstorable {
			victim, ok = k, true
			if until <= now.UnixNano() {
				break
			}
		}
		if ok {
			delete(s.unstorable, victim)
		}
	}
	s.unstorable[h] = now.Add(unstorableTTL).UnixNano()
}

// unstorable reports whether a fill of key found its response unstorable
// within unstorableTTL before now.
func (t *fillTable) unstorable(key string, now time.Time) bool {
	h := maphash.String(t.seed, key)
	s := &t.shards[h%fillShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.unstorable[h]
	if ok && until <= now.UnixNano() {
		delete(s.unstorable, h)
		return false
	}
	return ok
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
