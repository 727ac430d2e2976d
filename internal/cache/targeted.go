package cache

import (
	"net/http"
	"strings"

	"palisade/internal/httpsyntax"
)

// targetedDirectives returns the directives that govern this cache's use
// of a response with header h (RFC 9213 §2.2): those of the first field of
// the target list that is present, non-empty and a valid Structured Fields
// Dictionary (RFC 8941 §3.2), with true; the list is field (this cache's
// own, such as Palisade-Cache-Control; "" for none), then
// CDN-Cache-Control when cdn. With none, it returns the response's
// Cache-Control directives and false, and Expires applies as usual; with
// one, Cache-Control and Expires are ignored (the directives' targeted
// flag tells freshnessLifetime so).
//
// RFC 9213 §2.1 maps directives onto Structured Field types: delta-seconds
// are Integers, bare directives Booleans, and the qualified no-cache and
// private Strings of field names. A member of another type is not consumed
// (§2.1 "SHOULD NOT consume values that violate these inferred
// constraints"): it is as if absent. A Dictionary's later member replaces
// an earlier one of the same key (RFC 8941 §4.2.2), and parameters are
// ignored. Request-only directives mean nothing in a response field.
func targetedDirectives(h http.Header, field string, cdn bool) (directives, bool) {
	if field != "" {
		if d, ok := parseTargeted(h[http.CanonicalHeaderKey(field)]); ok {
			return d, true
		}
	}
	if cdn {
		if d, ok := parseTargeted(h["Cdn-Cache-Control"]); ok {
			return d, true
		}
	}
	return parseCacheControl(h["Cache-Control"]), false
}

// parseTargeted parses the lines of one targeted field; ok is false when
// it is absent, empty or not a valid Dictionary.
func parseTargeted(lines []string) (d directives, ok bool) {
	if len(lines) == 0 {
		return directives{}, false
	}
	d = noDirectives()
	d.targeted = true
	members := 0
	// RFC 8941 §4.2: the lines combine into one value joined by commas;
	// each line then holds whole members, and an empty line leaves an
	// empty member between commas, which is invalid.
	for _, line := range lines {
		n, ok := parseSFDictionary(line, func(key string, it sfItem) { applyTargeted(&d, key, it) })
		if !ok || n == 0 {
			return directives{}, false
		}
		members += n
	}
	return d, members > 0
}

// applyTargeted applies one Dictionary member to d.
func applyTargeted(d *directives, key string, it sfItem) {
	delta := func(p *int64) {
		*p = -1
		if it.kind == sfInteger && it.integer >= 0 {
			*p = min(it.integer, maxDeltaSeconds)
		}
	}
	flag := func(p *bool) {
		if it.kind == sfBoolean {
			*p = it.boolean
		}
	}
	qualified := func(p *bool, fields *[]string) {
		switch it.kind {
		case sfBoolean:
			*p, *fields = it.boolean, nil
		case sfString:
			m := ccMember{hasValue: true, value: it.str, escaped: it.escaped}
			*p, *fields = false, nil
			if names := m.fieldNames(); names != nil {
				*fields = names
			} else {
				*p = true // an empty list is read as unqualified
			}
		}
	}
	switch key {
	case "max-age":
		delta(&d.maxAge)
	case "s-maxage":
		delta(&d.sMaxAge)
	case "stale-while-revalidate":
		delta(&d.staleWhileRevalidate)
	case "stale-if-error":
		delta(&d.staleIfError)
	case "no-cache":
		qualified(&d.noCache, &d.noCacheFields)
	case "private":
		qualified(&d.private, &d.privateFields)
	case "no-store":
		flag(&d.noStore)
	case "public":
		flag(&d.public)
	case "must-revalidate":
		flag(&d.mustRevalidate)
	case "proxy-revalidate":
		flag(&d.proxyRevalidate)
	case "must-understand":
		flag(&d.mustUnderstand)
	case "no-transform":
		flag(&d.noTransform)
	case "immutable":
		flag(&d.immutable)
	}
}

// sfKind is the type of a Structured Fields item (RFC 8941 §3.3).
type sfKind uint8

const (
	sfInteger sfKind = iota + 1
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
	sfInnerList
)

// sfItem is a member value of a Dictionary. str is a String's content with
// its escapes (escaped says whether there are any), or a Token; integer an
// Integer; boolean a Boolean. Decimals, Byte Sequences and Inner Lists are
// checked but not kept.
type sfItem struct {
	kind    sfKind
	integer int64
	boolean bool
	escaped bool
	str     string
}

