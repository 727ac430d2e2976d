package cache

import (
	"context"
	"errors"
	"hash/maphash"
	"net/http"
	"sync/atomic"
	"time"
)

// Entry is one stored response: everything a hit needs to answer without
// the upstream, and what RFC 9111 needs to judge it (§4.2.3's request and
// response times). An Entry handed to Set or returned by Get is immutable:
// neither the store nor its callers modify it afterwards, so a memory store
// may return the same Entry to many readers at once.
type Entry struct {
	Status int
	Header http.Header
	Body   []byte
	// RequestTime and ResponseTime are when the request that produced
	// the response was sent and its response head received.
	RequestTime, ResponseTime time.Time
	// Vary lists the request field names of the response's Vary, in
	// canonical form, for a primary entry that only records them (Body
	// and Header empty); nil for a response entry.
	Vary []string
	// Tags tag the entry for purge by tag.
	Tags []string
	// Expires is when the store may drop the entry: the end of its
	// freshness plus the stale windows it may be served in.
	Expires time.Time
	// Freshness is what judging the response needs, worked out from its
	// header when it was stored, so that a hit parses nothing; zero for
	// a primary entry and for an entry stored without it (which is then
	// judged from its header).
	Freshness Freshness
}

// Freshness is the part of RFC 9111's judgement of a stored response that
// depends only on the response and the route's storing settings: computed
// once at store time (and on a 304's update), and read on every hit. A
// store keeps it as it keeps the other fields.
type Freshness struct {
	// Policy identifies the route settings the values were computed
	// under (targeted field, CDN-Cache-Control, heuristic fraction and
	// cap, default TTL). A route with other settings, or an entry with
	// Policy 0 (not computed), judges the entry from its header instead.
	Policy uint64
	// Lifetime is the freshness lifetime (RFC 9111 §4.2.1, §4.2.2, or
	// the route's default TTL).
	Lifetime time.Duration
	// InitialAge is corrected_initial_age (RFC 9111 §4.2.3): the age at
	// ResponseTime, from Date, Age and the request and response times.
	// The current age is InitialAge plus the time since ResponseTime.
	InitialAge time.Duration
	// StaleWhileRevalidate and StaleIfError are the response's own
	// windows (RFC 5861) in seconds, -1 when it gives none; the route's
	// bounds apply when it is judged.
	StaleWhileRevalidate, StaleIfError int64
	// Flags are the response directives that govern serving it.
	Flags FreshnessFlags
}

// FreshnessFlags are response directives that decide whether a stored
// response may be served (RFC 9111 §5.2.2).
type FreshnessFlags uint8

const (
	// FreshNoCache: no-cache, never served without revalidation
	// (§5.2.2.4).
	FreshNoCache FreshnessFlags = 1 << iota
	// FreshMustRevalidate: must-revalidate (§5.2.2.2).
	FreshMustRevalidate
	// FreshProxyRevalidate: proxy-revalidate (§5.2.2.8).
	FreshProxyRevalidate
	// FreshSMaxAge: s-maxage was given, which for a shared cache implies
	// proxy-revalidate (§5.2.2.10).
	FreshSMaxAge
	// FreshImmutable: immutable (RFC 8246).
	FreshImmutable

	// FreshnessFlagsMask holds every defined flag.
	FreshnessFlagsMask = FreshNoCache | FreshMustRevalidate | FreshProxyRevalidate | FreshSMaxAge | FreshImmutable
)

// noStale reports whether the flags forbid serving the response stale
// (RFC 9111 §4.2.4).
func (f FreshnessFlags) noStale() bool {
	return f&(FreshMustRevalidate|FreshProxyRevalidate|FreshSMaxAge) != 0
}

// Size is what the entry counts against a store's byte bound: its body,
// its header fields and a fixed overhead.
func (e *Entry) Size() int64 {
	n := int64(len(e.Body)) + entryOverhead
	for k, vv := range e.Header {
		n += int64(len(k))
		for _, v := range vv {
			n += int64(len(v)) + 4
		}
	}
	for _, s := range e.Vary {
		n += int64(len(s))
	}
	for _, s := range e.Tags {
		n += int64(len(s))
	}
	return n
}

// entryOverhead is the bytes an entry costs beyond its fields' contents.
const entryOverhead = 256

// Selector picks entries for Purge: those whose key starts with Prefix
// (keys begin with the request's absolute URL, "http://host/path?query"),
// or, when Tag is set, those tagged Tag.
type Selector struct {
	Prefix string
	Tag    string
}

// ErrMiss is returned by Get when the store holds no entry for the key.
var ErrMiss = errors.New("cache: no entry")

// Store keeps entries by key. Implementations are safe for concurrent use,
// bound their memory, never block a request for long (a store whose
// backend is slow or down answers with an error within its timeout), and
// make no RFC 9111 decision: which responses to store, for how long and
// which to serve is package cache's alone.
type Store interface {
	// Get returns the entry for key, or ErrMiss. key is valid only
	// during the call (the cache builds it in a reused buffer): a store
	// that keeps it must copy it.
	Get(ctx context.Context, key string) (*Entry, error)
	// Set stores e under key until e.Expires, replacing any entry there.
	// A store may refuse an entry (too large) and return nil: storing is
	// best effort.
	Set(ctx context.Context, key string, e *Entry) error
	// Delete removes the entry for key, if any.
	Delete(ctx context.Context, key string) error
	// Purge removes the entries sel picks and returns how many it
	// removed.
	Purge(ctx context.Context, sel Selector) (int, error)
	// Close releases the store's resources; later calls fail.
	Close() error
}

// Zone is a named store and what the routes that name it share: the
// store, its object size limit, its counters, the table of fills in
// progress (request coalescing) and the bound on background refreshes. The
// gateway keeps one Zone per cache_zones entry across reloads, whatever
// number of routes and listeners use it. Build one with NewZone.
type Zone struct {
	Name  string
	Store Store
	// MaxObjectSize bounds one stored response.
	MaxObjectSize int64

	// Counters, updated with atomics on the request path: responses
	// served from the cache (Hits, Stale when served stale, Revalidated
	// when a 304 from the upstream refreshed them) and those that were
	// not (Misses), and the body bytes served from the cache.
	Hits, Misses, Stale, Revalidated, BytesServed atomic.Int64

	fills fillTable
	// refreshes counts the background refreshes in flight, at most
	// maxRefreshes.
	refreshes    atomic.Int64
	maxRefreshes int64
}

// defaultMaxRefreshes bounds a zone's background refreshes
// (stale-while-revalidate) in flight; a stale hit beyond it is served
// stale without starting one, and a later request tries again.
const defaultMaxRefreshes = 64

// NewZone returns a zone over store.
func NewZone(name string, store Store, maxObjectSize int64) *Zone {
	z := &Zone{Name: name, Store: store, MaxObjectSize: maxObjectSize, maxRefreshes: defaultMaxRefreshes}
	z.fills.seed = maphash.MakeSeed()
	return z
}

// Close closes the zone's store.
func (z *Zone) Close() error { return z.Store.Close() }
