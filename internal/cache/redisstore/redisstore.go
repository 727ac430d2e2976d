package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"palisade/internal/cache"
	"palisade/internal/config"
)

// Store is a cache.Store in one Redis database, shared by every Palisade
// that points at it. It is safe for concurrent use. Every command is
// bounded by the zone's timeout; when Redis fails, the store goes down,
// refuses commands at once with ErrUnavailable and probes Redis on its own
// until it answers (see health).
//
// Keys, all under cfg.KeyPrefix (P):
//
//	P + "e:" + key    an entry (a string, see encoding.go), expiring at Entry.Expires
//	P + "tag:" + tag  the set of entry keys tagged tag, expiring no sooner than they do
//
// The "e:" namespace keeps entry keys, whatever the cache key is made of,
// apart from tag sets and from the temporary keys of a purge.
type Store struct {
	client  *redis.Client
	health  *health
	timeout time.Duration
	maxSize int64
	prefix  string // cfg.KeyPrefix
	closed  atomic.Bool
}

var _ cache.Store = (*Store)(nil)

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("redisstore: closed")

// scanCount is the COUNT of SCAN and SSCAN and so the size of a purge's
// UNLINK batches: large enough to need few round trips, small enough that
// no single command holds Redis for long.
const scanCount = 1000

// New returns a store on the Redis cfg names. It does not connect: a Redis
// that is down at start makes the first commands fail and the store start
// probing, never New. log receives one line per change of state (down with
// the error, up again); give it the zone's name with log.With.
func New(cfg config.CacheRedis, log *slog.Logger) (*Store, error) {
	if cfg.Address == "" {
		return nil, errors.New("redisstore: no address")
	}
	timeout := cfg.Timeout.D()
	if timeout <= 0 {
		return nil, fmt.Errorf("redisstore: timeout %v is not positive", timeout)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// One command holds a connection for one round trip, well under a
	// millisecond on a LAN, so a handful of connections per core carries
	// a proxy's request rate; MaxActiveConns makes the pool a bound too,
	// so a slow Redis cannot make us open a connection per request, and
	// PoolTimeout makes a wait for a connection as bounded as a command.
	poolSize := 10 * runtime.GOMAXPROCS(0)
	opts := &redis.Options{
		Addr:     cfg.Address,
		Username: cfg.Username,
		Password: cfg.Password,
		DB:       cfg.DB,
		// RESP2: the store needs no push notifications.
		Protocol:              2,
		DialTimeout:           timeout,
		DialerRetries:         1,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		ContextTimeoutEnabled: true,
		// A retry would double the wait of a request that a miss
		// answers as well; the health state does the retrying.
		MaxRetries:     -1,
		PoolSize:       poolSize,
		MaxActiveConns: poolSize,
		PoolTimeout:    timeout,
		// Pipelines (Set with tags) share the bounded pool.
		PipelinePoolSize: -1,
		// No CLIENT SETINFO or MAINT_NOTIFICATIONS round trips per new
		// connection.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	client := redis.NewClient(opts)
	s := &Store{
		client:  client,
		timeout: timeout,
		maxSize: int64(cfg.MaxObjectSize),
		prefix:  cfg.KeyPrefix,
	}
	s.health = newHealth(log, cfg.Address, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return client.Ping(ctx).Err()
	})
	return s, nil
}

// entryKey is the Redis key of the entry for key.
func (s *Store) entryKey(key string) string { return s.prefix + "e:" + key }

// tagKey is the Redis key of the set of entry keys tagged tag.
func (s *Store) tagKey(tag string) string { return s.prefix + "tag:" + tag }

// begin admits one command: it fails at once when the store is closed or
// its Redis down, and otherwise returns ctx bounded by the timeout.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	if !s.health.admit() {
		return nil, nil, s.health.unavailable()
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	return ctx, cancel, nil
}

// end judges a command's error: an outage takes the store down (unless the
// caller's own context ended first: a client that went away says nothing
// about Redis) and comes back as ErrUnavailable.
func (s *Store) end(parent context.Context, op string, err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) {
		return err // nil, or judged already
	}
	if !callerDone(parent) && isOutage(err) {
		if s.closed.Load() {
			return ErrClosed
		}
		s.health.failed(err)
		return fmt.Errorf("redisstore: %s: %w", op, &unavailableError{cause: err})
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// callerDone reports whether the caller's context has ended or reached its
// deadline. The deadline is checked too because a command bounded by it
// fails with an i/o timeout a moment before the context itself reports an
// error.
func callerDone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// Get returns the entry for key, cache.ErrMiss when Redis holds none, and
// ErrUnavailable at once while Redis is down. A value that does not decode
// (another writer's key, another encoding version) is an error too, which
// the caller treats as a miss; the next Set replaces it.
func (s *Store) Get(ctx context.Context, key string) (*cache.Entry, error) {
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.client.Get(cctx, s.entryKey(key)).Bytes()
	cancel()
	if errors.Is(err, redis.Nil) {
		return nil, cache.ErrMiss
	}
	if err != nil {
		return nil, s.end(ctx, "get", err)
	}
	e, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get %q: %w", key, err)
	}
	return e, nil
}

