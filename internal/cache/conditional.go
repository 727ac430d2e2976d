package cache

import (
	"net/http"
	"time"

	"palisade/internal/httpsyntax"
)

// evaluateConditional evaluates the preconditions of r against a stored
// response's header h in the order of RFC 9110 §13.2.2: If-Match (strong
// comparison), else If-Unmodified-Since; then If-None-Match (weak
// comparison), else, for GET and HEAD only, If-Modified-Since. It returns 0
// when the response is to be served, 304 (Not Modified) or 412
// (Precondition Failed). Range and If-Range are the caller's step 5.
//
// RFC 9111 §4.3.2: without a Last-Modified, If-Modified-Since is compared
// with the stored Date. A malformed entity-tag list matches nothing; a
// malformed date makes its field ignored (RFC 9110 §13.1.3, §13.1.4).
func evaluateConditional(r *http.Request, h http.Header) int {
	etag := firstValue(h, "Etag")
	getOrHead := r.Method == http.MethodGet || r.Method == http.MethodHead
	// Step 1 and 2.
	if im, ok := r.Header["If-Match"]; ok {
		if !etagListMatches(im, etag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius, ok := singleDate(r.Header, "If-Unmodified-Since"); ok {
		if lm, ok := singleDate(h, "Last-Modified"); ok && lm.After(ius) {
			return http.StatusPreconditionFailed
		}
	}
	// Step 3 and 4.
	if inm, ok := r.Header["If-None-Match"]; ok {
		if etagListMatches(inm, etag, false) {
			if getOrHead {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
		return 0
	}
	if !getOrHead {
		return 0
	}
	if ims, ok := singleDate(r.Header, "If-Modified-Since"); ok {
		lm, ok := singleDate(h, "Last-Modified")
		if !ok {
			lm, ok = singleDate(h, "Date")
		}
		if ok && !lm.After(ims) {
			return http.StatusNotModified
		}
	}
	return 0
}

// ifRangeMatches reports whether a range request's If-Range allows the
// Range to be applied to the stored response with header h (RFC 9110
// §13.1.5): true without If-Range; with an entity-tag, only when it and the
// stored ETag are strong and equal; with an HTTP-date, only when it equals
// Last-Modified exactly and that is a strong validator: at least 60 seconds
// before the stored Date (RFC 9110 §8.8.2.2). Anything else, a weak tag or
// a malformed value included, means the whole representation is sent.
func ifRangeMatches(r *http.Request, h http.Header) bool {
	ir, ok := r.Header["If-Range"]
	if !ok {
		return true
	}
	if len(ir) != 1 {
		return false
	}
	v := httpsyntax.TrimOWS(ir[0])
	if len(v) > 0 && (v[0] == '"' || v[0] == 'W') {
		tag, rest, ok := nextETag(v)
		if !ok || httpsyntax.TrimOWS(rest) != "" || tag.weak {
			return false
		}
		stored, _, ok := nextETag(httpsyntax.TrimOWS(firstValue(h, "Etag")))
		return ok && !stored.weak && stored.opaque == tag.opaque
	}
	t, ok := parseHTTPDate(v)
	if !ok {
		return false
	}
	lm, ok1 := singleDate(h, "Last-Modified")
	date, ok2 := singleDate(h, "Date")
	return ok1 && ok2 && lm.Equal(t) && date.Sub(lm) >= 60*time.Second
}

// firstValue is h's first line for the canonical name, or "".
func firstValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// singleDate parses the HTTP-date of a singleton date field; more than
// one line, or an invalid date, is no date.
func singleDate(h http.Header, name string) (time.Time, bool) {
	v := h[name]
	if len(v) != 1 {
		return time.Time{}, false
	}
	return parseHTTPDate(v[0])
}

// entityTag is an RFC 9110 §8.8.3 entity-tag: opaque is the opaque-tag
// with its quotes.
type entityTag struct {
	opaque string
	weak   bool
}

// nextETag parses the entity-tag at the start of s and returns the rest.
func nextETag(s string) (tag entityTag, rest string, ok bool) {
	if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
		tag.weak = true
		s = s[2:]
	}
	if s == "" || s[0] != '"' {
		return entityTag{}, s, false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			tag.opaque = s[:i+1]
			return tag, s[i+1:], true
		case c == 0x21 || 0x23 <= c && c <= 0x7e || c >= 0x80:
		default:
			return entityTag{}, s, false
		}
	}
	return entityTag{}, s, false
}

// etagListMatches reports whether an If-Match or If-None-Match field's
// lines match the stored entity-tag stored (a field value as sent, or ""
// when there is none): "*" matches any stored representation, and list
// members compare strongly (RFC 9110 §8.8.3.2: both strong and equal) or
// weakly (equal opaque-tags). A malformed member matches nothing.
func etagListMatches(lines []string, stored string, strong bool) bool {
	st, _, storedOK := nextETag(httpsyntax.TrimOWS(stored))
	for _, line := range lines {
		s := line
		for {
			for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
				s = s[1:]
			}
			if s == "" {
				break
			}
			if s[0] == '*' {
				return true // the stored response is a current representation
			}
			tag, rest, ok := nextETag(s)
			if !ok {
				// Skip the malformed member.
				i := 0
				for i < len(s) && s[i] != ',' {
					i++
				}
				s = s[i:]
				continue
			}
			s = rest
			if !storedOK || tag.opaque != st.opaque {
				continue
			}
			if !strong || !tag.weak && !st.weak {
				return true
			}
		}
	}
	return false
}
