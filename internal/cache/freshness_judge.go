package cache

import (
	"net/http"
	"time"
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

// staleWindows returns how long past its freshness a response with
// directives d may be served while revalidating and on error: its own
// stale-while-revalidate and stale-if-error, bounded by the route's, or
// the route's when it forces them on responses that ask for none. None
// when the response forbids serving it stale (RFC 9111 §4.2.4:
// must-revalidate, proxy-revalidate, s-maxage, no-cache).
func (c *cacher) staleWindows(d directives) (whileRevalidate, ifError time.Duration) {
	if d.mustRevalidate || d.proxyRevalidate || d.sMaxAge >= 0 || d.noCache {
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
	return window(d.staleWhileRevalidate, c.cfg.StaleWhileRevalidate.D()), window(d.staleIfError, c.cfg.StaleIfError.D())
}

// judge decides what may be done with the stored response e at now for a
// request with directives rd (RFC 9111 §4.2, §5.2.1; RFC 5861).
func (c *cacher) judge(e *Entry, now time.Time, rd *directives) verdict {
	d := c.responseDirectives(e.Header, e.Status)
	v := verdict{
		lifetime: c.lifetime(d, e.Header, e.ResponseTime),
		age:      currentAge(e.Header, e.RequestTime, e.ResponseTime, now),
	}
	// RFC 9111 §5.2.2.4: no-cache, and §5.2.1.4: the client's no-cache,
	// mean a stored response is never sent without validation.
	if d.noCache {
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
	swr, sie := c.staleWindows(d)
	// RFC 5861 §4: stale-if-error may come from the request too.
	if rd.staleIfError >= 0 && !(d.mustRevalidate || d.proxyRevalidate || d.sMaxAge >= 0) {
		sie = max(sie, min(deltaDuration(rd.staleIfError), c.cfg.StaleIfError.D()))
	}
	v.ifError = staleness <= sie
	mayBeStale := !(d.mustRevalidate || d.proxyRevalidate || d.sMaxAge >= 0)
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

// retention is how long past the time of its storing an entry stays in
// the store: its remaining freshness, then the longer of its stale
// windows; one with validators stays at least as long again as its
// lifetime (between 1m and 24h) so that it can be revalidated instead of
// fetched whole.
func (c *cacher) retention(d directives, lifetime, age time.Duration, hasValidators bool) time.Duration {
	swr, sie := c.staleWindows(d)
	grace := max(swr, sie)
	if hasValidators {
		grace = max(grace, min(max(lifetime, time.Minute), 24*time.Hour))
	}
	return max(lifetime-age, 0) + grace
}
