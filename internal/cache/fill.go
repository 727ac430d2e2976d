package cache

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"palisade/internal/middleware"
)

// fetch forwards r to the upstream because nothing stored may be sent for
// it: a miss, or the stored response stale (revalidated with its
// validators, §4.3.1). kb holds r's key (the primary key, kb.b[:primaryLen],
// then the variant part when the stored primary entry recorded a Vary);
// fwd is why it goes forward (fwdReason). Unless waited, a request that
// finds a fill of the same key in progress waits for it (at most
// LockTimeout) and looks again: it is collapsed with the fill's request
// when that stored a response it may be sent (RFC 9211 §2.6), and goes
// forward itself otherwise, waited then set. The leader's response
// streams to its client while it is stored.
func (c *cacher) fetch(next http.Handler, w http.ResponseWriter, r *http.Request, kb *keyBuf, primaryLen int, stale *Entry, v verdict, rd *directives, fwd string, waited bool) {
	z := c.zone
	fk := string(kb.b)
	fw := &fillWriter{c: c, client: w, req: r, stale: stale, staleVerdict: v, fwd: fwd, collapseFailed: waited,
		key: fk, primaryLen: primaryLen, reqDirs: *rd, noStore: rd.noStore || r.Method == http.MethodHead}
	if !waited && !fw.noStore {
		f, leader := z.fills.start(fk)
		if !leader {
			if c.wait(r.Context(), f) {
				e, miss := c.lookup(r.Context(), kb, primaryLen, r)
				if e != nil {
					v = c.judge(e, time.Now(), rd)
					if v.servable {
						c.serveHit(w, r, e, v, hitCollapsed, cacheStatus{fwd: fwd, fwdStatus: e.Status, collapsed: collapsedYes})
						return
					}
				}
				stale, fwd = e, fwdReason(e, miss, v)
			}
			c.fetch(next, w, r, kb, primaryLen, stale, v, rd, fwd, true)
			return
		}
		fw.fill = f
		defer z.fills.finish(fk, f)
	}
	z.Misses.Add(1)
	c.forward(next, fw, r)
}

