package server

import (
	"net/netip"
	"strings"

	"palisade/internal/httpsyntax"
)

// Server-only character classes, as httpsyntax.InSet sets (bytes 0-63 in
// the low word, 64-127 in the high one). TestCharClasses checks them
// against the RFC grammar.
const (
	// RFC 3986 §3.2.2 host bytes: unreserved / pct-encoded / sub-delims,
	// plus ":" for the port and "[" "]" for an IP literal.
	hostLo = 0x2fff7ff200000000
	hostHi = 0x47fffffeaffffffe
	// Path bytes that url.URL keeps unescaped (ALPHA DIGIT -._~$&+,/:;=@):
	// a path made of them alone needs no RawPath.
	plainPathLo = 0x2ffff85000000000
	plainPathHi = 0x47fffffe87ffffff
)

// canonicalKey returns the canonical form of the token name, without
// allocating when name is already canonical (a substring of the head) or is
// a common field name.
func canonicalKey(name string) string {
	if httpsyntax.IsCanonical(name) {
		return name
	}
	var stack [64]byte
	var b []byte
	if len(name) <= len(stack) {
		b = stack[:len(name)]
	} else {
		b = make([]byte, len(name))
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if s := commonKey(b); s != "" {
		return s
	}
	return string(b)
}

// commonKey returns the interned string for a common canonical field name,
// or "" for another. The compiler does not allocate for switch string(b).
func commonKey(b []byte) string {
	switch string(b) {
	case "Accept":
		return "Accept"
	case "Accept-Encoding":
		return "Accept-Encoding"
	case "Accept-Language":
		return "Accept-Language"
	case "Authorization":
		return "Authorization"
	case "Cache-Control":
		return "Cache-Control"
	case "Connection":
		return "Connection"
	case "Content-Length":
		return "Content-Length"
	case "Content-Type":
		return "Content-Type"
	case "Cookie":
		return "Cookie"
	case "Expect":
		return "Expect"
	case "Host":
		return "Host"
	case "If-Modified-Since":
		return "If-Modified-Since"
	case "If-None-Match":
		return "If-None-Match"
	case "Origin":
		return "Origin"
	case "Pragma":
		return "Pragma"
	case "Range":
		return "Range"
	case "Referer":
		return "Referer"
	case "Te":
		return "Te"
	case "Trailer":
		return "Trailer"
	case "Transfer-Encoding":
		return "Transfer-Encoding"
	case "Upgrade":
		return "Upgrade"
	case "User-Agent":
		return "User-Agent"
	case "X-Forwarded-For":
		return "X-Forwarded-For"
	case "X-Forwarded-Host":
		return "X-Forwarded-Host"
	case "X-Forwarded-Proto":
		return "X-Forwarded-Proto"
	case "X-Request-Id":
		return "X-Request-Id"
	}
	return ""
}

// nextListItem splits the first element off a comma-separated field value
// (RFC 9110 §5.6.1), trimming OWS. Empty elements are returned as "" so
// callers may refuse them.
func nextListItem(s string) (item, rest string, more bool) {
	if i := strings.IndexByte(s, ','); i >= 0 {
		return httpsyntax.TrimOWS(s[:i]), s[i+1:], true
	}
	return httpsyntax.TrimOWS(s), "", false
}

// hasToken reports whether the comma-separated list v contains tok, compared
// case-insensitively.
func hasToken(v, tok string) bool {
	for more := true; more; {
		var item string
		item, v, more = nextListItem(v)
		if strings.EqualFold(item, tok) {
			return true
		}
	}
	return false
}

// validHost reports whether h is a valid Host field value or authority
// without userinfo (RFC 9110 §7.2, RFC 3986 §3.2.2): a reg-name or IPv4
// address, or a bracketed IPv6 literal, then an optional ":" and up to five
// digits. The empty value is valid (RFC 9112 §3.2).
func validHost(h string) bool {
	if h == "" {
		return true
	}
	var port string
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		ip, err := netip.ParseAddr(h[1:end])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return false
		}
		port = h[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else {
		host := h
		if i := strings.IndexByte(h, ':'); i >= 0 {
			host, port = h[:i], h[i:]
		}
		if host == "" {
			return false
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; c == '[' || c == ']' || c == ':' || !httpsyntax.InSet(c, hostLo, hostHi) {
				return false
			}
		}
	}
	if port == "" {
		return true
	}
	port = port[1:]
	if len(port) > 5 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	return true
}

// parseContentLength parses a Content-Length value: 1 to 18 digits, so it
// never overflows int64. It returns -1 for anything else, a list included.
func parseContentLength(v string) int64 {
	if v == "" || len(v) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
