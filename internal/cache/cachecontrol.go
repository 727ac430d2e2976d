package cache

import (
	"net/http"
	"strings"

	"palisade/internal/httpsyntax"
)

// directives are the Cache-Control directives of a request or a response
// (RFC 9111 §5.2). Delta-seconds are -1 when absent.
//
// Where the RFC leaves a choice between the first occurrence of a repeated
// directive and treating the response as stale, or asks for the most
// restrictive reading of conflicting ones (§4.2.1), parseCacheControl
// takes the restrictive one: see its doc comment for each directive.
type directives struct {
	maxAge, sMaxAge, maxStale, minFresh, staleWhileRevalidate, staleIfError int64
	maxStaleAny                                                             bool // max-stale without a value
	noCache, noStore, private, public                                       bool
	noCacheFields, privateFields                                            []string // qualified forms, canonical field names
	mustRevalidate, proxyRevalidate, mustUnderstand                         bool
	noTransform, onlyIfCached, immutable                                    bool
	// targeted is set when the directives come from a targeted field
	// (RFC 9213 §2.2), whose presence also makes the cache ignore Expires.
	targeted bool
	// status is the response's status code when the caller knows it
	// (responseDirectives sets it), for freshnessLifetime's heuristic; 0
	// for a request or when unknown.
	status int
}

// maxDeltaSeconds is what a delta-seconds value too large to represent
// becomes (RFC 9111 §1.2.2).
const maxDeltaSeconds = 1 << 31

// noDirectives returns the directives of a message without Cache-Control:
// every delta-seconds absent (-1). The zero directives value is not that:
// its max-age is 0.
func noDirectives() directives {
	return directives{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, staleWhileRevalidate: -1, staleIfError: -1}
}

// parseCacheControl parses all the Cache-Control field lines of a message
// (RFC 9111 §5.2) into directives. Names are compared case-insensitively and
// arguments may be tokens or quoted-strings, whatever form the directive
// asks senders to generate (§5.2). Unknown directives are ignored (§5.2.3).
//
// Malformed and repeated directives are read as restrictively as the RFC
// allows (§4.2.1):
//   - max-age and s-maxage without a valid delta-seconds, or repeated with
//     different values, are 0: the response is stale (§4.2.1 "encouraged to
//     consider responses that have invalid freshness information to be
//     stale"). A repetition with the same value is harmless and kept.
//   - max-stale, stale-while-revalidate and stale-if-error keep the
//     smallest valid value and ignore invalid ones (no stale is allowed on
//     their account); max-stale with a value wins over max-stale without.
//   - min-fresh keeps the largest valid value and ignores invalid ones.
//   - no-cache and private with an empty or malformed field list are read
//     as their unqualified forms.
//   - The restrictive flags (no-store, no-cache, private, must-revalidate,
//     proxy-revalidate, no-transform, only-if-cached) count even when the
//     member is malformed; public, immutable and must-understand, which
//     relax the rules, count only when well formed.
//
// It allocates nothing unless a qualified no-cache or private lists field
// names, or an argument carries a quoted-pair.
func parseCacheControl(fields []string) directives {
	d := noDirectives()
	var maxAgeSeen, sMaxAgeSeen bool
	for _, line := range fields {
		for line != "" {
			var m ccMember
			m, line = nextCCMember(line)
			if m.name == "" {
				continue
			}
			var lower [24]byte
			if len(m.name) > len(lower) {
				continue // RFC 9111 §5.2.3: unknown directives are ignored.
			}
			for i := 0; i < len(m.name); i++ {
				c := m.name[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				lower[i] = c
			}
			switch string(lower[:len(m.name)]) {
			case "max-age":
				d.maxAge = repeatedDelta(d.maxAge, &maxAgeSeen, m)
			case "s-maxage":
				d.sMaxAge = repeatedDelta(d.sMaxAge, &sMaxAgeSeen, m)
			case "max-stale":
				if !m.hasValue {
					d.maxStaleAny = true
				} else if v, ok := m.delta(); ok && (d.maxStale < 0 || v < d.maxStale) {
					d.maxStale = v
				}
			case "min-fresh":
				if v, ok := m.delta(); ok && v > d.minFresh {
					d.minFresh = v
				}
			case "stale-while-revalidate":
				if v, ok := m.delta(); ok && (d.staleWhileRevalidate < 0 || v < d.staleWhileRevalidate) {
					d.staleWhileRevalidate = v
				}
			case "stale-if-error":
				if v, ok := m.delta(); ok && (d.staleIfError < 0 || v < d.staleIfError) {
					d.staleIfError = v
				}
			case "no-cache":
				// RFC 9111 §5.2.2.4: the qualified form lists fields that
				// must not be sent from the cache without revalidation.
				if names := m.fieldNames(); names == nil {
					d.noCache = true
				} else {
					d.noCacheFields = append(d.noCacheFields, names...)
				}
			case "private":
				// RFC 9111 §5.2.2.7: a shared cache must not store the
				// listed fields, or the response at all when unqualified.
				if names := m.fieldNames(); names == nil {
					d.private = true
				} else {
					d.privateFields = append(d.privateFields, names...)
				}
			case "no-store":
				d.noStore = true
			case "public":
				// Directives that relax the rules count only when well
				// formed; the restrictive ones count however they are sent.
				d.public = d.public || !m.invalid
			case "must-revalidate":
				d.mustRevalidate = true
			case "proxy-revalidate":
				d.proxyRevalidate = true
			case "must-understand":
				d.mustUnderstand = d.mustUnderstand || !m.invalid
			case "no-transform":
				d.noTransform = true
			case "only-if-cached":
				d.onlyIfCached = true
			case "immutable":
				d.immutable = d.immutable || !m.invalid
			}
		}
	}
	if d.maxStale >= 0 {
		d.maxStaleAny = false
	}
	return d
}

// repeatedDelta applies one max-age or s-maxage member to the value so far:
// RFC 9111 §4.2.1, an invalid value or a conflicting repetition makes the
// response stale (0).
func repeatedDelta(cur int64, seen *bool, m ccMember) int64 {
	v, ok := m.delta()
	if !ok {
		v = 0
	}
	if *seen && v != cur {
		v = 0
	}
	*seen = true
	return v
}

// ccMember is one cache-directive of a Cache-Control field line (RFC 9111
// §5.2: token [ "=" ( token / quoted-string ) ]). value is the argument as
// sent, without the quotes of a quoted-string but with its quoted-pairs.
type ccMember struct {
	name, value       string
	hasValue, escaped bool
	invalid           bool // the argument is malformed or trailed by junk
}

// nextCCMember splits the first list member off line and returns it and the
// rest of the line. A member whose name is not a token comes back with an
// empty name; the caller skips it. Commas inside quoted-strings do not end
// a member.
func nextCCMember(line string) (m ccMember, rest string) {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == ',') {
		i++
	}
	start := i
	for i < len(line) && httpsyntax.IsTchar(line[i]) {
		i++
	}
	m.name = line[start:i]
	if i < len(line) && line[i] == '=' {
		i++
		m.hasValue = true
		if i < len(line) && line[i] == '"' {
			i++
			vs := i
			closed := false
			for i < len(line) {
				c := line[i]
				if c == '\\' && i+1 < len(line) {
					m.escaped = true
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				i++
			}
			m.value = line[vs:i]
			if closed {
				i++
			} else {
				m.invalid = true
			}
		} else {
			vs := i
			for i < len(line) && httpsyntax.IsTchar(line[i]) {
				i++
			}
			m.value = line[vs:i]
		}
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i < len(line) && line[i] != ',' {
		// Junk after the member: skip to the next comma outside a
		// quoted-string, and distrust what was read.
		m.invalid = true
		i = skipToComma(line, i)
	}
	return m, line[i:]
}

// skipToComma returns the index of the first comma at or after i that is
// not inside a quoted-string, or len(s).
func skipToComma(s string, i int) int {
	inQuote := false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ',':
			return i
		}
	}
	return len(s)
}

