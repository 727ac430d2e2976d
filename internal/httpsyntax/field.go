package httpsyntax

import "strings"

// ValidFieldValue reports whether v holds only HTAB, SP, VCHAR and obs-text
// (RFC 9110 §5.5): every other control byte, CR, LF, NUL and DEL included,
// is refused. It does not check that v is trimmed.
func ValidFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// TrimOWS removes optional whitespace (SP and HTAB, RFC 9110 §5.6.3) at both
// ends of s.
func TrimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// IsCanonical reports whether the token name is already in the form
// http.CanonicalHeaderKey returns, which most peers send, so that a caller
// can use it as a map key without allocating a canonical copy.
func IsCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// SplitField splits one field line, without its CRLF, into its name as sent
// and its value trimmed of OWS (RFC 9112 §5: field-line = field-name ":" OWS
// field-value OWS), and checks it strictly: obsolete line folding (§5.2),
// whitespace between name and colon (§5.1), a name that is not a token and
// a value with control bytes are all refused. reason is "" when the line is
// well formed, else a short phrase for the log; the caller wraps it in its
// own error, since only it knows whether a client or a backend sent the line.
// name and value are substrings of line.
func SplitField(line string) (name, value, reason string) {
	if line != "" && (line[0] == ' ' || line[0] == '\t') {
		return "", "", "obsolete line folding"
	}
	colon := strings.IndexByte(line, ':')
	switch {
	case colon < 0:
		return "", "", "field line without a colon"
	case colon == 0:
		return "", "", "field line without a name"
	}
	name = line[:colon]
	if !IsToken(name) {
		return "", "", "invalid field name"
	}
	value = TrimOWS(line[colon+1:])
	if !ValidFieldValue(value) {
		return "", "", "invalid field value"
	}
	return name, value, ""
}
