package proxy

import (
	"net/http"
	"strings"

	"palisade/internal/lb"
)

// KeyKind is where a request's balancing key comes from.
type KeyKind uint8

const (
	KeyNone     KeyKind = iota // the policy ignores the key
	KeyClientIP                // the client address, as resolved through trusted proxies
	KeyHeader                  // a request header's first value
	KeyCookie                  // a cookie's value
	KeyQuery                   // a query parameter's first value
)

// KeySource is a parsed hash_key: its kind and, but for the client IP, the
// name of the header, cookie or query parameter.
type KeySource struct {
	Kind KeyKind
	Name string
}

// ParseKeySource parses a validated hash_key (client_ip, header:NAME,
// cookie:NAME, query:NAME).
func ParseKeySource(s string) KeySource {
	src, name, _ := strings.Cut(s, ":")
	switch src {
	case "header":
		return KeySource{KeyHeader, http.CanonicalHeaderKey(name)}
	case "cookie":
		return KeySource{KeyCookie, name}
	case "query":
		return KeySource{KeyQuery, name}
	}
	return KeySource{Kind: KeyClientIP}
}

// key computes the request's balancing key; a request without the header,
// cookie or parameter falls back to its client address, so that it is
// still spread and still stable.
func (ex *exchange) key() uint64 {
	ks := ex.h.t.Key
	switch ks.Kind {
	case KeyNone:
		return 0
	case KeyHeader:
		if v := ex.in.Header[ks.Name]; len(v) > 0 && v[0] != "" {
			return lb.HashString(v[0])
		}
	case KeyCookie:
		if v, ok := cookieValue(ex.in.Header["Cookie"], ks.Name); ok {
			return lb.HashString(v)
		}
	case KeyQuery:
		if v, ok := queryValue(ex.in.URL.RawQuery, ks.Name); ok {
			return lb.HashString(v)
		}
	}
	if ex.st != nil && ex.st.ClientIP.IsValid() {
		return lb.HashAddr(ex.st.ClientIP)
	}
	return 0
}

// cookieValue finds the value of the cookie name in Cookie fields without
// allocating (RFC 6265 §4.2.1: "name=value" pairs separated by "; ").
func cookieValue(fields []string, name string) (string, bool) {
	for _, f := range fields {
		for f != "" {
			var pair string
			pair, f, _ = strings.Cut(f, ";")
			pair = strings.TrimSpace(pair)
			k, v, ok := strings.Cut(pair, "=")
			if ok && k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// queryValue finds the first raw value of the parameter name, undecoded
// (two spellings of one value hash apart, which only splits a key).
func queryValue(q, name string) (string, bool) {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}
