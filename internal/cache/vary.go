package cache

import (
	"net/http"
	"slices"
	"strings"

	"palisade/internal/httpsyntax"
)

// varyNames returns the request field names that a response's Vary
// field(s) list (RFC 9111 §4.1), canonical, deduplicated and sorted, and
// star when one of them is "*", which no request matches. A response
// without Vary gives nil, false.
func varyNames(h http.Header) (names []string, star bool) {
	for _, line := range h["Vary"] {
		for line != "" {
			var name string
			name, line, _ = strings.Cut(line, ",")
			name = httpsyntax.TrimOWS(name)
			switch {
			case name == "*":
				star = true
			case httpsyntax.IsToken(name):
				names = append(names, http.CanonicalHeaderKey(name))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), star
}

// varyKey returns the selecting values of req for the Vary names (as
// varyNames returns them), normalised as RFC 9111 §4.1 allows, in one
// string: responses whose requests give the same varyKey are
// interchangeable. Field lines are combined as one comma-separated value
// (RFC 9110 §5.3) with OWS trimmed. The content-negotiation lists Accept,
// Accept-Charset and Accept-Language (RFC 9110 §12.5) keep their order,
// since at equal weights it is the client's preference, which the origin
// may follow; their members are written canonically (normalizeList): no
// whitespace, case-insensitive parts lower-cased, weights spelled
// shortest. An absent field and an empty one give different keys.
//
// Accept-Encoding is keyed by the coding it selects. With normalizeAE (the
// route's compressor's choice, Options.NormalizeAcceptEncoding) it is
// normalizeAE of the combined value, "" standing for an absent field, and
// "identity" for a request that says Cache-Control: no-transform (RFC 9111
// §5.2.1.6: the compressor sends it identity); without, it is the list
// of codings the field accepts (normalizeCodings).
func varyKey(names []string, req http.Header, normalizeAE func(string) string) string {
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		lines, present := req[name]
		if name == "Accept-Encoding" && normalizeAE != nil {
			b.WriteByte(':')
			if hasNoTransform(req) {
				b.WriteString("identity")
			} else {
				b.WriteString(normalizeAE(combineLines(lines)))
			}
			b.WriteByte('\n')
			continue
		}
		if !present {
			b.WriteString("!\n") // absent; "!" never follows a name otherwise
			continue
		}
		b.WriteByte(':')
		v := combineLines(lines)
		switch name {
		case "Accept-Encoding":
			v = normalizeCodings(v)
		case "Accept":
			v = normalizeList(v, false)
		case "Accept-Charset", "Accept-Language":
			v = normalizeList(v, true)
		}
		b.WriteString(v)
		b.WriteByte('\n') // field values hold no LF (RFC 9110 §5.5)
	}
	return b.String()
}

// codingSelected reports whether a response with header resp may be stored
// under the variant key that normalizeAE gives its request's header req:
// its content coding is the one the key names, or identity (which the
// compressor sends any client whose coding does not apply). An origin that
// encodes the response itself with another coding than the compressor's
// choice must not answer the other clients that choice stands for.
func codingSelected(req, resp http.Header, normalizeAE func(string) string) bool {
	ce := strings.ToLower(combineLines(resp["Content-Encoding"]))
	if ce == "" || ce == "identity" {
		return true
	}
	return !hasNoTransform(req) && ce == normalizeAE(combineLines(req["Accept-Encoding"]))
}

// hasNoTransform reports whether a request's Cache-Control carries
// no-transform.
func hasNoTransform(h http.Header) bool {
	cc := h["Cache-Control"]
	if len(cc) == 0 {
		return false
	}
	return parseCacheControl(cc).noTransform
}

// normalizeCodings returns the Accept-Encoding value v as the sorted,
// deduplicated, lower-cased list of the codings it accepts (RFC 9110
// §12.5.3): a member's parameters are dropped, and a member weighted 0 is
// dropped too, except identity and "*" (written "identity;q=0" and
// "*;q=0"), which refuse the unencoded form. Two values that accept the
// same codings give the same list, whatever their order, spelling or
// weights: a response chosen for one is acceptable to the other. A member
// whose weight is malformed is kept as written (lower-cased, without
// whitespace), so that it matches only itself.
func normalizeCodings(v string) string {
	var members []string
	for v != "" {
		var m string
		m, v, _ = strings.Cut(v, ",")
		name, params, _ := strings.Cut(m, ";")
		name = strings.ToLower(httpsyntax.TrimOWS(name))
		if name == "" {
			continue
		}
		zero, ok := zeroWeight(params)
		switch {
		case !ok:
			name = normalizeList(m, true)
		case zero && (name == "identity" || name == "*"):
			name += ";q=0"
		case zero:
			continue
		}
		if !slices.Contains(members, name) {
			members = append(members, name)
		}
	}
	slices.Sort(members)
	return strings.Join(members, ",")
}

// zeroWeight reports whether the parameters of an Accept-Encoding member
// give it weight 0 (RFC 9110 §12.4.2); ok is false when its weight is
// malformed.
func zeroWeight(params string) (zero, ok bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, q, found := strings.Cut(p, "=")
		if k = httpsyntax.TrimOWS(k); !found || (k != "q" && k != "Q") {
			continue
		}
		q = httpsyntax.TrimOWS(q)
		if q == "" || (q[0] != '0' && q[0] != '1') {
			return false, false
		}
		rest := q[1:]
		if rest == "" {
			return q[0] == '0', true
		}
		if rest[0] != '.' || len(rest) > 4 {
			return false, false
		}
		zero = q[0] == '0'
		for i := 1; i < len(rest); i++ {
			switch c := rest[i]; {
			case c < '0' || c > '9', q[0] == '1' && c != '0':
				return false, false
			case c != '0':
				zero = false
			}
		}
		return zero, true
	}
	return false, true
}

