package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// roundTrip runs the attempt loop: pick a backend, acquire it, send the
// request, and decide whether a failure goes to another backend.
//
//   - A connect failure (nothing was sent) always moves on to a backend not
//     tried yet, while one is left.
//   - Any other failure before a response, and a response whose status is in
//     the retry policy's on_status, are retried while attempts remain, when
//     the request may be repeated (an idempotent method, an Idempotency-Key,
//     or a route or upstream that opts in), its body can be replayed from
//     the bounded buffer, another backend is available, and the upstream's
//     retry budget allows it. Otherwise the failure, or the response as the
//     backend sent it, goes to the client.
//
// On success ex.release must be called once the response is done.
func (ex *exchange) roundTrip() (*http.Response, error) {
	t := ex.h.t
	key := ex.key()
	ex.setupReplay()
	var lastErr error
	var next *upstream.Backend
	tries := 0
	for {
		b := next
		next = nil
		if b == nil {
			var err error
			if b, err = ex.pick(key); b == nil {
				if lastErr != nil {
					return nil, lastErr
				}
				return nil, err
			}
		}
		ex.st.Backend = b.Addr
		ex.st.Attempts++
		ex.url.Host = b.Addr
		release := b.Acquire()
		start := time.Now()
		resp, err := t.Transport.RoundTrip(ex.out, b)
		rtt := time.Since(start)
		ex.roundTripDone()
		ex.tried = append(ex.tried, b)
		if err == nil {
			if t.Retry.OnStatus.Has(resp.StatusCode) {
				tries++
				if next = ex.retryTarget(key, tries, "status "+statusText(resp.StatusCode)); next != nil {
					resp.Body.Close()
					release(rtt, upstream.ErrServerStatus)
					continue
				}
			}
			ex.release, ex.rtt, ex.status = release, rtt, resp.StatusCode
			if s := t.Sticky; s != nil && !s.hasCookie(ex.in, b) {
				ex.stick = b
			}
			return resp, nil
		}
		err = ex.blame(err)
		if isConnLimit(err) {
			release(rtt, upstream.ErrNotBackend)
			lastErr = ex.noBackend(err)
			continue
		}
		if ex.clientFailed(err) {
			release(rtt, fmt.Errorf("%w: %w", upstream.ErrNotBackend, err))
			return nil, err
		}
		release(rtt, err)
		lastErr = err
		if isDialError(err) {
			continue
		}
		tries++
		if next = ex.retryTarget(key, tries, err.Error()); next == nil {
			return nil, err
		}
	}
}

// clientFailed reports whether err is the client's doing: it went away or
// its body failed. Such an exchange is never retried nor held against the
// backend.
func (ex *exchange) clientFailed(err error) bool {
	return ex.in.Context().Err() != nil || errors.Is(err, middleware.ErrRequestBody) || errors.Is(err, middleware.ErrClientGone)
}

// retryTarget returns the backend for try number tries+1 after a failure
// described by why, or nil when the request is not to be retried.
func (ex *exchange) retryTarget(key uint64, tries int, why string) *upstream.Backend {
	t := ex.h.t
	if tries >= t.Retry.Attempts || !ex.repeatable() {
		return nil
	}
	if !ex.rewind() {
		ex.h.log.LogAttrs(ex.in.Context(), slog.LevelInfo, "request not retried: its body is larger than retries.body_buffer",
			slog.String("request_id", ex.st.ID), slog.String("upstream", t.Name), slog.String("backend", ex.st.Backend),
			slog.String("failure", why), slog.Int64("body_buffer", t.Retry.BodyBuffer))
		return nil
	}
	b := ex.pickNow(key)
	if b == nil {
		return nil
	}
	if !t.Pool.TryRetry() {
		ex.h.log.LogAttrs(ex.in.Context(), slog.LevelDebug, "request not retried: retry budget spent",
			slog.String("request_id", ex.st.ID), slog.String("upstream", t.Name), slog.String("failure", why))
		return nil
	}
	ex.h.log.LogAttrs(ex.in.Context(), slog.LevelDebug, "retrying request",
		slog.String("request_id", ex.st.ID), slog.String("upstream", t.Name), slog.String("backend", ex.st.Backend),
		slog.String("next", b.Addr), slog.String("failure", why))
	return b
}

// repeatable reports whether the request may be sent again after a
// backend may have acted on it: an idempotent method (RFC 9110 §9.2.2), an
// Idempotency-Key, or an opt-in of the route or upstream; and a body the
// transport can replay.
func (ex *exchange) repeatable() bool {
	if ex.out.Body != nil && !ex.replayOn {
		return false
	}
	return replayable(ex.in) || ex.h.opts.RetryNonIdempotent || ex.h.t.Retry.NonIdempotent
}

