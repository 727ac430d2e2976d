package auth

import (
	"strings"

	"palisade/internal/httpsyntax"
)

// parseBearer returns the token of an Authorization value with the Bearer
// scheme (RFC 6750 §2.1: "Bearer" 1*SP b64token).
func parseBearer(h string) (string, bool) {
	const scheme = "Bearer "
	if !httpsyntax.HasPrefixFold(h, scheme) {
		return "", false
	}
	t := strings.Trim(h[len(scheme):], " ")
	return t, isB64Token(t)
}

// isB64Token reports whether s is a b64token (RFC 6750 §2.1):
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// maxTokenBytes bounds the tokens looked at.
const maxTokenBytes = 16 << 10

// isCompactJWS reports whether s has the shape of a JWS compact
// serialization (RFC 7515 §7.1): three base64url parts separated by dots,
// the first two non-empty, and no longer than maxTokenBytes.
func isCompactJWS(s string) bool {
	if len(s) == 0 || len(s) > maxTokenBytes {
		return false
	}
	dots, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if run == 0 && dots < 2 {
				return false
			}
			dots++
			run = 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			run++
		default:
			return false
		}
	}
	return dots == 2
}

// removeCookie returns the Cookie field values with every cookie named
// name removed (RFC 6265 §5.4: pairs separated by "; "). Values left empty
// are dropped; the other pairs keep their order and bytes.
func removeCookie(values []string, name string) []string {
	var out []string
	for _, v := range values {
		var b strings.Builder
		for pair := range strings.SplitSeq(v, ";") {
			p := strings.TrimSpace(pair)
			if p == "" {
				continue
			}
			n, _, _ := strings.Cut(p, "=")
			if strings.TrimSpace(n) == name {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p)
		}
		if b.Len() > 0 {
			out = append(out, b.String())
		}
	}
	return out
}