// combineLines joins field lines with ", ", each trimmed of OWS (RFC 9110
// §5.3), allocating only when there is more than one.
func combineLines(lines []string) string {
	if len(lines) == 1 {
		return httpsyntax.TrimOWS(lines[0])
	}
	var parts []string
	for _, l := range lines {
		if l = httpsyntax.TrimOWS(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, ", ")
}

// normalizeList writes a content-negotiation list canonically, keeping
// the order of its members (at equal weights it says which the client
// prefers): the empty members are dropped, and in each the whitespace
// around ";" and "=" is removed, the value before the parameters and the
// parameter names are lower-cased (RFC 9110 §8.3.1, §12.5), the weight is
// spelled shortest (RFC 9110 §12.4.2: "q=1.000" and "Q=1" are "q=1",
// "q=0.50" is "q=0.5"), and, with lowerValues, the other parameters'
// values are lower-cased too (the fields whose values, charsets and
// language tags, are case-insensitive: RFC 9110 §12.5.2, RFC 4647 §2). A
// malformed weight is kept as written, and so is a member with a
// quoted-string but for its outer whitespace.
func normalizeList(v string, lowerValues bool) string {
	var b strings.Builder
	for v != "" {
		var m string
		m, v, _ = strings.Cut(v, ",")
		if m = httpsyntax.TrimOWS(m); m == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if strings.IndexByte(m, '"') >= 0 {
			b.WriteString(m)
			continue
		}
		first, params, _ := strings.Cut(m, ";")
		b.WriteString(strings.ToLower(httpsyntax.TrimOWS(first)))
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, pv, hasValue := strings.Cut(p, "=")
			k, pv = strings.ToLower(httpsyntax.TrimOWS(k)), httpsyntax.TrimOWS(pv)
			if k == "" && !hasValue {
				continue
			}
			b.WriteByte(';')
			b.WriteString(k)
			if !hasValue {
				continue
			}
			switch {
			case k == "q":
				pv = canonicalWeight(pv)
			case lowerValues:
				pv = strings.ToLower(pv)
			}
			b.WriteByte('=')
			b.WriteString(pv)
		}
	}
	return b.String()
}

// canonicalWeight returns the weight q (RFC 9110 §12.4.2) without
// trailing zeros after its point, or q itself when it is malformed.
func canonicalWeight(q string) string {
	if len(q) < 2 || q[0] != '0' && q[0] != '1' || q[1] != '.' || len(q) > 5 {
		return q
	}
	for i := 2; i < len(q); i++ {
		if c := q[i]; c < '0' || c > '9' || q[0] == '1' && c != '0' {
			return q
		}
	}
	return strings.TrimSuffix(strings.TrimRight(q, "0"), ".")
}
