package cache

import (
	"errors"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"palisade/internal/middleware"
)

// hitKind says why a stored response is being sent.
type hitKind uint8

const (
	hitFresh       hitKind = iota // fresh, or stale as the client allows
	hitStale                      // stale while revalidating, or on error
	hitRevalidated                // the upstream confirmed it with a 304
	hitFilled                     // just stored by this request's own fill
	hitCollapsed                  // stored by the fill this request waited on
)

// serveHit answers r from the stored response e, which may be sent for
// it: the stored header fields (without this cache's targeted field), a
// current Age (RFC 9111 §5.1: on every response from the cache),
// Cache-Status, and then the client's own conditionals answered from e
// (RFC 9110 §13.2: 304 or 412), a Range answered from the complete body
// (RFC 9110 §14), or the whole response. The stored slices are shared,
// not copied: they have no room to append into, so a later Add
// reallocates instead of writing into the entry.
//
// st is the Cache-Status member so far: empty for a request that did not
// go forward (a hit, RFC 9211 §2.1), else its fwd reason, fwd-status and
// collapsed; serveHit adds the ttl, and stored for hitFilled.
func (c *cacher) serveHit(w http.ResponseWriter, r *http.Request, e *Entry, v verdict, kind hitKind, st cacheStatus) {
	h := w.Header()
	for k, vv := range e.Header {
		h[k] = vv
	}
	for _, k := range c.removed {
		delete(h, k)
	}
	h["Age"] = ageField(v.age)
	z := c.zone
	ms := middleware.StateFrom(r.Context())
	switch kind {
	case hitFresh, hitCollapsed:
		z.Hits.Add(1)
		ms.CacheStatus = "HIT"
	case hitStale:
		z.Stale.Add(1)
		ms.CacheStatus = "STALE"
	case hitRevalidated:
		z.Revalidated.Add(1)
		ms.CacheStatus = "REVALIDATED"
	case hitFilled:
		ms.CacheStatus = "MISS"
		st.stored = true
	}
	st.hit = st.fwd == ""
	st.ttl, st.hasTTL = v.ttl(), true
	c.setStatus(h, st)
	if status := evaluateConditional(r, e.Header); status != 0 {
		delete(h, "Content-Length")
		w.WriteHeader(status)
		return
	}
	if rg := r.Header["Range"]; len(rg) == 1 && r.Method == http.MethodGet && e.Status == http.StatusOK && ifRangeMatches(r, e.Header) {
		// RFC 9110 §14.2: a Range served from the complete stored body.
		ranges, err := parseRange(rg[0], int64(len(e.Body)))
		switch {
		case errors.Is(err, errUnsatisfiable):
			serveUnsatisfiable(w, int64(len(e.Body)))
			return
		case len(ranges) > 0:
			for _, k := range c.removed {
				delete(h, k)
			}
			serveRanges(w, e.Status, h, e.Body, ranges)
			for _, br := range ranges {
				z.BytesServed.Add(br.length)
			}
			return
		}
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		n, _ := w.Write(e.Body)
		z.BytesServed.Add(int64(n))
	}
}

// ageFields are the Age field values of the first hour, allocated once:
// a hit then allocates nothing for its Age. Each has no room to append
// into.
var ageFields = func() [][]string {
	t := make([][]string, 3600)
	for i := range t {
		t[i] = []string{strconv.Itoa(i)}[:1:1]
	}
	return t
}()

// ageField returns the Age field value for age (RFC 9111 §5.1: whole
// seconds, truncated).
func ageField(age time.Duration) []string {
	s := int64(max(age, 0) / time.Second)
	if s < int64(len(ageFields)) {
		return ageFields[s]
	}
	return []string{strconv.FormatInt(min(s, maxDeltaSeconds), 10)}
}

// setStatus appends this cache's member to the response's Cache-Status
// (RFC 9211 §2: a cache appends; the last member is the one nearest the
// client), when the route asks for it. When the response has no
// Cache-Status yet, which is the usual case, the value and the slice
// holding it share one allocation.
func (c *cacher) setStatus(h http.Header, st cacheStatus) {
	if !c.cfg.Status {
		return
	}
	if prev := h["Cache-Status"]; len(prev) > 0 {
		var buf [statusFieldSize]byte
		h["Cache-Status"] = append(prev, string(st.appendTo(buf[:0], c.cfg.StatusName)))
		return
	}
	f := new(statusField)
	b := st.appendTo(f.buf[:0], c.cfg.StatusName)
	if len(b) == 0 || &b[0] != &f.buf[0] {
		f.vals[0] = string(b) // outgrew buf: appendTo allocated
	} else {
		// b is f.buf, written once and never again: the string may
		// alias it.
		f.vals[0] = unsafe.String(&b[0], len(b))
	}
	h["Cache-Status"] = f.vals[:1:1]
}

// statusFieldSize fits every Cache-Status member this cache sends without
// a key or a long detail.
const statusFieldSize = 64

// statusField is a Cache-Status field value and its bytes in one object.
type statusField struct {
	vals [1]string
	buf  [statusFieldSize]byte
}
