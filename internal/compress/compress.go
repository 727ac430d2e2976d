package compress

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
	"palisade/internal/middleware"
)

// New returns the compression middleware for one route. cfg has been
// validated; New fails only on values that need the runtime (a level the
// encoder rejects) or that validation should have caught. log receives one
// debug line when finishing a compressed stream fails (usually because the
// client went away); it may be nil.
//
// The returned middleware may serve any number of requests concurrently. The
// writer it hands to the next handler belongs to one request and must not be
// used after that handler returns.
func New(cfg config.Compress, log *slog.Logger) (middleware.Middleware, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &compressor{minLength: int64(cfg.MinLength), log: log}
	for _, name := range cfg.Encodings {
		cod, ok := codingNamed(name)
		if !ok {
			return nil, fmt.Errorf("compress: unknown encoding %q", name)
		}
		if c.pools[cod] != nil {
			return nil, fmt.Errorf("compress: encoding %q listed twice", name)
		}
		p, err := newEncoderPool(cod, cfg.Level(name))
		if err != nil {
			return nil, fmt.Errorf("compress: %w", err)
		}
		c.pools[cod] = p
		c.prefs = append(c.prefs, cod)
	}
	for _, t := range cfg.Types {
		p, err := parseMediaPattern(t)
		if err != nil {
			return nil, fmt.Errorf("compress: %w", err)
		}
		c.types = append(c.types, p)
	}
	c.writers.New = func() any { return new(responseWriter) }
	return func(next http.Handler) http.Handler {
		return &handler{next: next, c: c}
	}, nil
}

// compressor is one route's compiled settings and pools. It is read-only
// after New, apart from the pools.
type compressor struct {
	prefs     []coding // server preference order
	pools     [numCodings]*encoderPool
	minLength int64
	types     []mediaPattern
	log       *slog.Logger
	writers   sync.Pool // *responseWriter
}

// handler is the middleware around one next handler.
type handler struct {
	next http.Handler
	c    *compressor
}

// ServeHTTP negotiates the coding, lets next write through a pooled
// responseWriter, and finishes the stream when next returns or panics.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.c
	acc := parseAcceptEncoding(r.Header["Accept-Encoding"])
	chosen := acc.choose(c.prefs)
	if chosen != identity && listHas(r.Header["Cache-Control"], "no-transform") {
		// RFC 9111 §5.2.1.6: the client asks intermediaries not to
		// transform the content.
		chosen = identity
	}
	r, inm := withStrongValidators(r)

	cw := c.writers.Get().(*responseWriter)
	*cw = responseWriter{ResponseWriter: w, c: c, req: r, coding: chosen,
		head: r.Method == http.MethodHead, inm: inm}
	completed := false
	defer func() {
		cw.finish(completed)
		*cw = responseWriter{}
		c.writers.Put(cw)
	}()
	h.next.ServeHTTP(cw, r)
	completed = true
}

// eligible reports whether a response with header h and status could be
// compressed for some request: its status carries content, the handler has
// not encoded it already, it does not forbid transformation and its media
// type is one of Types. A response without Content-Type is not eligible:
// sniffing the type would mean holding back the first bytes, and a handler
// that names no type is better served unchanged.
func (c *compressor) eligible(h http.Header, status int) bool {
	switch {
	case status < 200, status == http.StatusNoContent, status == http.StatusResetContent,
		status == http.StatusPartialContent, status == http.StatusNotModified:
		// RFC 9110 §15.3.7: a 206 carries byte ranges of the identity
		// representation, which a coding applied here would invalidate.
		return false
	}
	if ce := h["Content-Encoding"]; len(ce) > 0 && !onlyIdentity(ce) {
		return false
	}
	// RFC 9110 §7.7: a proxy must not change the content coding of a
	// response that says no-transform.
	if listHas(h["Cache-Control"], "no-transform") {
		return false
	}
	ct := h["Content-Type"]
	return len(ct) > 0 && c.typeMatches(ct[0])
}

// tooShort reports whether h declares a Content-Length below MinLength. An
// unknown or malformed length is not too short: nginx's gzip_min_length
// also looks only at a declared length.
func (c *compressor) tooShort(h http.Header) bool {
	cl := h["Content-Length"]
	if len(cl) != 1 || cl[0] == "" || len(cl[0]) > 18 {
		return false
	}
	var n int64
	for i := 0; i < len(cl[0]); i++ {
		d := cl[0][i]
		if d < '0' || d > '9' {
			return false
		}
		n = n*10 + int64(d-'0')
	}
	return n < c.minLength
}

// onlyIdentity reports whether Content-Encoding field lines name no coding
// but identity.
func onlyIdentity(values []string) bool {
	for _, v := range values {
		for v != "" {
			elem, rest, _ := strings.Cut(v, ",")
			v = rest
			if e := trimOWS(elem); e != "" && !httpsyntax.EqualFold(e, "identity") {
				return false
			}
		}
	}
	return true
}

