package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// memoryShards is the number of independently locked parts of a Memory
// store: enough that cores rarely contend for one, few enough that a
// bounded store's per-shard bound stays meaningful.
const memoryShards = 64

// Memory is a Store in this process: 64 shards, each a mutex and a map
// from a key's 64-bit hash to its TAT, bounded in the number of keys.
//
// Keys are held by hash, not by value, so an entry is 16 bytes of map
// payload whatever the key's length and a Take allocates nothing. Two
// keys that collide would share a limit; with a random seed per store and
// a million live keys the odds that any two do are about 3·10⁻⁸.
//
// An entry whose TAT has passed is idle: the key is back to a full burst,
// so dropping it loses nothing. A shard at its bound first drops its idle
// entries and, if it is still more than 7/8 full, arbitrary ones (which
// grants those keys a fresh burst), so that the work is amortised over
// many inserts.
type Memory struct {
	seed   maphash.Seed
	start  time.Time // the store's clock is nanoseconds since start (monotonic)
	max    int       // entries per shard
	shards [memoryShards]memoryShard
}

type memoryShard struct {
	mu  sync.Mutex
	tat map[uint64]int64
	_   [48]byte // pad to 64 bytes: shards on separate cache lines
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store holding at most about maxKeys keys (at least
// one per shard).
func NewMemory(maxKeys int) *Memory {
	m := &Memory{seed: maphash.MakeSeed(), start: time.Now(), max: max(1, maxKeys/memoryShards)}
	for i := range m.shards {
		m.shards[i].tat = make(map[uint64]int64)
	}
	return m
}

// Take charges n against key. It never fails and, for a key already in
// the store, allocates nothing.
func (m *Memory) Take(_ context.Context, key string, l Limit, n int) (Result, error) {
	h := maphash.String(m.seed, key)
	now := int64(time.Since(m.start))
	s := &m.shards[h%memoryShards]
	s.mu.Lock()
	tat, ok := s.tat[h]
	res, newTAT := decide(tat, now, l, int64(n))
	if res.Allowed {
		if !ok && len(s.tat) >= m.max {
			s.evictLocked(now, m.max)
		}
		s.tat[h] = newTAT
	}
	s.mu.Unlock()
	return res, nil
}

// evictLocked makes room in a full shard: idle entries first, then
// arbitrary ones down to 7/8 of the bound.
func (s *memoryShard) evictLocked(now int64, bound int) {
	for h, tat := range s.tat {
		if tat <= now {
			delete(s.tat, h)
		}
	}
	target := bound - max(1, bound/8)
	for h := range s.tat {
		if len(s.tat) <= target {
			break
		}
		delete(s.tat, h)
	}
}

// Len returns the number of keys held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