// Set stores e under key until e.Expires (PXAT, millisecond precision) and
// adds key to the set of each of e's tags, extending the set's expiry to
// e's when that is later. It stores nothing, and returns nil, for an entry
// whose encoding exceeds the zone's max_object_size; an entry already
// expired deletes key instead. One round trip: the tag commands and the SET
// go in one pipeline, SET last, so that an entry is never stored without
// its tags.
func (s *Store) Set(ctx context.Context, key string, e *cache.Entry) error {
	if e.Expires.IsZero() {
		return fmt.Errorf("redisstore: set %q: entry has no Expires", key)
	}
	if int64(len(e.Body)) > s.maxSize {
		return nil
	}
	if !e.Expires.After(time.Now()) {
		return s.Delete(ctx, key)
	}
	b, err := encode(e)
	if err != nil {
		return fmt.Errorf("redisstore: set %q: %w", key, err)
	}
	if int64(len(b)) > s.maxSize {
		return nil
	}
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	ek := s.entryKey(key)
	at := e.Expires.UnixMilli()
	if len(e.Tags) == 0 {
		err = s.client.Do(cctx, "set", ek, b, "pxat", at).Err()
		return s.end(ctx, "set", err)
	}
	_, err = s.client.Pipelined(cctx, func(p redis.Pipeliner) error {
		for _, tag := range e.Tags {
			tk := s.tagKey(tag)
			p.SAdd(cctx, tk, ek)
			// NX gives a new set an expiry, GT extends an old one's;
			// GT alone would never set one, since Redis takes a key
			// without expiry as one that never expires.
			p.Do(cctx, "pexpireat", tk, at, "nx")
			p.Do(cctx, "pexpireat", tk, at, "gt")
		}
		p.Do(cctx, "set", ek, b, "pxat", at)
		return nil
	})
	return s.end(ctx, "set", err)
}

// Delete removes the entry for key (UNLINK: Redis frees it in the
// background). Tag sets keep naming the key until they expire or are
// purged, which costs a purge by tag one UNLINK of a missing key.
func (s *Store) Delete(ctx context.Context, key string) error {
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	err = s.client.Unlink(cctx, s.entryKey(key)).Err()
	cancel()
	return s.end(ctx, "delete", err)
}

// Purge removes the entries sel picks and returns how many Redis removed.
// Each command is bounded by the timeout; the whole purge only by ctx.
//
// By tag: RENAME the tag's set to a temporary key (so that Sets from now
// on start a new set and this purge sees a fixed one), SSCAN it and UNLINK
// its members in batches of scanCount, then UNLINK it. The cost is
// proportional to the set's size, which is every key stored with the tag
// since the set was created, expired ones included: about
// 2 + 2×members/scanCount round trips.
//
// By prefix: SCAN MATCH the prefix (glob characters escaped) and UNLINK
// each batch. SCAN walks the whole database, whatever the number of
// matches: about 2×keys/scanCount round trips for a database of keys keys,
// each bounded in the work it makes Redis do. An empty prefix purges every
// entry of the store.
//
// An entry stored while a purge runs may survive it, as with any purge
// that races a fill.
func (s *Store) Purge(ctx context.Context, sel cache.Selector) (int, error) {
	if sel.Tag != "" {
		return s.purgeTag(ctx, sel.Tag)
	}
	return s.purgePrefix(ctx, sel.Prefix)
}

func (s *Store) purgeTag(ctx context.Context, tag string) (int, error) {
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := s.prefix + "purging:" + hex.EncodeToString(suffix[:])
	cctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	err = s.client.Rename(cctx, s.tagKey(tag), tmp).Err()
	cancel()
	if redis.HasErrorPrefix(err, "no such key") {
		return 0, nil
	}
	if err != nil {
		return 0, s.end(ctx, "purge tag", err)
	}
	// RENAME kept the set's expiry, so a purge cut short leaves nothing
	// behind for longer than the set would have lived.
	n, err := s.unlinkScanned(ctx, func(ctx context.Context, cursor uint64) ([]string, uint64, error) {
		return s.client.SScan(ctx, tmp, cursor, "", scanCount).Result()
	})
	if err != nil {
		return n, s.end(ctx, "purge tag", err)
	}
	cctx, cancel, err = s.begin(ctx)
	if err != nil {
		return n, err
	}
	err = s.client.Unlink(cctx, tmp).Err()
	cancel()
	return n, s.end(ctx, "purge tag", err)
}

func (s *Store) purgePrefix(ctx context.Context, prefix string) (int, error) {
	match := globEscape(s.entryKey(prefix)) + "*"
	n, err := s.unlinkScanned(ctx, func(ctx context.Context, cursor uint64) ([]string, uint64, error) {
		return s.client.Scan(ctx, cursor, match, scanCount).Result()
	})
	if err != nil {
		return n, s.end(ctx, "purge prefix", err)
	}
	return n, nil
}

// unlinkScanned runs a SCAN-like iteration to its end, unlinking each batch
// of keys, and returns how many keys Redis removed. A key seen twice (SCAN
// may return one more than once) counts once: the second UNLINK finds
// nothing.
func (s *Store) unlinkScanned(ctx context.Context, scan func(ctx context.Context, cursor uint64) ([]string, uint64, error)) (int, error) {
	var cursor uint64
	total := 0
	for {
		cctx, cancel, err := s.begin(ctx)
		if err != nil {
			return total, err
		}
		keys, next, err := scan(cctx, cursor)
		cancel()
		if err != nil {
			return total, err
		}
		if len(keys) > 0 {
			if cctx, cancel, err = s.begin(ctx); err != nil {
				return total, err
			}
			n, err := s.client.Unlink(cctx, keys...).Result()
			cancel()
			total += int(n)
			if err != nil {
				return total, err
			}
		}
		if next == 0 {
			return total, nil
		}
		cursor = next
	}
}

// globEscape quotes the characters Redis's glob patterns give a meaning.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Close stops probing, closes the client and its connections, and makes
// later calls fail with ErrClosed. Calls in flight end with an error.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.health.close()
	return s.client.Close()
}
