package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"palisade/internal/middleware"
)

// purge answers a PURGE request from a client in the route's purge.allow
// (403 for others). It removes, from the zone:
//   - with a Purge-Tag or Surrogate-Key request field: every entry tagged
//     with one of the tags it lists (space or comma separated), whatever
//     its URL;
//   - for a path ending in "*": every entry whose URL starts with the
//     request's URL up to the "*" (a query is part of the prefix);
//   - otherwise: the entries of the request's exact URL, every method and
//     variant: the keys that are the URL, or begin with it and a NUL.
//
// It answers 200 with the number of entries removed in the body.
func (c *cacher) purge(w http.ResponseWriter, r *http.Request) {
	st := middleware.StateFrom(r.Context())
	if !c.purgeAllowed(st) {
		middleware.WriteError(w, r, http.StatusForbidden, fmt.Errorf("cache: PURGE from %v not allowed", st.ClientIP))
		return
	}
	st.CacheStatus = "PURGE"
	n, err := c.purgeFor(r.Context(), r)
	if err != nil {
		c.log.LogAttrs(r.Context(), slog.LevelWarn, "cache: purge failed", slog.String("zone", c.zone.Name),
			slog.String("request_id", st.ID), slog.Any("error", err))
		middleware.WriteError(w, r, http.StatusServiceUnavailable, err)
		return
	}
	w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
	w.Header()["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "purged %d\n", n)
}

func (c *cacher) purgeAllowed(st *middleware.State) bool {
	ip := st.ClientIP
	if !ip.IsValid() {
		ip = st.Peer.Addr()
	}
	ip = ip.Unmap()
	for _, p := range c.purgeAllow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (c *cacher) purgeFor(ctx context.Context, r *http.Request) (int, error) {
	if tags := purgeTags(r.Header); len(tags) > 0 {
		total := 0
		for _, t := range tags {
			n, err := c.zone.Store.Purge(ctx, Selector{Tag: t})
			total += n
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	u := string(c.key.appendURL(nil, r))
	if prefix, ok := strings.CutSuffix(u, "*"); ok {
		return c.zone.Store.Purge(ctx, Selector{Prefix: prefix})
	}
	n, err := c.zone.Store.Purge(ctx, Selector{Prefix: u + "\x00"})
	if err != nil {
		return n, err
	}
	// A key without method, header or cookie parts (a route's custom
	// key list) is the bare URL, which the prefix does not match; the
	// zone may hold one from any of its routes.
	if _, err := c.zone.Store.Get(ctx, u); err != nil {
		if errors.Is(err, ErrMiss) {
			err = nil
		}
		return n, err
	}
	if err := c.zone.Store.Delete(ctx, u); err != nil {
		return n, err
	}
	return n + 1, nil
}

// purgeTags returns the tags a PURGE request names.
func purgeTags(h http.Header) []string {
	var tags []string
	for _, name := range [...]string{"Purge-Tag", "Surrogate-Key"} {
		for _, v := range h[name] {
			tags = append(tags, strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })...)
		}
	}
	return tags
}

// invalidating forwards a request with an unsafe method and, when its
// response is a success (2xx or 3xx), invalidates (RFC 9111 §4.4) the
// stored responses of its target URI and of the Location and
// Content-Location URIs on the same host. Invalidation deletes the primary
// entries, which makes the variants under them unreachable, so it costs a
// delete per URI, never a walk of the store; it runs when the response head
// is written, before the client can ask again.
func (c *cacher) invalidating(next http.Handler, w http.ResponseWriter, r *http.Request) {
	iw := &invalidateWriter{ResponseWriter: w, c: c, r: r}
	next.ServeHTTP(iw, r)
}

type invalidateWriter struct {
	http.ResponseWriter
	c           *cacher
	r           *http.Request
	wroteHeader bool
}

func (iw *invalidateWriter) WriteHeader(status int) {
	if !iw.wroteHeader && status >= 200 {
		iw.wroteHeader = true
		if status < 400 {
			iw.c.invalidate(iw.r, iw.Header())
		}
	}
	iw.ResponseWriter.WriteHeader(status)
}

func (iw *invalidateWriter) Write(p []byte) (int, error) {
	if !iw.wroteHeader {
		iw.WriteHeader(http.StatusOK)
	}
	return iw.ResponseWriter.Write(p)
}

// Flush, Unwrap and Splice pass through: the body is not touched.
func (iw *invalidateWriter) Flush() {
	if !iw.wroteHeader {
		iw.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(iw.ResponseWriter).Flush()
}

func (iw *invalidateWriter) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

func (iw *invalidateWriter) Splice(src syscall.RawConn, n int64) (int64, bool, error) {
	if !iw.wroteHeader {
		iw.WriteHeader(http.StatusOK)
	}
	s, ok := iw.ResponseWriter.(middleware.Splicer)
	if !ok {
		return 0, false, nil
	}
	return s.Splice(src, n)
}

var _ middleware.Splicer = (*invalidateWriter)(nil)

// invalidate deletes the primary entries of r's target URI and of the
// same-host URIs in the response's Location and Content-Location.
func (c *cacher) invalidate(r *http.Request, h http.Header) {
	ctx := r.Context()
	del := func(target *http.Request) {
		get := *target
		get.Method = http.MethodGet
		key := c.key.appendKey(nil, &get)
		if err := c.zone.Store.Delete(ctx, string(key)); err != nil {
			c.log.LogAttrs(ctx, slog.LevelDebug, "cache: store delete failed", slog.String("zone", c.zone.Name), slog.Any("error", err))
		}
	}
	del(r)
	for _, f := range [...]string{"Location", "Content-Location"} {
		v := h[f]
		if len(v) != 1 {
			continue
		}
		u, err := r.URL.Parse(v[0])
		if err != nil {
			continue
		}
		if u.IsAbs() || u.Host != "" {
			if !strings.EqualFold(u.Host, r.Host) {
				continue // §4.4: only URIs with the same host.
			}
		}
		other := *r
		other.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
		del(&other)
	}
}
