package route

import (
	"net/netip"
	"strings"
)

// hostBufLen holds any DNS name (at most 253 octets, RFC 1035 §2.3.4) and
// any IPv6 literal, so normalizing a real host never allocates.
const hostBufLen = 256

// requestHost returns the normalized form of a request's Host, as Build
// normalizes configured hosts: port stripped, ASCII lower case, one trailing
// dot dropped, IP literals canonical and without brackets. The result may
// alias buf.
func requestHost(buf *[hostBufLen]byte, h string) []byte {
	if len(h) > 0 && h[0] == '[' {
		if end := strings.IndexByte(h, ']'); end > 0 {
			if ip, err := netip.ParseAddr(h[1:end]); err == nil {
				return ip.AppendTo(buf[:0])
			}
			h = h[1:end]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if strings.IndexByte(h[:i], ':') < 0 {
			h = h[:i]
		} else if ip, err := netip.ParseAddr(h); err == nil {
			// An IPv6 literal without brackets is not a valid Host, but it
			// names one address only one way.
			return ip.AppendTo(buf[:0])
		}
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > len(buf) {
		return []byte(lowerASCII(h))
	}
	b := buf[:len(h)]
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b
}

// lowerASCII maps only ASCII letters: configured hosts are ASCII (IDNs in
// their xn-- form), and Unicode case mapping could turn a non-ASCII byte
// sequence into an ASCII one (U+212A KELVIN SIGN lowers to "k").
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// queryHas reports whether the raw query q holds a parameter name with the
// given value, both compared after decoding. It reads q as url.ParseQuery
// does: pairs split on '&', a pair holding ';' or a malformed escape
// skipped, '+' decoded as a space, a pair without '=' having the empty
// value. It allocates nothing.
func queryHas(q, name, value string) bool {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" || strings.IndexByte(kv, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if unescapedEqual(k, name) && unescapedEqual(v, value) {
			return true
		}
	}
	return false
}

// unescapedEqual reports whether the query component raw, once decoded,
// equals want. A malformed escape anywhere makes it false, as it makes
// url.QueryUnescape fail.
func unescapedEqual(raw, want string) bool {
	j := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return false
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 3
		case '+':
			c = ' '
			i++
		default:
			i++
		}
		if j >= len(want) || want[j] != c {
			return false
		}
		j++
	}
	return j == len(want)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// cookieHas reports whether the Cookie field lines hold a cookie name with
// the given value. It reads them as net/http's Request.Cookies does: pairs
// split on ';', surrounding spaces trimmed, one pair of double quotes around
// the value removed. name must be a token and value a valid cookie value
// (Build checks both), so a plain comparison also rejects every pair that
// net/http would skip as malformed. It allocates nothing.
func cookieHas(lines []string, name, value string) bool {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			n, v, _ := strings.Cut(trimSpace(part), "=")
			if trimSpace(n) != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v == value {
				return true
			}
		}
	}
	return false
}

// trimSpace trims what net/textproto.TrimString trims: ASCII space, tab, CR
// and LF.
func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// validCookieValue reports whether every byte of v may appear in a cookie
// value as net/http accepts it.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// isToken reports whether s is a token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
