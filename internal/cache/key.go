package cache

import (
	"fmt"
	"net/http"
	"strings"
	"unsafe"

	"palisade/internal/httpsyntax"
)

// keyPart is one compiled entry of config.Cache.Key.
type keyPart struct {
	kind keyKind
	name string // header (canonical) or cookie name
}

type keyKind uint8

const (
	keyMethod keyKind = iota
	keyHeader
	keyCookie
)

// keySpec is a route's compiled cache key. A key is the request's absolute
// URL, "scheme://host/path?query" with the URL parts the route leaves out
// written empty (scheme as http), then, each after a NUL byte, the method
// (HEAD read as GET, whose stored response answers it) and the header and
// cookie values the route adds. A variant key appends a NUL, "v" and the
// normalised values of the response's Vary fields. Keys begin with the URL
// so that a purge by URL prefix is a prefix of keys; NUL never occurs in a
// URL, a method or a field value.
type keySpec struct {
	scheme, host, path, query bool
	parts                     []keyPart
}

func compileKey(parts []string) (keySpec, error) {
	var k keySpec
	for _, p := range parts {
		src, name, _ := strings.Cut(p, ":")
		switch src {
		case "scheme":
			k.scheme = true
		case "host":
			k.host = true
		case "path":
			k.path = true
		case "query":
			k.query = true
		case "method":
			k.parts = append(k.parts, keyPart{kind: keyMethod})
		case "header":
			k.parts = append(k.parts, keyPart{kind: keyHeader, name: http.CanonicalHeaderKey(name)})
		case "cookie":
			k.parts = append(k.parts, keyPart{kind: keyCookie, name: name})
		default:
			return keySpec{}, fmt.Errorf("unknown key part %q", p)
		}
	}
	return k, nil
}

// appendURL appends the URL part of r's key: what a purge by URL matches.
func (k *keySpec) appendURL(b []byte, r *http.Request) []byte {
	if k.scheme && r.TLS != nil {
		b = append(b, "https://"...)
	} else {
		b = append(b, "http://"...)
	}
	if k.host {
		b = appendLower(b, r.Host)
	}
	if k.path {
		p := r.URL.EscapedPath()
		if p == "" || p[0] != '/' {
			b = append(b, '/')
		}
		b = append(b, p...)
	} else {
		b = append(b, '/')
	}
	if k.query && r.URL.RawQuery != "" {
		b = append(b, '?')
		b = append(b, r.URL.RawQuery...)
	}
	return b
}

// appendKey appends r's primary key.
func (k *keySpec) appendKey(b []byte, r *http.Request) []byte {
	b = k.appendURL(b, r)
	for _, p := range k.parts {
		b = append(b, 0)
		switch p.kind {
		case keyMethod:
			m := r.Method
			if m == http.MethodHead {
				m = http.MethodGet
			}
			b = append(b, m...)
		case keyHeader:
			for i, v := range r.Header[p.name] {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, httpsyntax.TrimOWS(v)...)
			}
		case keyCookie:
			if v, ok := cookieValue(r.Header, p.name); ok {
				b = append(b, '=')
				b = append(b, v...)
			}
		}
	}
	return b
}

// appendLower appends s lowercased (host names compare without case).
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// cookieValue returns the value of the cookie name in h's Cookie fields,
// without allocating.
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			n, v, ok := strings.Cut(httpsyntax.TrimOWS(pair), "=")
			if ok && n == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}

// keyBuf is a reused buffer keys are built in.
type keyBuf struct{ b []byte }

func newKeyBuf() any { return &keyBuf{b: make([]byte, 0, 256)} }

// view returns b as a string without copying: valid only while b is
// neither changed nor returned to the pool, so only for calls that do not
// keep it (Store.Get, map lookups).
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