// pick returns the backend for the next try: the sticky one when the
// request is pinned to an available backend, else the policy's choice
// among the primaries not tried yet, then among the backups; when every
// backend not tried is at its request limit, it waits in the upstream's
// queue if one is configured. It returns the error to answer with when
// there is none.
func (ex *exchange) pick(key uint64) (*upstream.Backend, error) {
	if b := ex.pickNow(key); b != nil {
		return b, nil
	}
	t := ex.h.t
	if !ex.anyUsable() {
		return nil, ex.noBackend(nil)
	}
	b, err := t.Pool.Queue(ex.in.Context(), func() *upstream.Backend { return ex.pickNow(key) })
	if err != nil {
		if ex.in.Context().Err() != nil {
			return nil, fmt.Errorf("%w: waiting for a backend: %w", middleware.ErrClientGone, err)
		}
		return nil, ex.noBackend(err)
	}
	return b, nil
}

// pickNow is pick without the queue. A pin to a backup holds only while
// no primary is available, as backups get no traffic otherwise.
func (ex *exchange) pickNow(key uint64) *upstream.Backend {
	t := ex.h.t
	if b := ex.pinnedIn(t.Pool.Primaries()); b != nil {
		return b
	}
	if b := t.Policy.Pick(ex.untried(t.Pool.Primaries()), key); b != nil {
		return b
	}
	backups := t.Pool.Backups()
	if len(backups) == 0 {
		return nil
	}
	if b := ex.pinnedIn(backups); b != nil {
		return b
	}
	if t.BackupPolicy != nil {
		return t.BackupPolicy.Pick(ex.untried(backups), key)
	}
	return t.Policy.Pick(ex.untried(backups), key)
}

// pinnedIn returns the available backend of list the request's sticky
// cookie pins, on a first try only.
func (ex *exchange) pinnedIn(list []*upstream.Backend) *upstream.Backend {
	s := ex.h.t.Sticky
	if s == nil || len(ex.tried) != 0 {
		return nil
	}
	if b := s.pinned(ex.in, list); b != nil && b.Available() {
		return b
	}
	return nil
}

// anyUsable reports whether a backend not tried yet could take the request
// but for its limit: the only case in which waiting helps.
func (ex *exchange) anyUsable() bool {
	p := ex.h.t.Pool
	if p.Settings().MaxPending <= 0 {
		return false
	}
	for _, list := range [2][]*upstream.Backend{p.Primaries(), p.Backups()} {
		for _, b := range ex.untried(list) {
			if b.Usable() {
				return true
			}
		}
	}
	return false
}

// untried returns the backends of list not tried yet: list itself when
// none was, without copying.
func (ex *exchange) untried(list []*upstream.Backend) []*upstream.Backend {
	if len(ex.tried) == 0 {
		return list
	}
	ex.rest = ex.rest[:0]
outer:
	for _, b := range list {
		for _, tb := range ex.tried {
			if b == tb {
				continue outer
			}
		}
		ex.rest = append(ex.rest, b)
	}
	return ex.rest
}

// noBackendError answers 503 with a Retry-After when no backend may take a
// request.
type noBackendError struct {
	upstream string
	cause    error
	after    time.Duration
}

func (e *noBackendError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("upstream %q: %v: %v", e.upstream, middleware.ErrNoBackend, e.cause)
	}
	return fmt.Sprintf("upstream %q: %v", e.upstream, middleware.ErrNoBackend)
}

func (e *noBackendError) Unwrap() []error {
	if e.cause != nil {
		return []error{middleware.ErrNoBackend, e.cause}
	}
	return []error{middleware.ErrNoBackend}
}

// RetryAfter is when the first ejection of the upstream ends, or a second.
func (e *noBackendError) RetryAfter() time.Duration { return e.after }

var _ middleware.RetryAfter = (*noBackendError)(nil)

// maxRetryAfter caps the Retry-After of a 503.
const maxRetryAfter = 30 * time.Second

func (ex *exchange) noBackend(cause error) error {
	p := ex.h.t.Pool
	after := time.Duration(0)
	now := time.Now()
	for _, list := range [2][]*upstream.Backend{p.Primaries(), p.Backups()} {
		for _, b := range list {
			if ej, until := b.Ejected(); ej {
				if d := until.Sub(now); after == 0 || d < after {
					after = d
				}
			}
		}
	}
	if after <= 0 {
		after = time.Second
	}
	return &noBackendError{upstream: ex.h.t.Name, cause: cause, after: min(after, maxRetryAfter)}
}

// outcome is what release learns from an exchange that ended with err
// after its response started: the client's failures say nothing about the
// backend, and a 5xx answer counts as a server error.
func (ex *exchange) outcome(err error) error {
	switch {
	case err != nil && ex.clientFailed(err):
		return fmt.Errorf("%w: %w", upstream.ErrNotBackend, err)
	case err != nil:
		return err
	case ex.status >= 500:
		return upstream.ErrServerStatus
	}
	return nil
}

func statusText(code int) string {
	return fmt.Sprint(code)
}