// wait waits for f to finish, at most LockTimeout; false when the time
// ran out or the client went away.
func (c *cacher) wait(ctx context.Context, f *fill) bool {
	select {
	case <-f.done:
		return true
	default:
	}
	t := time.NewTimer(c.cfg.LockTimeout.D())
	defer t.Stop()
	select {
	case <-f.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// forward sends the upstream request for fw and finishes the response.
func (c *cacher) forward(next http.Handler, fw *fillWriter, r *http.Request) {
	out := r.Clone(r.Context())
	if !fw.noStore {
		// The client's own conditionals and ranges are answered from
		// the complete stored response; the upstream is asked for it
		// whole. Unless it cannot be stored: a range of a key whose
		// last fill found its response too large or unstorable is
		// asked for as the client asked, rather than fetching the
		// whole object to send all of it (a background refresh, with
		// no client, always asks for the whole).
		_, ranged := out.Header["Range"]
		fw.rangePassed = ranged && fw.client != nil && fw.c.zone.fills.unstorable(fw.key, time.Now())
		for _, f := range [...]string{"If-None-Match", "If-Modified-Since", "Range", "If-Range"} {
			if fw.rangePassed && (f == "Range" || f == "If-Range") {
				continue
			}
			if _, ok := out.Header[f]; ok {
				fw.hold = true
				delete(out.Header, f)
			}
		}
	}
	if s := fw.stale; s != nil {
		// RFC 9111 §4.3.1: validate with the stored validators.
		if et := s.Header["Etag"]; len(et) > 0 {
			out.Header["If-None-Match"] = et
			fw.revalidating = true
		}
		if lm := s.Header["Last-Modified"]; len(lm) > 0 {
			out.Header["If-Modified-Since"] = lm
			fw.revalidating = true
		}
	}
	fw.hdr = make(http.Header)
	fw.requestTime = time.Now()
	completed := false
	defer func() { fw.finish(completed) }()
	next.ServeHTTP(fw, out)
	completed = true
}

// writeMode is what a fillWriter does with the response body.
type writeMode uint8

const (
	modePass    writeMode = iota // to the client only
	modeTee                      // to the client and the buffer
	modeHold                     // to the buffer; the client gets it when complete
	modeSwallow                  // nowhere: a 304 to our revalidation, or an error hidden by a stale response
)

// fillWriter is the ResponseWriter the upstream response of a fill is
// written to. It decides at the response head whether the response may be
// stored, and then streams the body to the client while keeping a copy
// (bounded by the zone's MaxObjectSize: an object that outgrows it is
// dropped from the store, never from the client's response). It belongs
// to one request and its goroutine.
type fillWriter struct {
	c      *cacher
	client http.ResponseWriter // nil for a background refresh
	req    *http.Request       // the client's request, for its Vary fields
	hdr    http.Header

	key        string // the key the fill runs under
	primaryLen int
	fill       *fill // nil when not coalescing
	stale      *Entry
	// staleVerdict is what may be done with stale.
	staleVerdict verdict
	noStore      bool
	reqDirs      directives
	// fwd is why the request went forward, for Cache-Status (fwdReason);
	// collapseFailed that it waited on another request's fill in vain.
	fwd            string
	collapseFailed bool
	// hold keeps the whole response back until it is complete, because
	// the client's conditionals or ranges are answered from it.
	hold, revalidating bool
	// rangePassed: the client's Range went to the upstream, the key's
	// response being known to be unstorable.
	rangePassed bool

	requestTime, responseTime time.Time
	wroteHeader               bool
	status                    int
	mode                      writeMode
	dirs                      directives
	body                      []byte
	headSent                  bool
}

var (
	_ http.Flusher       = (*fillWriter)(nil)
	_ middleware.Splicer = (*fillWriter)(nil)
)

func (fw *fillWriter) Header() http.Header { return fw.hdr }

// WriteHeader makes the response's one decision. Informational heads are
// dropped: the response may be held back, and a stored one has none.
func (fw *fillWriter) WriteHeader(status int) {
	if fw.wroteHeader || status < 200 {
		return
	}
	fw.wroteHeader = true
	fw.status = status
	fw.responseTime = time.Now()
	switch {
	case fw.revalidating && status == http.StatusNotModified:
		fw.mode = modeSwallow
		return
	case fw.stale != nil && fw.staleVerdict.ifError && status >= 500:
		// RFC 5861 §4: the stale response stands in for the error.
		fw.mode = modeSwallow
		return
	}
	if fw.mayStore() {
		fw.mode = modeTee
		if fw.hold || fw.client == nil {
			fw.mode = modeHold
		}
		if fw.mode == modeTee {
			fw.sendHead(true)
		}
		return
	}
	fw.learnedUnstorable()
	fw.release()
	fw.mode = modePass
	fw.sendHead(false)
}

// learnedUnstorable records that fw's response cannot be stored, for the
// Range misses of its key that follow (forward). Only a fill that asked
// for the whole object, for a request that could have stored it, says
// so: a no-store request or a passed range tells nothing about the
// object, and the hint expires rather than being renewed by the requests
// it lets pass.
func (fw *fillWriter) learnedUnstorable() {
	if fw.noStore || fw.rangePassed {
		return
	}
	fw.c.zone.fills.markUnstorable(fw.key, time.Now())
}

// mayStore reports whether the response whose head fw holds may be
// stored (RFC 9111 §3) under the route's rules.
func (fw *fillWriter) mayStore() bool {
	c := fw.c
	if fw.noStore {
		return false
	}
	if n := contentLength(fw.hdr); n > c.zone.MaxObjectSize {
		return false
	}
	// Set-Cookie is storable's to judge: refused unless the route stores
	// it or private="Set-Cookie" strips it from the stored copy.
	var ok bool
	fw.dirs, ok = c.storableHead(fw.req, fw.reqDirs, fw.status, fw.hdr, fw.responseTime)
	return ok
}

// storableHead reports whether a response with status and header h,
// received at responseTime for req (whose directives are reqDirs), may be
// stored (RFC 9111 §3) under the route's rules as far as its head says,
// and returns the directives the cache obeys for it. It judges a new
// response's head and a stored one updated by a 304 alike.
func (c *cacher) storableHead(req *http.Request, reqDirs directives, status int, h http.Header, responseTime time.Time) (directives, bool) {
	d := c.responseDirectives(h, status)
	if _, ok := h["Trailer"]; ok {
		return d, false
	}
	names, star := varyNames(h)
	if star {
		return d, false // RFC 9111 §4.1: Vary: * never matches.
	}
	if c.normalizeAE != nil && slices.Contains(names, "Accept-Encoding") && !codingSelected(req.Header, h, c.normalizeAE) {
		return d, false
	}
	if ok, _ := storable(req, reqDirs, status, h, d, c.storeOpts); !ok {
		return d, false
	}
	lifetime := c.lifetime(d, h, responseTime)
	_, hasETag := h["Etag"]
	_, hasLM := h["Last-Modified"]
	return d, lifetime > 0 || hasETag || hasLM
}

// updateStorable reports whether e, fw's stale response updated by a 304,
// may be stored.
func (c *cacher) updateStorable(fw *fillWriter, e *Entry) bool {
	_, ok := c.storableHead(fw.req, fw.reqDirs, e.Status, e.Header, e.ResponseTime)
	return ok
}

// release lets the waiters of fw's fill go: the response will not be
// stored.
func (fw *fillWriter) release() {
	if fw.fill != nil {
		fw.c.zone.fills.finish(fw.key, fw.fill)
		fw.fill = nil
	}
}

// sendHead writes the response head to the client.
func (fw *fillWriter) sendHead(storing bool) {
	if fw.client == nil || fw.headSent {
		return
	}
	fw.headSent = true
	c := fw.c
	h := fw.client.Header()
	for k, vv := range fw.hdr {
		h[k] = vv
	}
	for _, k := range c.removed {
		delete(h, k)
	}
	// RFC 9211 §2.5: stored says the response was stored, and this
	// head leaves before the body: it is claimed only when the body's
	// declared length fits (mayStore has checked it against
	// MaxObjectSize), not for a body of unknown length, which may yet
	// outgrow it.
	st := fw.forwardStatus()
	st.stored = storing && contentLength(fw.hdr) >= 0
	ms := middleware.StateFrom(fw.req.Context())
	ms.CacheStatus = "MISS"
	if fw.stale != nil {
		ms.CacheStatus = "EXPIRED"
	}
	c.setStatus(h, st)
	fw.client.WriteHeader(fw.status)
}

func (fw *fillWriter) Write(p []byte) (int, error) {
	if !fw.wroteHeader {
		fw.WriteHeader(http.StatusOK)
	}
	switch fw.mode {
	case modeSwallow:
		return len(p), nil
	case modeHold, modeTee:
		if int64(len(fw.body)+len(p)) > fw.c.zone.MaxObjectSize {
			fw.outgrown()
			break
		}
		fw.buffer(p)
		if fw.mode == modeHold {
			return len(p), nil
		}
	}
	if fw.client == nil {
		return len(p), nil
	}
	return fw.client.Write(p)
}

// fillBufferStart is the capacity a fill's buffer starts with when the
// body's declared length is larger or unknown; a declared length up to it
// is allocated at once.
const fillBufferStart = 32 << 10

// buffer appends p, which fits MaxObjectSize, to the copy of the body
// being stored. The buffer is allocated at the first byte and grows by
// doubling as bytes arrive, never beyond the declared Content-Length, so
// that a fill holds memory in proportion to what it has received: many
// concurrent fills of large declared objects (or an upstream that
// declares more than it sends) cost what they have delivered, not their
// declared sizes.
func (fw *fillWriter) buffer(p []byte) {
	need := int64(len(fw.body) + len(p))
	if need > int64(cap(fw.body)) {
		limit := fw.c.zone.MaxObjectSize
		if n := contentLength(fw.hdr); n >= need {
			limit = n
		}
		size := max(2*int64(cap(fw.body)), need, fillBufferStart)
		b := make([]byte, len(fw.body), min(size, limit))
		copy(b, fw.body)
		fw.body = b
	}
	fw.body = append(fw.body, p...)
}

// outgrown drops the store of a response larger than MaxObjectSize; what
// was held back goes to the client, and the rest streams.
func (fw *fillWriter) outgrown() {
	held := fw.mode == modeHold
	fw.mode = modePass
	fw.learnedUnstorable()
	fw.release()
	if held && fw.client != nil {
		fw.sendHead(false)
		fw.client.Write(fw.body)
	}
	fw.body = nil
}

// Flush sends what the client has been given so far; a held response
// waits for its end.
func (fw *fillWriter) Flush() {
	if !fw.wroteHeader {
		fw.WriteHeader(http.StatusOK)
	}
	if fw.client == nil || !fw.headSent || fw.mode == modeHold || fw.mode == modeSwallow {
		return
	}
	http.NewResponseController(fw.client).Flush()
}

// Splice passes the body straight to the client only when it is not
// being stored or held: a body the cache keeps must go through Write.
func (fw *fillWriter) Splice(src syscall.RawConn, n int64) (int64, bool, error) {
	if !fw.wroteHeader {
		fw.WriteHeader(http.StatusOK)
	}
	s, ok := fw.client.(middleware.Splicer)
	if fw.mode != modePass || !ok {
		return 0, false, nil
	}
	return s.Splice(src, n)
}

// Unwrap returns the client's writer, for http.ResponseController;
// writing to it directly bypasses the cache.
func (fw *fillWriter) Unwrap() http.ResponseWriter {
	if fw.client == nil {
		return discard{}
	}
	return fw.client
}

// finish ends the response after the upstream handler returned
// (completed) or panicked: stores a complete response, answers the
// client from a revalidated or stale response, and wakes the waiters.
func (fw *fillWriter) finish(completed bool) {
	defer fw.release()
	if !completed {
		return // RFC 9111 §3.3: an incomplete response is never stored.
	}
	if !fw.wroteHeader {
		fw.WriteHeader(http.StatusOK)
	}
	c := fw.c
	ctx := fw.req.Context()
	switch fw.mode {
	case modeSwallow:
		if fw.status == http.StatusNotModified {
			e, sent := c.updated(fw.stale, fw.hdr, fw.requestTime, fw.responseTime)
			switch {
			case fw.noStore:
				// RFC 9111 §5.2.1.5: nothing is stored on behalf
				// of a no-store request (nor of a HEAD, whose
				// response updates no GET entry here); the stored
				// response stays as it was.
			case c.updateStorable(fw, e):
				c.set(ctx, fw.key, e)
			default:
				// The 304 made the response unstorable (private,
				// no-store, ...): it is this client's alone, and
				// the stored one must not be served again.
				c.delete(ctx, fw.key)
			}
			fw.release()
			if fw.client != nil {
				c.serveHit(fw.client, fw.req, sent, c.judge(sent, time.Now(), ptr(noDirectives())), hitRevalidated, fw.forwardStatus())
			}
			return
		}
		if fw.client != nil {
			c.serveHit(fw.client, fw.req, fw.stale, c.judge(fw.stale, time.Now(), ptr(noDirectives())), hitStale, fw.forwardStatus())
		}
		return
	case modeTee, modeHold:
		if n := contentLength(fw.hdr); n >= 0 && n != int64(len(fw.body)) {
			// RFC 9111 §3.4: a body shorter than its Content-Length is
			// incomplete.
			return
		}
		e := c.newEntry(fw)
		c.store(ctx, fw, e)
		fw.release()
		if fw.mode == modeHold && fw.client != nil {
			c.serveHit(fw.client, fw.req, e, c.judge(e, time.Now(), ptr(noDirectives())), hitFilled, fw.forwardStatus())
		}
	}
}

func ptr[T any](v T) *T { return &v }

// forwardStatus is the Cache-Status member of fw's request so far: why
// it went forward, what the upstream answered, and whether it waited on
// another request's fill in vain.
func (fw *fillWriter) forwardStatus() cacheStatus {
	st := cacheStatus{fwd: fw.fwd, fwdStatus: fw.status}
	if fw.collapseFailed {
		st.collapsed = collapsedNo
	}
	return st
}

// newEntry returns the stored form of fw's response.
func (c *cacher) newEntry(fw *fillWriter) *Entry {
	h := keptHeader(fw.hdr, fw.dirs)
	h["Content-Length"] = []string{strconv.Itoa(len(fw.body))}
	body := fw.body
	if cap(body) > len(body)+len(body)/8 {
		body = bytes.Clone(body)
	}
	e := &Entry{
		Status:       fw.status,
		Header:       h,
		Body:         body[:len(body):len(body)],
		RequestTime:  fw.requestTime,
		ResponseTime: fw.responseTime,
		Tags:         c.tags(h),
	}
	c.setFreshness(e, fw.dirs)
	return e
}

// setFreshness sets e's Freshness from its directives d, and when the
// store may drop it.
func (c *cacher) setFreshness(e *Entry, d directives) {
	e.Freshness = c.freshnessOf(d, e.Header, e.RequestTime, e.ResponseTime)
	_, hasETag := e.Header["Etag"]
	_, hasLM := e.Header["Last-Modified"]
	e.Expires = e.ResponseTime.Add(c.retention(e.Freshness, hasETag || hasLM))
}

// keptHeader returns the fields of h the cache stores (storedHeader), also
// without those a qualified no-cache lists (RFC 9111 §5.2.2.4: not to be
// sent without revalidation; we drop them rather than revalidate for them),
// each value slice with no room to append into, so that a hit sharing it
// cannot write into the entry.
func keptHeader(h http.Header, d directives) http.Header {
	out := storedHeader(h, d)
	for _, f := range d.noCacheFields {
		delete(out, f)
	}
	for k, vv := range out {
		out[k] = slices.Clip(vv)
	}
	return out
}

// tags returns the purge tags of a response: the values of the route's
// tag header fields, split on spaces and commas.
func (c *cacher) tags(h http.Header) []string {
	var tags []string
	for _, name := range c.tagHeaders {
		for _, v := range h[name] {
			for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
				if !slices.Contains(tags, t) {
					tags = append(tags, t)
				}
			}
		}
	}
	return tags
}

// store writes e under fw's keys: directly under the primary key when the
// response has no Vary, else under its variant key, with a primary entry
// that records the Vary field names (RFC 9111 §4.1). The primary entry is
// rewritten only when it is missing or its names change, so its
// ResponseTime dates the variants that belong to it.
func (c *cacher) store(ctx context.Context, fw *fillWriter, e *Entry) {
	names, _ := varyNames(e.Header)
	kb := c.keyBufs.Get().(*keyBuf)
	defer c.keyBufs.Put(kb)
	kb.b = append(kb.b[:0], fw.key[:fw.primaryLen]...)
	if len(names) == 0 {
		c.set(ctx, string(kb.b), e)
		return
	}
	primary := string(kb.b)
	old, err := c.zone.Store.Get(ctx, primary)
	switch {
	case err != nil || !slices.Equal(old.Vary, names):
		c.set(ctx, primary, &Entry{Vary: names, RequestTime: e.ResponseTime, ResponseTime: e.ResponseTime, Expires: e.Expires})
	case old.Expires.Before(e.Expires):
		c.set(ctx, primary, &Entry{Vary: names, RequestTime: old.RequestTime, ResponseTime: old.ResponseTime, Expires: e.Expires})
	}
	kb.b = c.appendVariant(kb.b, names, fw.req.Header)
	c.set(ctx, string(kb.b), e)
}

// set stores e under key; a store failure is logged and otherwise a miss
// later.
func (c *cacher) set(ctx context.Context, key string, e *Entry) {
	if err := c.zone.Store.Set(ctx, key, e); err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "cache: store set failed", slog.String("zone", c.zone.Name), slog.Any("error", err))
	}
}

