package httpsyntax

import (
	"strings"
	"testing"

	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The ref functions below are the RFC grammar written the plain way, byte
// by byte as the ABNF reads, with none of the package's shortcuts: the tests
// and the fuzzer hold the fast forms to them.

// refTchar is RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" /
// "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
func refTchar(c byte) bool {
	const punct = "!#$%&'*+-.^_`|~"
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		strings.IndexByte(punct, c) >= 0
}

// refToken is RFC 9110 §5.6.2: token = 1*tchar.
func refToken(s string) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range []byte(s) {
		if !refTchar(c) {
			return false
		}
	}
	return true
}

// refFieldVchar is RFC 9110 §5.5: field-vchar = VCHAR / obs-text, where
// VCHAR is %x21-7E (RFC 5234 §B.1) and obs-text is %x80-FF.
func refFieldVchar(c byte) bool { return 0x21 <= c && c <= 0x7e || c >= 0x80 }

// refValueBytes reports whether every byte of s may appear in a field
// value: SP, HTAB or field-vchar (RFC 9110 §5.5).
func refValueBytes(s string) bool {
	for _, c := range []byte(s) {
		if c != ' ' && c != '\t' && !refFieldVchar(c) {
			return false
		}
	}
	return true
}

// refFieldValue reports whether s is RFC 9110 §5.5 field-value =
// *field-content, field-content = field-vchar [ 1*( SP / HTAB / field-vchar )
// field-vchar ]: possibly empty, else neither starting nor ending with
// whitespace.
func refFieldValue(s string) bool {
	if s == "" {
		return true
	}
	return refFieldVchar(s[0]) && refFieldVchar(s[len(s)-1]) && refValueBytes(s)
}

// refFieldLine parses RFC 9112 §5: field-line = field-name ":" OWS
// field-value OWS, with field-name = token (RFC 9110 §5.1) and OWS =
// *( SP / HTAB ) (§5.6.3). It reads the longest run of tchar as the name,
// then wants the colon, skips OWS on the left, and takes the value as the
// longest rest that does not end in whitespace. The grammar has no
// ambiguity here: ":" is not a tchar, and OWS cannot end a field-value.
func refFieldLine(line string) (name, value string, ok bool) {
	i := 0
	for i < len(line) && refTchar(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ':' {
		return "", "", false
	}
	name, rest := line[:i], line[i+1:]
	for rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	for rest != "" && (rest[len(rest)-1] == ' ' || rest[len(rest)-1] == '\t') {
		rest = rest[:len(rest)-1]
	}
	if !refFieldValue(rest) {
		return "", "", false
	}
	return name, rest, true
}
