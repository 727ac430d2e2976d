package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"palisade/internal/config"
)

// gcraScript is GCRA in one round trip, on the server's clock so that
// every instance sharing the Redis agrees on "now" (TIME, in
// microseconds: a double holds them exactly until the year 2255). KEYS[1]
// holds the TAT and expires with it: an expired key is an idle one.
// ARGV: emission interval T and tolerance τ in microseconds, cost n. It
// returns {allowed, a, b}: allowed {1, τ − (TAT' − now), TAT' − now},
// denied {0, retry after, TAT − now}, durations in microseconds.
const gcraScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new = tat + n * interval
local allow_at = new - tau
if allow_at > now then
  return {0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new, 'PX', math.ceil((new - now) / 1000))
return {1, tau - (new - now), new - now}
`

// The backoff before a Redis that failed is tried again: it starts at
// minBackoff and doubles after every failed probe up to maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// FailurePolicy is what a Redis store does while its Redis fails.
type FailurePolicy int

const (
	// FailLocal limits with a memory store of this process.
	FailLocal FailurePolicy = iota
	// FailOpen allows every request, uncounted.
	FailOpen
	// FailClosed refuses every request with ErrUnavailable.
	FailClosed
)

// ParseFailurePolicy returns the policy named by on_failure.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch s {
	case "local", "":
		return FailLocal, nil
	case "open":
		return FailOpen, nil
	case "closed":
		return FailClosed, nil
	}
	return 0, fmt.Errorf("unknown failure policy %q", s)
}

// Redis is a Store in one Redis database, shared by every Palisade that
// points at it. It is safe for concurrent use.
//
// Every command is bounded by the zone's timeout. A command that finds
// Redis unusable (no connection, a timeout, a pool exhausted) takes the
// store down: for a backoff every Take is decided by the failure policy
// at once, without touching Redis; then one Take is sent as a probe, and
// its success brings the store up. Each change of state is logged once.
type Redis struct {
	client  *redis.Client
	script  *redis.Script
	prefix  string
	timeout time.Duration
	policy  FailurePolicy
	local   Store // FailLocal's store
	log     *slog.Logger
	addr    string

	// downUntil is when the next probe may go, in Unix nanoseconds; 0
	// while Redis is up. probing is set while a probe is out.
	downUntil atomic.Int64
	probing   atomic.Bool
	// degraded counts the Takes the failure policy decided.
	degraded atomic.Uint64

	mu      sync.Mutex // guards the fields below
	down    bool
	since   time.Time
	backoff time.Duration
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on the Redis cfg names, applying policy while it
// fails; local is FailLocal's store (a Memory). It does not connect: a
// Redis that is down at start makes the first Take go down, never
// NewRedis. log receives one line per change of state.
func NewRedis(cfg config.RateLimitRedis, policy FailurePolicy, local Store, log *slog.Logger) (*Redis, error) {
	if cfg.Address == "" {
		return nil, errors.New("ratelimit: redis: no address")
	}
	timeout := cfg.Timeout.D()
	if timeout <= 0 {
		return nil, fmt.Errorf("ratelimit: redis: timeout %v is not positive", timeout)
	}
	if policy == FailLocal && local == nil {
		return nil, errors.New("ratelimit: redis: the local policy needs a local store")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// One command holds a connection for one round trip; MaxActiveConns
	// makes the pool a bound, so a slow Redis cannot make us open a
	// connection per request, and PoolTimeout makes the wait for one as
	// bounded as the command.
	poolSize := 10 * runtime.GOMAXPROCS(0)
	client := redis.NewClient(&redis.Options{
		Addr:                  cfg.Address,
		Username:              cfg.Username,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		Protocol:              2,
		DialTimeout:           timeout,
		DialerRetries:         1,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		ContextTimeoutEnabled: true,
		// A retry would double the wait; the down state does the
		// retrying.
		MaxRetries:               -1,
		PoolSize:                 poolSize,
		MaxActiveConns:           poolSize,
		PoolTimeout:              timeout,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	return &Redis{
		client:  client,
		script:  redis.NewScript(gcraScript),
		prefix:  cfg.KeyPrefix,
		timeout: timeout,
		policy:  policy,
		local:   local,
		log:     log,
		addr:    cfg.Address,
	}, nil
}

// Take charges n against key in Redis: EVALSHA, and EVAL when the server
// does not know the script yet (NOSCRIPT), bounded by the timeout. While
// Redis is down the failure policy decides at once.
func (s *Redis) Take(ctx context.Context, key string, l Limit, n int) (Result, error) {
	probe, ok := s.admit()
	if !ok {
		return s.fail(ctx, key, l, n)
	}
	t := l.interval().Microseconds()
	if t < 1 {
		t = 1 // Redis keeps microseconds: rates above 10⁶/s round to that
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	v, err := s.script.Run(cctx, s.client, []string{s.prefix + key}, t, t*l.Burst, n).Int64Slice()
	cancel()
	if err == nil && len(v) != 3 {
		err = fmt.Errorf("script answered %d values", len(v))
	}
	if err != nil {
		if probe {
			s.probed(err)
		} else if ctx.Err() == nil && isOutage(err) {
			// A client that went away says nothing about Redis.
			s.failed(err)
		}
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
		}
		// A failed command, outage or not, is decided by the policy:
		// the request did not get an answer from Redis.
		return s.fail(ctx, key, l, n)
	}
	if probe {
		s.probed(nil)
	}
	us := time.Microsecond
	if v[0] == 0 {
		return Result{RetryAfter: time.Duration(v[1]) * us, ResetAfter: time.Duration(v[2]) * us}, nil
	}
	return Result{Allowed: true, Remaining: v[1] / t, ResetAfter: time.Duration(v[2]) * us}, nil
}

// fail decides a Take by the failure policy.
func (s *Redis) fail(ctx context.Context, key string, l Limit, n int) (Result, error) {
	s.degraded.Add(1)
	switch s.policy {
	case FailOpen:
		return Result{Allowed: true, Unchecked: true}, nil
	case FailClosed:
		return Result{}, unavailableError{retry: s.retryIn()}
	}
	return s.local.Take(ctx, key, l, n)
}

// Degraded returns how many Takes the failure policy has decided.
func (s *Redis) Degraded() uint64 { return s.degraded.Load() }

// Close closes the store's connections.
func (s *Redis) Close() error { return s.client.Close() }

// admit reports whether a Take may go to Redis now, and whether it goes as
// the probe of a Redis that is down. The fast path, while up, is one
// atomic load.
func (s *Redis) admit() (probe, ok bool) {
	until := s.downUntil.Load()
	if until == 0 {
		return false, true
	}
	if time.Now().UnixNano() < until || !s.probing.CompareAndSwap(false, true) {
		return false, false
	}
	// A probe that ended between the load and the swap may have brought
	// Redis up or set a new backoff.
	if next := s.downUntil.Load(); next == 0 || time.Now().UnixNano() < next {
		s.probing.Store(false)
		return false, next == 0
	}
	return true, true
}

// failed takes the store down after an outage; later failures of commands
// already in flight change nothing.
func (s *Redis) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return
	}
	now := time.Now()
	s.down, s.since, s.backoff = true, now, minBackoff
	s.downUntil.Store(now.Add(s.backoff).UnixNano())
	s.log.Warn("ratelimit redis down", "address", s.addr, "error", err, "policy", s.policy.String(), "probe_in", s.backoff)
}

// probed records a probe's result: success brings the store up and logs,
// failure doubles the backoff quietly.
func (s *Redis) probed(err error) {
	defer s.probing.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return
	}
	now := time.Now()
	if err == nil {
		s.down = false
		s.downUntil.Store(0)
		s.log.Info("ratelimit redis up", "address", s.addr, "down_for", now.Sub(s.since).Round(time.Millisecond), "degraded_total", s.degraded.Load())
		return
	}
	s.backoff = min(2*s.backoff, maxBackoff)
	s.downUntil.Store(now.Add(s.backoff).UnixNano())
}

// retryIn returns how long until Redis is tried again (at least a second
// once rounded for Retry-After).
func (s *Redis) retryIn() time.Duration {
	until := s.downUntil.Load()
	if until == 0 {
		return time.Second
	}
	return max(time.Duration(until-time.Now().UnixNano()), time.Second)
}

func (p FailurePolicy) String() string {
	switch p {
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	}
	return "local"
}

// unavailableError is ErrUnavailable with the time until Redis is tried
// again, for Retry-After.
type unavailableError struct{ retry time.Duration }

func (e unavailableError) Error() string             { return ErrUnavailable.Error() }
func (e unavailableError) Unwrap() error             { return ErrUnavailable }
func (e unavailableError) RetryAfter() time.Duration { return e.retry }

// isOutage reports whether err says that Redis cannot serve the store at
// all rather than that one command failed: no connection, a timeout, a
// pool exhausted, or a reply every command would get. Other replies
// (WRONGTYPE, a script error) are the command's alone.
func isOutage(err error) bool {
	if err == nil {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	msg := reply.Error()
	for _, p := range [...]string{"LOADING ", "BUSY ", "MASTERDOWN ", "ERR max number of clients reached", "NOAUTH ", "WRONGPASS ", "READONLY "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
