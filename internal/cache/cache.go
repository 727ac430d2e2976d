package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// Options are what a cache middleware takes from outside its own config:
// what the snapshot knows of the rest of the route.
type Options struct {
	// Log receives store failures (at debug level: a store failure is a
	// miss) and the failures of background refreshes; nil discards them.
	Log *slog.Logger
	// NormalizeAcceptEncoding, when not nil, maps a request's
	// Accept-Encoding (its field lines combined; "" when absent) to the
	// content coding the route's compressor would choose for it, or
	// "identity": the variant key of a response that varies on
	// Accept-Encoding, so that one stored variant serves every client
	// whose field selects the same coding. It must be safe for concurrent
	// use and should not allocate. Without it, Accept-Encoding is keyed by
	// the codings it accepts. The snapshot sets it from the route's
	// compress middleware (compress.Chooser); the cache never imports
	// compress.
	NormalizeAcceptEncoding func(acceptEncoding string) string
}

// New returns the cache middleware of one route, storing in zone. cfg has
// been validated; New fails only on what validation should have caught.
//
// The middleware may serve any number of requests concurrently; routes
// naming the same zone share its store, its fills in progress and its
// counters.
func New(cfg config.Cache, zone *Zone, opts Options) (middleware.Middleware, error) {
	if zone == nil {
		return nil, fmt.Errorf("cache: no zone %q", cfg.Zone)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key, err := compileKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c := &cacher{cfg: cfg, zone: zone, log: log, key: key, normalizeAE: opts.NormalizeAcceptEncoding,
		policy: freshnessPolicy(cfg)}
	c.keyBufs.New = newKeyBuf
	c.storeOpts = storeOptions{storeSetCookie: cfg.StoreSetCookie, defaultTTL: cfg.DefaultTTL.D()}
	if cfg.TargetedField != "" {
		// RFC 9213 §2.2: this cache's own field goes no further.
		c.removed = append(c.removed, http.CanonicalHeaderKey(cfg.TargetedField))
	}
	for _, h := range cfg.TagHeaders {
		c.tagHeaders = append(c.tagHeaders, http.CanonicalHeaderKey(h))
	}
	for _, h := range cfg.Bypass.Headers {
		c.bypassHeaders = append(c.bypassHeaders, http.CanonicalHeaderKey(h))
	}
	for _, p := range cfg.Purge.Allow {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
		}
		c.purgeAllow = append(c.purgeAllow, p)
	}
	return func(next http.Handler) http.Handler {
		return &handler{next: next, c: c}
	}, nil
}

// cacher is one route's compiled cache settings. It is read-only after
// New.
type cacher struct {
	cfg  config.Cache
	zone *Zone
	log  *slog.Logger
	key  keySpec
	// removed are the fields taken out of every response: this cache's
	// own targeted field (RFC 9213).
	removed       []string
	tagHeaders    []string
	bypassHeaders []string
	purgeAllow    []netip.Prefix
	storeOpts     storeOptions
	// normalizeAE is Options.NormalizeAcceptEncoding.
	normalizeAE func(string) string
	// policy is freshnessPolicy(cfg): the Freshness of an entry stored
	// with it is this route's to use.
	policy  uint64
	keyBufs sync.Pool // *keyBuf
}

type handler struct {
	next http.Handler
	c    *cacher
}

// ServeHTTP is RFC 9111's flow for one request: look up the stored
// response that fits, serve it when it may be (fresh, or stale where the
// request and response allow), and otherwise forward the request,
// conditional when a stored response has validators, coalesced with
// concurrent misses of the same key, storing the response while it
// streams to the client when it may be stored.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.c
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case "PURGE":
		if len(c.purgeAllow) > 0 {
			c.purge(w, r)
			return
		}
		c.invalidating(h.next, w, r)
		return
	case http.MethodOptions, http.MethodTrace, "PRI":
		h.next.ServeHTTP(w, r)
		return
	default:
		// RFC 9111 §4.4: an unsafe method that succeeds invalidates.
		c.invalidating(h.next, w, r)
		return
	}
	if c.bypass(r) {
		c.forwardUncached(h.next, w, r, "bypass")
		return
	}
	var rd directives
	if c.cfg.IgnoreClientDirectives {
		rd = noDirectives()
	} else {
		rd = requestDirectives(r.Header)
	}

	kb := c.keyBufs.Get().(*keyBuf)
	defer c.keyBufs.Put(kb)
	kb.b = c.key.appendKey(kb.b[:0], r)
	primaryLen := len(kb.b)
	now := time.Now()
	ctx := r.Context()

	e, miss := c.lookup(ctx, kb, primaryLen, r)
	var v verdict
	if e != nil {
		v = c.judge(e, now, &rd)
		if v.servable {
			c.serveHit(w, r, e, v, hitFresh, cacheStatus{})
			return
		}
		if v.whileRevalidate {
			c.serveHit(w, r, e, v, hitStale, cacheStatus{})
			c.refresh(h.next, r, string(kb.b), primaryLen, e, v)
			return
		}
	}
	fwd := fwdReason(e, miss, v)
	if rd.onlyIfCached {
		// RFC 9111 §5.2.1.7: nothing stored fits and the client will
		// not let us ask.
		c.setStatus(w.Header(), cacheStatus{fwd: fwd})
		middleware.StateFrom(ctx).CacheStatus = "MISS"
		w.Header()["Cache-Control"] = []string{"no-store"}
		http.Error(w, http.StatusText(http.StatusGatewayTimeout), http.StatusGatewayTimeout)
		return
	}
	c.fetch(h.next, w, r, kb, primaryLen, e, v, &rd, fwd, false)
}