// delta returns the member's argument as delta-seconds (RFC 9111 §1.2.2),
// in either the token or the quoted-string form (§5.2).
func (m ccMember) delta() (int64, bool) {
	if !m.hasValue || m.invalid || m.escaped {
		return 0, false
	}
	return parseDeltaSeconds(m.value)
}

// parseDeltaSeconds parses 1*DIGIT; a value too large becomes 2^31 (RFC
// 9111 §1.2.2).
func parseDeltaSeconds(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v < maxDeltaSeconds {
			v = v*10 + int64(c-'0')
		}
	}
	return min(v, maxDeltaSeconds), true
}

// fieldNames returns the canonical field names of a qualified no-cache or
// private (RFC 9111 §5.2.2.4, §5.2.2.7), or nil for the unqualified form,
// an empty list or a malformed one (read as unqualified, the restrictive
// choice).
func (m ccMember) fieldNames() []string {
	if !m.hasValue || m.invalid {
		return nil
	}
	v := m.value
	if m.escaped {
		v = unescapeQuoted(v)
	}
	var names []string
	for v != "" {
		var name string
		name, v, _ = strings.Cut(v, ",")
		name = httpsyntax.TrimOWS(name)
		if name == "" {
			continue
		}
		if !httpsyntax.IsToken(name) {
			return nil
		}
		names = append(names, http.CanonicalHeaderKey(name))
	}
	return names
}

// unescapeQuoted removes the backslashes of the quoted-pairs in the inside
// of a quoted-string (RFC 9110 §5.6.4).
func unescapeQuoted(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// requestDirectives returns the directives of a request: its Cache-Control,
// or, without one, Pragma: no-cache read as Cache-Control: no-cache (RFC
// 9111 §5.4, which keeps Pragma for HTTP/1.0 clients only when
// Cache-Control is absent).
func requestDirectives(h http.Header) directives {
	if cc := h["Cache-Control"]; len(cc) > 0 {
		return parseCacheControl(cc)
	}
	d := noDirectives()
	for _, line := range h["Pragma"] {
		for line != "" {
			var m ccMember
			m, line = nextCCMember(line)
			if strings.EqualFold(m.name, "no-cache") && !m.hasValue {
				d.noCache = true
			}
		}
	}
	return d
}
