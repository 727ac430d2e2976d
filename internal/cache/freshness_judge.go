package cache

import (
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"time"

	"palisade/internal/config"
)

// verdict is what the cache may do with a stored response for one request.
type verdict struct {
	age, lifetime time.Duration
	// servable: the response may be sent without asking the upstream
	// (fresh, or stale within the max-stale the client accepts).
	servable bool
	// whileRevalidate: stale, but within stale-while-revalidate; it may
	// be sent while a refresh runs in the background (RFC 5861 §3).
	whileRevalidate bool
	// ifError: stale, but within stale-if-error; it may be sent when
	// the upstream fails (RFC 5861 §4).
	ifError bool
	// byRequest: fresh, and servable but for the request's directives
	// (RFC 9211 §2.2 fwd=request).
	byRequest bool
}

// ttl is the response's remaining freshness, negative when stale.
func (v verdict) ttl() time.Duration { return v.lifetime - v.age }

// responseDirectives returns the directives this cache obeys for a
// response: those of the first targeted field present (RFC 9213 §2.2),
// else Cache-Control; status is the response's.
func (c *cacher) responseDirectives(h http.Header, status int) directives {
	return responseDirectives(status, h, c.cfg.TargetedField, c.cfg.CDNCacheControl)
}

// lifetime returns the freshness lifetime of a response with directives
// d and header h received at responseTime, with the route's heuristic and
// default TTL.
func (c *cacher) lifetime(d directives, h http.Header, responseTime time.Time) time.Duration {
	l, heuristic := freshnessLifetime(d, h, responseTime, float64(c.cfg.HeuristicFraction), c.cfg.HeuristicMax.D())
	if !heuristic && l == 0 && c.cfg.DefaultTTL > 0 && !hasExplicitFreshness(d, h) {
		l = c.cfg.DefaultTTL.D()
	}
	return l
}

// freshnessOf returns the Freshness of a response with directives d and
// header h, requested at requestTime and received at responseTime, under
// the route's settings.
func (c *cacher) freshnessOf(d directives, h http.Header, requestTime, responseTime time.Time) Freshness {
	f := Freshness{
		Policy:               c.policy,
		Lifetime:             c.lifetime(d, h, responseTime),
		InitialAge:           currentAge(h, requestTime, responseTime, responseTime),
		StaleWhileRevalidate: d.staleWhileRevalidate,
		StaleIfError:         d.staleIfError,
	}
	for _, fl := range [...]struct {
		on   bool
		flag FreshnessFlags
	}{
		{d.noCache, FreshNoCache},
		{d.mustRevalidate, FreshMustRevalidate},
		{d.proxyRevalidate, FreshProxyRevalidate},
		{d.sMaxAge >= 0, FreshSMaxAge},
		{d.immutable, FreshImmutable},
	} {
		if fl.on {
			f.Flags |= fl.flag
		}
	}
	return f
}

// freshness returns e's Freshness: the one stored with it when it was
// computed under this route's settings, else worked out from its header
// (an entry from another route of the zone, or from an older store
// encoding).
func (c *cacher) freshness(e *Entry) Freshness {
	if e.Freshness.Policy == c.policy {
		return e.Freshness
	}
	return c.freshnessOf(c.responseDirectives(e.Header, e.Status), e.Header, e.RequestTime, e.ResponseTime)
}

// freshnessPolicy identifies the settings of cfg that Freshness depends
// on: an FNV-1a hash, the same in every process (a Redis zone is shared
// by a fleet), never 0.
func freshnessPolicy(cfg config.Cache) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "v1\x00%s\x00%t\x00%x\x00%d\x00%d", http.CanonicalHeaderKey(cfg.TargetedField), cfg.CDNCacheControl,
		math.Float64bits(float64(cfg.HeuristicFraction)), cfg.HeuristicMax.D(), cfg.DefaultTTL.D())
	return max(h.Sum64(), 1)
}

// staleWindows returns how long past its freshness a response with
// freshness f may be served while revalidating and on error: its own
// stale-while-revalidate and stale-if-error, bounded by the route's, or
// the route's when it forces them on responses that ask for none. None
// when the response forbids serving it stale (RFC 9111 §4.2.4:
// must-revalidate, proxy-revalidate, s-maxage, no-cache).
func (c *cacher) staleWindows(f Freshness) (whileRevalidate, ifError time.Duration) {
	if f.Flags.noStale() || f.Flags&FreshNoCache != 0 {
		return 0, 0
	}
	window := func(asked int64, bound time.Duration) time.Duration {
		switch {
		case asked >= 0:
			return min(deltaDuration(asked), bound)
		case c.cfg.ForceStale:
			return bound
		}
		return 0
	}
	return window(f.StaleWhileRevalidate, c.cfg.StaleWhileRevalidate.D()), window(f.StaleIfError, c.cfg.StaleIfError.D())
}

// judge decides what may be done with the stored response e at now for a
// request with directives rd (RFC 9111 §4.2, §5.2.1; RFC 5861). It parses
// nothing when e's Freshness is this route's.
func (c *cacher) judge(e *Entry, now time.Time, rd *directives) verdict {
	f := c.freshness(e)
	v := verdict{
		lifetime: f.Lifetime,
		// RFC 9111 §4.2.3: current_age = corrected_initial_age +
		// resident_time.
		age: f.InitialAge + max(0, now.Sub(e.ResponseTime)),
	}
	// RFC 9111 §5.2.2.4: no-cache, and §5.2.1.4: the client's no-cache,
	// mean a stored response is never sent without validation.
	if f.Flags&FreshNoCache != 0 {
		return v
	}
	if rd.noCache ||
		rd.maxAge >= 0 && v.age > deltaDuration(rd.maxAge) || // §5.2.1.1
		rd.minFresh >= 0 && v.ttl() < deltaDuration(rd.minFresh) { // §5.2.1.3
		v.byRequest = v.ttl() > 0
		return v
	}
	if v.ttl() > 0 {
		v.servable = true
		return v
	}
	staleness := -v.ttl()
	swr, sie := c.staleWindows(f)
	mayBeStale := !f.Flags.noStale()
	// RFC 5861 §4: stale-if-error may come from the request too.
	if rd.staleIfError >= 0 && mayBeStale {
		sie = max(sie, min(deltaDuration(rd.staleIfError), c.cfg.StaleIfError.D()))
	}
	v.ifError = staleness <= sie
	// §5.2.1.2: the client accepts a stale response, unless the
	// response forbids it (§4.2.4).
	if mayBeStale && (rd.maxStaleAny || (rd.maxStale >= 0 && staleness <= deltaDuration(rd.maxStale))) {
		v.servable = true
		return v
	}
	// A client that asks for a minimum freshness or a maximum age is
	// not given a stale response while we revalidate.
	v.whileRevalidate = staleness <= swr && rd.maxAge < 0 && rd.minFresh < 0
	return v
}

// retention is how long past the time of its storing an entry with
// freshness f stays in the store: its remaining freshness, then the
// longer of its stale windows; one with validators stays at least as
// long again as its lifetime (between 1m and 24h) so that it can be
// revalidated instead of fetched whole.
func (c *cacher) retention(f Freshness, hasValidators bool) time.Duration {
	swr, sie := c.staleWindows(f)
	grace := max(swr, sie)
	if hasValidators {
		grace = max(grace, min(max(f.Lifetime, time.Minute), 24*time.Hour))
	}
	return max(f.Lifetime-f.InitialAge, 0) + grace
}
