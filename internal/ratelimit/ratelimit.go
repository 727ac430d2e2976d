package ratelimit

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// ErrLimited is the error a request over its limit is answered with (and
// logged with); it wraps nothing.
var ErrLimited = errors.New("rate limit exceeded")

// headersMode says which responses carry the RateLimit fields.
type headersMode int

const (
	headersDenied headersMode = iota
	headersAlways
	headersOff
)

// limiter is one route's rate-limit middleware.
type limiter struct {
	store Store
	limit Limit
	parts []keyPart
	// prefix begins every key: the limit itself, so that limits of
	// different rates sharing a store (two on one route, or routes of one
	// zone) keep apart, while routes with the same limit in a zone share
	// a key's allowance.
	prefix  string
	route   string
	status  int
	headers headersMode
	log     *slog.Logger
	// policyName is the quoted sf-string naming the policy, policyField
	// the whole RateLimit-Policy value: the same on every response.
	policyName  string
	policyField []string
}

// New returns the rate-limit middleware of the route named route, taking
// from store (its zone's, or a memory store of the route's own). cfg has
// been validated. The policy the RateLimit fields name is the zone, or the
// route when there is no zone.
func New(cfg config.RateLimit, store Store, route string, log *slog.Logger) (middleware.Middleware, error) {
	if store == nil {
		return nil, errors.New("no store")
	}
	if cfg.Rate.Count <= 0 || cfg.Rate.Per <= 0 {
		return nil, fmt.Errorf("rate %v is not positive", cfg.Rate)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &limiter{
		store:  store,
		limit:  Limit{Rate: cfg.Rate.Count, Period: cfg.Rate.Per, Burst: int64(cfg.EffectiveBurst())},
		parts:  parseKey(cfg.Key),
		prefix: fmt.Sprintf("%s|%d|", cfg.Rate, cfg.EffectiveBurst()),
		route:  route,
		status: cfg.Status,
		log:    log,
	}
	switch cfg.Headers {
	case "always":
		l.headers = headersAlways
	case "off":
		l.headers = headersOff
	}
	name := cfg.Zone
	if name == "" {
		name = route
	}
	if name == "" {
		name = "default"
	}
	l.policyName = strconv.Quote(name)
	// draft-ietf-httpapi-ratelimit-headers §3.1: q is the quota, w its
	// window in whole seconds; GCRA's quota is the rate's count per its
	// period (the burst only says how much of it may come at once).
	l.policyField = []string{l.policyName + ";q=" + strconv.FormatInt(cfg.Rate.Count, 10) + ";w=" + strconv.FormatInt(int64(cfg.Rate.Per/time.Second), 10)}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.serve(w, r, next) })
	}, nil
}

func (l *limiter) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	var scratch [96]byte
	key := string(appendKey(append(scratch[:0], l.prefix...), l.parts, r, l.route))
	res, err := l.store.Take(r.Context(), key, l.limit, 1)
	if err != nil {
		if r.Context().Err() != nil {
			middleware.WriteError(w, r, middleware.StatusClientClosed, middleware.ErrClientGone)
			return
		}
		// A zone failing closed: the limiter cannot decide, which is
		// the service's trouble, not the client's.
		middleware.WriteError(w, r, http.StatusServiceUnavailable, err)
		return
	}
	if !res.Allowed {
		middleware.WriteError(w, r, l.status, &limitedError{l: l, res: res})
		return
	}
	if l.headers == headersAlways && !res.Unchecked {
		l.setFields(w.Header(), res)
	}
	next.ServeHTTP(w, r)
}

// setFields writes the RateLimit-Policy and RateLimit fields of res
// (draft-ietf-httpapi-ratelimit-headers-11 §3, §4). §6: a Retry-After
// beside them must not be earlier than the effective window's end, so a
// denied response's t is its Retry-After.
func (l *limiter) setFields(h http.Header, res Result) {
	h["Ratelimit-Policy"] = l.policyField
	t := res.ResetAfter
	if !res.Allowed {
		t = res.RetryAfter
	}
	var buf [64]byte
	b := append(buf[:0], l.policyName...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, res.Remaining, 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(t), 10)
	h["Ratelimit"] = []string{string(b)}
}

// ceilSeconds rounds d up to whole seconds, the delay-seconds of RFC 9110
// §10.2.3.
func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// limitedError answers a request over its limit: ErrLimited, with a
// Retry-After and, unless headers is off, the RateLimit fields.
type limitedError struct {
	l   *limiter
	res Result
}

func (e *limitedError) Error() string             { return ErrLimited.Error() }
func (e *limitedError) Unwrap() error             { return ErrLimited }
func (e *limitedError) RetryAfter() time.Duration { return e.res.RetryAfter }

func (e *limitedError) ResponseFields(h http.Header) {
	if e.l.headers != headersOff {
		e.l.setFields(h, e.res)
	}
}

var (
	_ middleware.RetryAfter     = (*limitedError)(nil)
	_ middleware.ResponseFields = (*limitedError)(nil)
	_ middleware.RetryAfter     = unavailableError{}
)