// parseSFDictionary parses s as an RFC 8941 §4.2.2 Dictionary, calling
// member for each member in order, and returns the number of members and
// whether s is valid. When it is not, member may have been called for the
// members before the error; the caller discards what it built. It
// allocates nothing.
func parseSFDictionary(s string, member func(key string, it sfItem)) (int, bool) {
	p := sfParser{s: s}
	p.skipSP()
	n := 0
	if p.done() {
		return 0, true
	}
	for {
		key, ok := p.key()
		if !ok {
			return n, false
		}
		var it sfItem
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				if !p.innerList() {
					return n, false
				}
				it.kind = sfInnerList
			} else if it, ok = p.bareItem(); !ok {
				return n, false
			}
		} else {
			it = sfItem{kind: sfBoolean, boolean: true}
		}
		if !p.parameters() {
			return n, false
		}
		member(key, it)
		n++
		p.skipOWS()
		if p.done() {
			return n, true
		}
		if p.peek() != ',' {
			return n, false
		}
		p.i++
		p.skipOWS()
		if p.done() {
			return n, false // a trailing comma
		}
	}
}

// sfParser is the cursor of an RFC 8941 §4.2 parse.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) done() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool   { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// key parses an RFC 8941 §4.2.3.3 key: ( lcalpha / "*" ) *( lcalpha /
// DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

// parameters parses RFC 8941 §4.2.3.2 parameters, which targeted fields
// ignore (RFC 9213 §2.1).
func (p *sfParser) parameters() bool {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

// innerList parses an RFC 8941 §4.2.1.2 Inner List.
func (p *sfParser) innerList() bool {
	p.i++ // "("
	for {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			return p.parameters()
		}
		if _, ok := p.bareItem(); !ok || !p.parameters() {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
}

// bareItem parses an RFC 8941 §4.2.3.1 bare item.
func (p *sfParser) bareItem() (sfItem, bool) {
	switch c := p.peek(); {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.string()
	case c == '*' || isAlpha(c):
		start := p.i
		p.i++
		for p.i < len(p.s) && (httpsyntax.IsTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfItem{kind: sfToken, str: p.s[start:p.i]}, true
	case c == ':':
		p.i++
		for p.i < len(p.s) {
			c := p.s[p.i]
			if c == ':' {
				p.i++
				return sfItem{kind: sfBytes}, true
			}
			if !isAlpha(c) && !isDigit(c) && c != '+' && c != '/' && c != '=' {
				return sfItem{}, false
			}
			p.i++
		}
		return sfItem{}, false
	case c == '?':
		p.i++
		switch p.peek() {
		case '0':
			p.i++
			return sfItem{kind: sfBoolean, boolean: false}, true
		case '1':
			p.i++
			return sfItem{kind: sfBoolean, boolean: true}, true
		}
		return sfItem{}, false
	}
	return sfItem{}, false
}

// number parses an RFC 8941 §4.2.4 Integer (at most 15 digits) or Decimal
// (at most 12 integer and 3 fractional digits).
func (p *sfParser) number() (sfItem, bool) {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	if !isDigit(p.peek()) {
		return sfItem{}, false
	}
	var v int64
	intDigits, fracDigits := 0, 0
	decimal := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case isDigit(c):
			if decimal {
				fracDigits++
			} else {
				intDigits++
				v = v*10 + int64(c-'0')
			}
		case c == '.' && !decimal:
			if intDigits > 12 {
				return sfItem{}, false
			}
			decimal = true
		default:
			goto end
		}
		if !decimal && intDigits > 15 || decimal && fracDigits > 3 {
			return sfItem{}, false
		}
		p.i++
	}
end:
	if decimal {
		if fracDigits == 0 {
			return sfItem{}, false // a trailing "."
		}
		return sfItem{kind: sfDecimal}, true
	}
	if neg {
		v = -v
	}
	return sfItem{kind: sfInteger, integer: v}, true
}

// string parses an RFC 8941 §4.2.5 String.
func (p *sfParser) string() (sfItem, bool) {
	p.i++ // DQUOTE
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\':
			if p.i+1 >= len(p.s) || p.s[p.i+1] != '"' && p.s[p.i+1] != '\\' {
				return sfItem{}, false
			}
			escaped = true
			p.i += 2
			continue
		case c == '"':
			str := p.s[start:p.i]
			p.i++
			return sfItem{kind: sfString, str: str, escaped: escaped}, true
		case c < 0x20 || c > 0x7e:
			return sfItem{}, false
		}
		p.i++
	}
	return sfItem{}, false
}

// stripTargeted is what the caller does before a response leaves when the
// field is this cache's own (RFC 9213 §2.2 lets its definition say so):
// it removes field from h.
func stripTargeted(h http.Header, field string) {
	if field != "" {
		delete(h, http.CanonicalHeaderKey(strings.TrimSpace(field)))
	}
}

// responseDirectives returns the directives that govern this cache's use
// of a response with status and header h: targetedDirectives' choice, with
// the status recorded for freshnessLifetime's heuristic (RFC 9111 §4.2.2).
func responseDirectives(status int, h http.Header, targetedField string, cdn bool) directives {
	d, _ := targetedDirectives(h, targetedField, cdn)
	d.status = status
	return d
}