// fwdReason is why a request goes forward (RFC 9211 §2.2), given what
// lookup found for it (e, or the kind of miss) and the verdict on e:
// uri-miss or vary-miss when nothing was stored for it; request when a
// fresh response was stored but the client's directives did not let it
// be used (no-cache, max-age, min-fresh, Pragma: no-cache); stale
// otherwise, the stored response being revalidated or replaced.
func fwdReason(e *Entry, miss string, v verdict) string {
	switch {
	case e == nil:
		return miss
	case v.byRequest:
		return "request"
	}
	return "stale"
}

// errNoFit marks a Store.Get failure the cache reads as a miss.
var errNoFit = errors.New("cache: stored entry does not fit")

// lookup returns the stored response for r, looking up the primary key in
// kb.b[:primaryLen] and, when the primary entry records a Vary, the
// variant key it then appends to kb.b. When there is none it returns nil
// and the kind of miss, for Cache-Status (RFC 9211 §2.2): "uri-miss" when
// nothing is stored under the primary key, "vary-miss" when a response
// is but not the variant r selects. A variant older than its primary
// record is from before an invalidation and is ignored.
func (c *cacher) lookup(ctx context.Context, kb *keyBuf, primaryLen int, r *http.Request) (*Entry, string) {
	e, err := c.zone.Store.Get(ctx, view(kb.b[:primaryLen]))
	if err != nil {
		if !errors.Is(err, ErrMiss) {
			c.log.LogAttrs(ctx, slog.LevelDebug, "cache: store get failed", slog.String("zone", c.zone.Name), slog.Any("error", err))
		}
		return nil, "uri-miss"
	}
	if e.Vary == nil {
		return e, ""
	}
	kb.b = c.appendVariant(kb.b[:primaryLen], e.Vary, r.Header)
	ve, err := c.zone.Store.Get(ctx, view(kb.b))
	if err != nil || ve.ResponseTime.Before(e.ResponseTime) {
		return nil, "vary-miss"
	}
	return ve, ""
}

// appendVariant appends to a primary key the part that names the variant
// selected by the request fields h for the Vary field names.
func (c *cacher) appendVariant(b []byte, names []string, h http.Header) []byte {
	b = append(b, 0, 'v')
	return append(b, varyKey(names, h, c.normalizeAE)...)
}

// bypass reports whether the route's bypass rules send r past the cache.
func (c *cacher) bypass(r *http.Request) bool {
	for _, m := range c.cfg.Bypass.Methods {
		if r.Method == m {
			return true
		}
	}
	for _, name := range c.bypassHeaders {
		if vv := r.Header[name]; len(vv) > 0 && vv[0] != "" {
			return true
		}
	}
	for _, name := range c.cfg.Bypass.Cookies {
		if _, ok := cookieValue(r.Header, name); ok {
			return true
		}
	}
	// Protocol upgrades are never cached.
	if _, ok := r.Header["Upgrade"]; ok {
		return true
	}
	return false
}

// forwardUncached sends r to the upstream without the cache, saying why in
// Cache-Status.
func (c *cacher) forwardUncached(next http.Handler, w http.ResponseWriter, r *http.Request, why string) {
	c.setStatus(w.Header(), cacheStatus{fwd: why})
	middleware.StateFrom(r.Context()).CacheStatus = strings.ToUpper(why)
	next.ServeHTTP(w, r)
}