// delete removes the entry under key; a store failure is logged.
func (c *cacher) delete(ctx context.Context, key string) {
	if err := c.zone.Store.Delete(ctx, key); err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "cache: store delete failed", slog.String("zone", c.zone.Name), slog.Any("error", err))
	}
}

// updated returns the stored response s freshened by a 304 with header
// h (RFC 9111 §4.3.4, §3.2): its fields replaced by the 304's, except
// Content-Length, with the 304's request and response times. The 304's
// Set-Cookie is held to the rule for storing (storable): it is merged
// only on a route with store_set_cookie, and then not when private lists
// it, so that a cookie issued to the client that caused the revalidation
// is not replayed to every later one. sent is what that client is sent:
// the stored response, with the 304's Set-Cookie when the stored one does
// not keep it.
func (c *cacher) updated(s *Entry, h http.Header, requestTime, responseTime time.Time) (stored, sent *Entry) {
	merged := make(http.Header, len(s.Header)+len(h))
	for k, vv := range s.Header {
		merged[k] = vv
	}
	for k, vv := range h {
		if k == "Content-Length" || k == "Set-Cookie" && !c.cfg.StoreSetCookie {
			continue
		}
		merged[k] = slices.Clip(slices.Clone(vv))
	}
	d := c.responseDirectives(merged, s.Status)
	merged = keptHeader(merged, d)
	e := &Entry{Status: s.Status, Header: merged, Body: s.Body, RequestTime: requestTime, ResponseTime: responseTime}
	e.Tags = c.tags(merged)
	c.setFreshness(e, d)
	cookie := h["Set-Cookie"]
	if len(cookie) == 0 || slices.Equal(e.Header["Set-Cookie"], cookie) {
		return e, e
	}
	own := *e
	own.Header = maps.Clone(e.Header)
	own.Header["Set-Cookie"] = slices.Clip(slices.Clone(cookie))
	return e, &own
}

// contentLength returns the declared Content-Length of h, or -1.
func contentLength(h http.Header) int64 {
	cl := h["Content-Length"]
	if len(cl) != 1 {
		return -1
	}
	n, err := strconv.ParseInt(cl[0], 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// discard is the client of a background refresh.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
