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
// (RFC 9110 §5.3) with OWS trimmed; for the list fields whose members'
// order and case carry no meaning (Accept, Accept-Charset,
// Accept-Encoding, Accept-Language: RFC 9110 §12.5), members are
// lower-cased, stripped of whitespace inside and sorted. normalize, when
// not nil, first maps each present field's combined value (so that
// Accept-Encoding can become the coding the compressor would choose). An
// absent field and an empty one give different keys.
func varyKey(names []string, req http.Header, normalize func(name, value string) string) string {
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		lines, present := req[name]
		if !present {
			b.WriteString("!\n") // absent; "!" never follows a name otherwise
			continue
		}
		b.WriteByte(':')
		v := combineLines(lines)
		if normalize != nil {
			v = normalize(name, v)
		}
		switch name {
		case "Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language":
			v = normalizeList(v)
		}
		b.WriteString(v)
		b.WriteByte('\n') // field values hold no LF (RFC 9110 §5.5)
	}
	return b.String()
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

// normalizeList lower-cases the members of a content-negotiation list,
// removes the whitespace inside them (around ";" and "=") and the empty
// ones, and sorts them. A member with a quoted-string keeps its case.
func normalizeList(v string) string {
	var members []string
	for v != "" {
		var m string
		m, v, _ = strings.Cut(v, ",")
		var b strings.Builder
		quoted := strings.IndexByte(m, '"') >= 0
		for i := 0; i < len(m); i++ {
			c := m[i]
			if c == ' ' || c == '\t' {
				continue
			}
			if !quoted && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		if b.Len() > 0 {
			members = append(members, b.String())
		}
	}
	slices.Sort(members)
	return strings.Join(members, ",")
}
