package cache

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"palisade/internal/middleware"
)

// refreshTimeout bounds a background refresh beyond the upstream's own
// timeouts.
const refreshTimeout = time.Minute

// refresh revalidates the stale response stale of key in the background
// (RFC 5861 §3), after it was served to r's client. At most one refresh
// per key runs at a time (it is the key's fill, which concurrent misses
// wait on), and at most the zone's bound in flight: beyond it nothing is
// started and a later request tries again. It is the one goroutine the
// cache starts, one per refresh, never per request.
func (c *cacher) refresh(next http.Handler, r *http.Request, key string, primaryLen int, stale *Entry, v verdict) {
	z := c.zone
	f, leader := z.fills.start(key)
	if !leader {
		return
	}
	if z.refreshes.Add(1) > z.maxRefreshes {
		z.refreshes.Add(-1)
		z.fills.finish(key, f)
		return
	}
	// The request belongs to its client's connection and State; the
	// refresh gets copies that outlive it.
	orig := middleware.StateFrom(r.Context())
	st := &middleware.State{ID: orig.ID, Start: time.Now(), Listener: orig.Listener, Peer: orig.Peer,
		PeerTrusted: orig.PeerTrusted, ClientIP: orig.ClientIP, Route: orig.Route}
	ctx, cancel := context.WithTimeout(middleware.WithState(context.Background(), st), refreshTimeout)
	out := r.Clone(ctx)
	out.Body = http.NoBody
	out.Method = http.MethodGet
	go func() {
		defer z.refreshes.Add(-1)
		defer cancel()
		defer z.fills.finish(key, f)
		defer func() {
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				c.log.Error("cache: background refresh panicked", "zone", z.Name, "request_id", st.ID, "panic", p)
			}
		}()
		fw := &fillWriter{c: c, req: out, stale: stale, staleVerdict: v, key: key, primaryLen: primaryLen, reqDirs: noDirectives()}
		c.forward(next, fw, out)
		if st.Err != nil {
			c.log.LogAttrs(ctx, slog.LevelDebug, "cache: background refresh failed", slog.String("zone", z.Name),
				slog.String("request_id", st.ID), slog.Any("error", st.Err))
		}
	}()
}
