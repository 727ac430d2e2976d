package ratelimit

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/textproto"
	"strings"

	"palisade/internal/middleware"
)

// keyPart is one part of a limit's key.
type keyPart struct {
	kind byte   // 'i' client_ip, 'r' route, 'h' header, 'c' cookie, 'j' jwt_claim
	name string // the header (canonical), cookie or claim name
}

// parseKey compiles the key parts of a validated config.
func parseKey(parts []string) []keyPart {
	out := make([]keyPart, 0, len(parts))
	for _, p := range parts {
		src, name, _ := strings.Cut(p, ":")
		switch src {
		case "client_ip":
			out = append(out, keyPart{kind: 'i'})
		case "route":
			out = append(out, keyPart{kind: 'r'})
		case "header":
			out = append(out, keyPart{kind: 'h', name: textproto.CanonicalMIMEHeaderKey(name)})
		case "cookie":
			out = append(out, keyPart{kind: 'c', name: name})
		case "jwt_claim":
			out = append(out, keyPart{kind: 'j', name: name})
		}
	}
	return out
}

// appendKey appends r's key to b: each part its kind byte, its length and
// its bytes, so that no two different lists of values make one key. A
// missing header, cookie or claim is an empty value: every request lacking
// it shares one allowance.
func appendKey(b []byte, parts []keyPart, r *http.Request, route string) []byte {
	for _, p := range parts {
		b = append(b, p.kind)
		switch p.kind {
		case 'i':
			ip := middleware.StateFrom(r.Context()).ClientIP
			if !ip.IsValid() {
				b = append(b, 0)
				continue
			}
			a := ip.Unmap().As16()
			b = append(b, 16)
			b = append(b, a[:]...)
		case 'r':
			b = appendValue(b, route)
		case 'h':
			var v string
			if vs := r.Header[p.name]; len(vs) > 0 {
				v = vs[0]
			}
			b = appendValue(b, v)
		case 'c':
			var v string
			if c, err := r.Cookie(p.name); err == nil {
				v = c.Value
			}
			b = appendValue(b, v)
		case 'j':
			b = appendValue(b, bearerClaim(r, p.name))
		}
	}
	return b
}

func appendValue(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// bearerClaim returns the claim name of the JWT in r's Authorization:
// Bearer field, or "" when there is none. The token is NOT verified: the
// limit runs before authentication (DESIGN.md's chain order), so a client
// can write any claim it likes. A jwt_claim key shares capacity fairly
// among well-behaved clients; it is no defence against a hostile one, for
// which client_ip is the key. A string claim is its value; any other JSON
// value is its text.
func bearerClaim(r *http.Request, name string) string {
	auth := r.Header.Get("Authorization")
	if len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return ""
	}
	tok := strings.TrimSpace(auth[7:])
	_, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok || len(payload) > 8<<10 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return ""
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(raw, &claims) != nil {
		return ""
	}
	v, ok := claims[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}