// addVary makes h vary on Accept-Encoding, merging with any Vary the
// handler set. RFC 9110 §12.5.5: "*" already says the response varies on
// everything, and a field name is listed once, ignoring case.
func addVary(h http.Header) {
	vary := h["Vary"]
	if listHas(vary, "*") || listHas(vary, "Accept-Encoding") {
		return
	}
	h["Vary"] = append(vary, "Accept-Encoding")
}

// weakenETag replaces a strong ETag in h with its weak form. RFC 9110
// §8.8.3: the encoded bytes differ from the backend's, so the validator can
// no longer promise byte-for-byte equality, only semantic equivalence.
func weakenETag(h http.Header) {
	et := h["Etag"]
	if len(et) != 1 || !strings.HasPrefix(et[0], `"`) {
		return
	}
	h["Etag"] = []string{"W/" + et[0]}
}

// withStrongValidators returns r with the strong form of every weak entity
// tag in If-None-Match added beside it, and the client's original field
// value when it had any weak tag ("" otherwise). Clients revalidate with the weak ETag this middleware gave them;
// RFC 9110 §13.1.2 says If-None-Match uses weak comparison, so W/"x"
// matches "x", but many backends compare the strings. Sending both forms
// lets them answer 304. The request is copied, never changed in place: the
// middlewares outside (the cache among them) still hold it.
func withStrongValidators(r *http.Request) (*http.Request, string) {
	inm := r.Header["If-None-Match"]
	if len(inm) == 0 {
		return r, ""
	}
	var strong []string
	for _, v := range inm {
		if !strings.Contains(v, "W/") {
			continue
		}
		for v != "" {
			var tag string
			tag, v = nextEntityTag(v)
			if t, ok := strings.CutPrefix(tag, "W/"); ok && len(t) >= 2 && t[0] == '"' {
				strong = append(strong, t)
			}
		}
	}
	if len(strong) == 0 {
		return r, ""
	}
	orig := strings.Join(inm, ", ")
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	r2.Header["If-None-Match"] = []string{orig + ", " + strings.Join(strong, ", ")}
	return r2, orig
}

// nextEntityTag returns the first element of an If-None-Match list and the
// rest. An entity tag may contain commas inside its quotes (RFC 9110
// §8.8.3: etagc includes ","), so the list cannot be split on commas alone.
func nextEntityTag(s string) (tag, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if i < len(s) && s[i] == '"' {
		if j := strings.IndexByte(s[i+1:], '"'); j >= 0 {
			end := i + 1 + j + 1
			return s[:end], s[end:]
		}
	}
	if j := strings.IndexByte(s, ','); j >= 0 {
		return trimOWS(s[:j]), s[j+1:]
	}
	return trimOWS(s), ""
}

// clientHasWeak reports whether the client's If-None-Match carries the weak
// form of the strong entity tag etag.
func clientHasWeak(inm, etag string) bool {
	for inm != "" {
		var tag string
		tag, inm = nextEntityTag(inm)
		if t, ok := strings.CutPrefix(tag, "W/"); ok && t == etag {
			return true
		}
	}
	return false
}

// mediaPattern is one compiled entry of Types, lowercased.
type mediaPattern struct {
	typ    string // top-level type
	sub    string // exact subtype, or "" for any
	suffix string // "+json": the subtype must end with it
}

// parseMediaPattern compiles one Types entry; see config.Compress.Types.
func parseMediaPattern(s string) (mediaPattern, error) {
	typ, sub, ok := strings.Cut(strings.ToLower(s), "/")
	if !ok || typ == "" || typ == "*" || sub == "" {
		return mediaPattern{}, fmt.Errorf("bad media type pattern %q", s)
	}
	switch {
	case sub == "*":
		return mediaPattern{typ: typ}, nil
	case strings.HasPrefix(sub, "*+"):
		return mediaPattern{typ: typ, suffix: sub[1:]}, nil
	}
	return mediaPattern{typ: typ, sub: sub}, nil
}

// typeMatches reports whether the Content-Type value ct, with its
// parameters ignored, matches one of Types. It does not allocate.
func (c *compressor) typeMatches(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	typ, sub, ok := strings.Cut(trimOWS(ct), "/")
	if !ok || sub == "" {
		return false
	}
	for _, p := range c.types {
		if !httpsyntax.EqualFold(typ, p.typ) {
			continue
		}
		switch {
		case p.sub != "":
			if httpsyntax.EqualFold(sub, p.sub) {
				return true
			}
		case p.suffix != "":
			if len(sub) > len(p.suffix) && httpsyntax.EqualFold(sub[len(sub)-len(p.suffix):], p.suffix) {
				return true
			}
		default:
			return true
		}
	}
	return false
}
