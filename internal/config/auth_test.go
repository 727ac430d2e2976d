package config

import (
	"strings"
	"testing"
	"time"
)

const testBcrypt = "$2a$04$abcdefghijklmnopqrstuuJrMpAbQ/3vHbk9F.EmJYCZ2l4b1lsHe"

func TestAuthDefaults(t *testing.T) {
	doc := L + U + `routes:
  - name: r
    upstream: api
    middlewares:
      - {kind: auth, basic: {users: {alice: "` + testBcrypt + `"}}}
      - {kind: auth, jwt: {keys: [{secret: "${SECRET}"}], jwks: {url: "https://id.example.com/jwks.json"}}}
      - {kind: auth, forward: {url: "http://127.0.0.1:9091/verify"}}
`
	cfg, err := Loader{LookupEnv: func(string) (string, bool) { return strings.Repeat("s", 32), true }}.Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	mws := cfg.Routes[0].Middlewares
	b, j, f := mws[0].Auth.Basic, mws[1].Auth.JWT, mws[2].Auth.Forward
	if b.Realm != "palisade" || b.CacheTTL.D() != time.Minute || b.CacheSize != 1024 || b.Users["alice"] != testBcrypt {
		t.Errorf("basic = %+v, want realm palisade, cache 1m x 1024 and alice's hash", b)
	}
	if j.ClockSkew.D() != 30*time.Second || !j.RequireExp || j.Keys[0].Secret != strings.Repeat("s", 32) {
		t.Errorf("jwt = %+v, want clock_skew 30s, require_exp and the secret from the environment", j)
	}
	if w := j.JWKS; w.Timeout.D() != 5*time.Second || w.CacheDefault.D() != 10*time.Minute || w.CacheMin.D() != time.Minute || w.CacheMax.D() != 24*time.Hour || w.RefreshInterval.D() != 30*time.Second {
		t.Errorf("jwks = %+v, want the documented defaults", w)
	}
	if f.Timeout.D() != 5*time.Second || f.MaxBodySize != 64<<10 || len(f.RequestHeaders) != 2 {
		t.Errorf("forward = %+v, want timeout 5s, 64KiB and [Authorization, Cookie]", f)
	}
}

func TestAuthValidate(t *testing.T) {
	route := func(mw string) string {
		return L + U + "routes: [{name: r, upstream: api, middlewares: [" + mw + "]}]\n"
	}
	for _, tc := range []struct{ name, mw, want string }{
		{"no mode", `{kind: auth}`, "routes[0].middlewares[0]: no mode"},
		{"two modes", `{kind: auth, basic: {users: {a: "` + testBcrypt + `"}}, forward: {url: "http://127.0.0.1:1/"}}`, "middlewares[0].forward: cannot be combined with basic"},
		{"no users", `{kind: auth, basic: {}}`, "middlewares[0].basic: no users"},
		{"apr1 hash", `{kind: auth, basic: {users: {a: "$apr1$x$y"}}}`, "basic.users.a: is an Apache MD5 (apr1) hash, which is not accepted"},
		{"plain password", `{kind: auth, basic: {users: {a: hunter2}}}`, "basic.users.a: is not a bcrypt hash"},
		{"colon in user", `{kind: auth, basic: {users: {"a:b": "` + testBcrypt + `"}}}`, `user name "a:b" cannot be used`},
		{"quote in realm", `{kind: auth, basic: {realm: 'a"b', users: {a: "` + testBcrypt + `"}}}`, "basic.realm:"},
		{"no keys", `{kind: auth, jwt: {}}`, "middlewares[0].jwt: no keys"},
		{"short secret", `{kind: auth, jwt: {keys: [{secret: short}]}}`, "jwt.keys[0].secret: is 5 bytes, shorter than 32"},
		{"HS with a file", `{kind: auth, jwt: {keys: [{file: k.pem, algorithms: [HS256]}]}}`, "HS256 cannot be used with a public key"},
		{"none algorithm", `{kind: auth, jwt: {keys: [{file: k.pem, algorithms: [none]}]}}`, `unknown algorithm "none"`},
		{"http jwks", `{kind: auth, jwt: {jwks: {url: "http://id.example.com/jwks"}}}`, "is plain http to a host that is not loopback"},
		{"header and cookie", `{kind: auth, jwt: {keys: [{file: k.pem}], token: {header: X-T, cookie: t}}}`, "jwt.token.cookie: cannot be combined with token.header"},
		{"claim into Authorization", `{kind: auth, jwt: {keys: [{file: k.pem}], claims: {sub: Authorization}}}`, "claims cannot be forwarded in Authorization"},
		// Regression: claims could be forwarded in framing, hop-by-hop and
		// forwarding fields, in the token's own header (which the
		// middleware clears before reading the token, refusing everyone),
		// and two claims in one header.
		{"claim into Content-Length", `{kind: auth, jwt: {keys: [{file: k.pem}], claims: {sub: Content-Length}}}`, "claims cannot be forwarded in Content-Length"},
		{"claim into Connection", `{kind: auth, jwt: {keys: [{file: k.pem}], claims: {sub: connection}}}`, "claims cannot be forwarded in connection"},
		{"claim into X-Forwarded-For", `{kind: auth, jwt: {keys: [{file: k.pem}], claims: {sub: X_Forwarded_For}}}`, "claims cannot be forwarded in X_Forwarded_For"},
		{"claim into the token header", `{kind: auth, jwt: {keys: [{file: k.pem}], token: {header: X-Token}, claims: {sub: x-token}}}`, "jwt.claims.sub: x-token is the header the token is read from"},
		{"two claims in one header", `{kind: auth, jwt: {keys: [{file: k.pem}], claims: {sub: X-User, email: X_User}}}`, `jwt.claims.sub: X-User is also the header of claim "email"`},
		{"forward sends Upgrade", `{kind: auth, forward: {url: "http://127.0.0.1:1/", request_headers: [Upgrade]}}`, "forward.request_headers[0]: Upgrade is a hop-by-hop or framing field"},
		{"duplicate kid", `{kind: auth, jwt: {keys: [{kid: a, file: k.pem}, {kid: a, file: j.pem}]}}`, `jwt.keys[1].kid: kid "a" is used by keys[0] too`},
		{"forward without url", `{kind: auth, forward: {}}`, "forward.url: missing"},
		{"forward copies Content-Length", `{kind: auth, forward: {url: "http://127.0.0.1:1/", response_headers: [Content-Length]}}`, "is a hop-by-hop or framing field"},
		{"unknown key", `{kind: auth, basic: {users: {a: "` + testBcrypt + `"}}, keep_credential: true}`, `unknown key "keep_credential"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(route(tc.mw)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%s) = %v, want a diagnostic containing %q", tc.mw, err, tc.want)
			}
		})
	}
}
