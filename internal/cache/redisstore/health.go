package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The backoff between probes of a Redis that is down: it starts at
// minBackoff and doubles after every failed probe up to maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = time.Second
)

// health is the store's view of its Redis: up, or down since a failure and
// probed again after a backoff. While down, commands are refused at once
// (no connection, no timeout to wait for) and only one probe, a PING on its
// own goroutine, talks to Redis at a time; a request never waits for a
// probe. It logs once per change of state, never per failed command.
//
// The fast path, admit, is one atomic load while Redis is up.
type health struct {
	log   *slog.Logger
	addr  string
	probe func(ctx context.Context) error // bounded by its own timeout

	// downUntil is when the next probe may start, in Unix nanoseconds; 0
	// while Redis is up.
	downUntil atomic.Int64
	// probing is set while a probe runs.
	probing atomic.Bool
	// refusal is what a refused command returns: ErrUnavailable with the
	// failure behind it, set before downUntil.
	refusal atomic.Pointer[unavailableError]
	probes  sync.WaitGroup

	mu      sync.Mutex
	down    bool
	since   time.Time     // when Redis went down
	backoff time.Duration // the wait before the next probe
	closed  bool          // no probe starts once set
}

func newHealth(log *slog.Logger, addr string, probe func(context.Context) error) *health {
	return &health{log: log, addr: addr, probe: probe}
}

// ErrUnavailable is returned, at once, by every call made while the store
// considers its Redis down; a caller treats it as a miss (Get) or a dropped
// write (Set, Delete). errors.Is(err, ErrUnavailable) also holds for the
// failures that take the store down.
var ErrUnavailable = errors.New("redisstore: redis unavailable")

// admit reports whether a command may go to Redis now. While Redis is down
// it refuses, and the first caller after the backoff starts a probe.
func (h *health) admit() bool {
	until := h.downUntil.Load()
	if until == 0 {
		return true
	}
	if time.Now().UnixNano() >= until && h.probing.CompareAndSwap(false, true) {
		// A probe that ended between the load and the swap has set a
		// new backoff (or brought Redis up); honour it.
		if next := h.downUntil.Load(); next == 0 || time.Now().UnixNano() < next {
			h.probing.Store(false)
			return next == 0
		}
		h.startProbe()
	}
	return false
}

// startProbe runs one probe on its own goroutine; the caller has set
// probing.
func (h *health) startProbe() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return // probing stays set: no probe after Close.
	}
	h.probes.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.probes.Done()
		err := h.probe(context.Background())
		h.probed(err)
	}()
}

// failed records that a command found Redis unusable (see isOutage). The
// first failure while up takes the store down and logs; later ones, from
// commands already in flight, change nothing.
func (h *health) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down || h.closed {
		return
	}
	now := time.Now()
	h.down, h.since, h.backoff = true, now, minBackoff
	h.refusal.Store(&unavailableError{cause: err})
	h.downUntil.Store(now.Add(h.backoff).UnixNano())
	h.log.Warn("cache redis down", "address", h.addr, "error", err, "probe_in", h.backoff)
}

// probed records a probe's result: success brings the store up and logs,
// failure doubles the backoff quietly.
func (h *health) probed(err error) {
	defer h.probing.Store(false)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return
	}
	now := time.Now()
	if err == nil {
		h.down = false
		h.downUntil.Store(0)
		h.log.Info("cache redis up", "address", h.addr, "down_for", now.Sub(h.since).Round(time.Millisecond))
		return
	}
	h.refusal.Store(&unavailableError{cause: err})
	h.backoff = min(2*h.backoff, maxBackoff)
	h.downUntil.Store(now.Add(h.backoff).UnixNano())
}

// unavailable is the error a refused command returns: ErrUnavailable with
// the failure behind it, for whoever logs it. It neither locks nor
// allocates.
func (h *health) unavailable() error {
	if e := h.refusal.Load(); e != nil {
		return e
	}
	return ErrUnavailable
}

// close stops probing and waits for a running probe to end.
func (h *health) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.probes.Wait()
}

// unavailableError is ErrUnavailable with its cause.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error {
	return []error{ErrUnavailable, e.cause}
}

// isOutage reports whether err says that Redis cannot serve this store at
// all, rather than that one command failed: no connection, a timeout, a
// pool exhausted by slow replies, or a reply that every command would get
// (loading its data set, busy with a script, a replica without its master,
// too many clients, authentication refused). Other replies (WRONGTYPE,
// OOM, READONLY) are the command's error alone and leave the state as it
// is. redis.Nil, a miss, is no error here.
func isOutage(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	msg := reply.Error()
	// The replies that every command would get.
	for _, p := range [...]string{"LOADING ", "BUSY ", "MASTERDOWN ", "ERR max number of clients reached", "NOAUTH ", "WRONGPASS "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
