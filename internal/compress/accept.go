package compress

import (
	"slices"
	"strings"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
)

// coding is a content coding the middleware can produce, or identity.
type coding uint8

const (
	identity coding = iota
	codingZstd
	codingBr
	codingGzip
	numCodings
)

// String returns the coding's name as written in Content-Encoding.
func (c coding) String() string {
	switch c {
	case codingZstd:
		return "zstd"
	case codingBr:
		return "br"
	case codingGzip:
		return "gzip"
	}
	return "identity"
}

// codingNamed returns the coding a config encoding name stands for.
func codingNamed(name string) (coding, bool) {
	switch name {
	case "zstd":
		return codingZstd, true
	case "br":
		return codingBr, true
	case "gzip":
		return codingGzip, true
	}
	return identity, false
}

// qUnset marks a coding the Accept-Encoding field does not mention.
const qUnset = -1

// acceptance is what one request's Accept-Encoding allows: a weight in
// thousandths (RFC 9110 §12.4.2: at most three decimals) for identity and
// each coding we produce, and for "*". It is a value with no pointers, so
// parsing one allocates nothing.
type acceptance struct {
	present bool
	q       [numCodings]int16
	star    int16
}

// parseAcceptEncoding reads the Accept-Encoding field lines of a request
// (RFC 9110 §12.5.3). Codings are matched ignoring case, "x-gzip" counts as
// gzip (§8.4.1.3), a missing weight is 1, and an element whose weight is
// malformed is ignored as a whole, as is any coding we do not produce. When a
// coding is listed twice the first element wins. parseAcceptEncoding does not
// allocate.
func parseAcceptEncoding(fields []string) acceptance {
	a := acceptance{star: qUnset}
	for i := range a.q {
		a.q[i] = qUnset
	}
	a.present = len(fields) > 0
	for _, f := range fields {
		for f != "" {
			elem, rest, _ := strings.Cut(f, ",")
			f = rest
			a.add(elem)
		}
	}
	return a
}

// add records one list element: codings [ weight ].
func (a *acceptance) add(elem string) {
	name, params, _ := strings.Cut(elem, ";")
	name = trimOWS(name)
	if name == "" {
		// RFC 9110 §5.6.1: empty list elements do not count.
		return
	}
	q := int16(1000)
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			if trimOWS(p) == "" {
				continue
			}
			return
		}
		if k = trimOWS(k); k != "q" && k != "Q" {
			// accept-ext parameters are not defined for codings; skip them.
			continue
		}
		if q, ok = parseQValue(trimOWS(v)); !ok {
			return
		}
	}
	slot := &a.star
	switch {
	case name == "*":
	case httpsyntax.EqualFold(name, "gzip"), httpsyntax.EqualFold(name, "x-gzip"):
		slot = &a.q[codingGzip]
	case httpsyntax.EqualFold(name, "br"):
		slot = &a.q[codingBr]
	case httpsyntax.EqualFold(name, "zstd"):
		slot = &a.q[codingZstd]
	case httpsyntax.EqualFold(name, "identity"):
		slot = &a.q[identity]
	default:
		return
	}
	if *slot == qUnset {
		*slot = q
	}
}

// choose returns the coding to send: among prefs (server preference order),
// the one with the highest weight, a tie going to the earlier; a coding that
// is not listed takes the weight of "*". Identity is sent when the field is
// absent (the client stated no preference, and compressing then would break
// clients that never decode), when no coding in prefs has a non-zero weight,
// or when identity is listed with a higher weight than the best coding.
//
// RFC 9110 §12.5.3 lets a server answer 406 when even identity is refused
// ("identity;q=0" or "*;q=0" with nothing acceptable); choose returns
// identity then too, because an uncompressed answer is more useful to every
// client we know of than an error.
func (a *acceptance) choose(prefs []coding) coding {
	if !a.present {
		return identity
	}
	best, bestQ := identity, int16(0)
	for _, c := range prefs {
		q := a.q[c]
		if q == qUnset {
			q = a.star
		}
		if q > bestQ {
			best, bestQ = c, q
		}
	}
	if best != identity && a.q[identity] > bestQ {
		return identity
	}
	return best
}

// parseQValue parses an RFC 9110 §12.4.2 qvalue into thousandths:
// "0" [ "." 0*3DIGIT ] or "1" [ "." 0*3("0") ].
func parseQValue(s string) (int16, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int16(s[0]-'0') * 1000
	if len(s) == 1 {
		return whole, true
	}
	if s[1] != '.' || len(s) > 5 {
		return 0, false
	}
	frac, scale := int16(0), int16(100)
	for i := 2; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' || (whole == 1000 && d != '0') {
			return 0, false
		}
		frac += int16(d-'0') * scale
		scale /= 10
	}
	return whole + frac, true
}

// trimOWS removes RFC 9110 §5.6.3 optional whitespace (spaces and tabs) from
// both ends of s.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// listHas reports whether the comma-separated field lines values contain an
// element named name, ignoring case, whitespace and any "=value" (the shape
// of Cache-Control directives and Vary field names).
func listHas(values []string, name string) bool {
	for _, v := range values {
		for v != "" {
			elem, rest, _ := strings.Cut(v, ",")
			v = rest
			if i := strings.IndexByte(elem, '='); i >= 0 {
				elem = elem[:i]
			}
			if httpsyntax.EqualFold(trimOWS(elem), name) {
				return true
			}
		}
	}
	return false
}

// Chooser returns the negotiation of the compress middleware that cfg
// configures, for another feature to key by (the cache keys the variants
// of a response that varies on Accept-Encoding by it, so that one stored
// variant serves every client the compressor treats alike). The function
// maps an Accept-Encoding field value (its lines combined; "" for an
// absent field) to the name of the coding the middleware would send, or
// "identity". It does not see the request's Cache-Control: a client that
// asks no-transform is sent identity whatever it accepts. It is safe for
// concurrent use and allocates nothing. cfg has been validated; unknown
// encoding names are skipped.
func Chooser(cfg config.Compress) func(acceptEncoding string) string {
	var prefs []coding
	for _, name := range cfg.Encodings {
		if c, ok := codingNamed(name); ok && !slices.Contains(prefs, c) {
			prefs = append(prefs, c)
		}
	}
	return func(acceptEncoding string) string {
		if acceptEncoding == "" {
			// Absent or empty: either way no coding is acceptable but
			// identity.
			return identity.String()
		}
		lines := [1]string{acceptEncoding}
		a := parseAcceptEncoding(lines[:])
		return a.choose(prefs).String()
	}
}
