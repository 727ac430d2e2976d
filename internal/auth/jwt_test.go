package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
)

// testKeys are generated once: RSA generation is slow under -race.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, otherRSA *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.otherRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

const testSecret = "0123456789abcdef0123456789abcdef"

// publicPEM writes pub as a PEM PUBLIC KEY file and returns its path and
// bytes.
func publicPEM(t testing.TB, pub crypto.PublicKey) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// sign returns a token of claims signed with key by method, with kid in
// its header when not empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", method.Alg(), err)
	}
	return s
}

func goodClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": "https://id.example.com", "aud": "api", "sub": "alice",
		"email": "alice@example.com", "roles": []string{"admin", "dev"}, "level": 3,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func jwtConfig(t testing.TB) config.AuthJWT {
	k := testKeys()
	rsaFile, _ := publicPEM(t, &k.rsa.PublicKey)
	ecFile, _ := publicPEM(t, &k.ec.PublicKey)
	edFile, _ := publicPEM(t, k.ed.Public())
	return config.AuthJWT{
		Keys: []config.AuthJWTKey{
			{File: rsaFile},
			{ID: "ec", File: ecFile},
			{ID: "ed", File: edFile},
			{ID: "hmac", Secret: testSecret},
		},
		Issuer:     config.StringList{"https://id.example.com"},
		Audience:   config.StringList{"api"},
		ClockSkew:  config.Duration(30 * time.Second),
		RequireExp: true,
		Claims:     map[string]string{"sub": "X-User", "email": "X-Email", "roles": "X-Roles", "level": "X-Level"},
	}
}

func TestJWT(t *testing.T) {
	k := testKeys()
	cfg := jwtConfig(t)
	_, rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	srv, backend := front(t, config.Auth{JWT: &cfg}, nil)
	now := time.Now()
	good := goodClaims()
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa, "", good), 200},
		{"RS512", sign(t, jwt.SigningMethodRS512, k.rsa, "", good), 200},
		{"PS256", sign(t, jwt.SigningMethodPS256, k.rsa, "", good), 200},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec, "ec", good), 200},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, k.ed, "ed", good), 200},
		{"HS256", sign(t, jwt.SigningMethodHS256, []byte(testSecret), "hmac", good), 200},
		{"HS512", sign(t, jwt.SigningMethodHS512, []byte(testSecret), "hmac", good), 200},
		{"within the clock skew", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "exp", now.Add(-10*time.Second).Unix(), "nbf", now.Add(10*time.Second).Unix())), 200},
		{"one of several audiences", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "aud", []string{"web", "api"})), 200},

		{"wrong key", sign(t, jwt.SigningMethodRS256, k.otherRSA, "", good), 401},
		{"expired", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "exp", now.Add(-time.Minute).Unix())), 401},
		{"no exp", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "exp", nil)), 401},
		{"not yet valid", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "nbf", now.Add(time.Minute).Unix())), 401},
		{"issued in the future", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "iat", now.Add(time.Minute).Unix())), 401},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "iss", "https://evil.example.com")), 401},
		{"no issuer", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "iss", nil)), 401},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, k.rsa, "", with(good, "aud", "other")), 401},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", good), 401},
		{"HS256 with the RSA public key as secret", sign(t, jwt.SigningMethodHS256, rsaPEM, "", good), 401},
		{"HS256 with the RSA public key under the EC kid", sign(t, jwt.SigningMethodHS256, rsaPEM, "ec", good), 401},
		{"ES256 under the HMAC kid", sign(t, jwt.SigningMethodES256, k.ec, "hmac", good), 401},
		{"unknown kid", sign(t, jwt.SigningMethodES256, k.ec, "nope", good), 401},
		{"tampered payload", tamper(sign(t, jwt.SigningMethodRS256, k.rsa, "", good)), 401},
		{"not a JWS", "abc", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := backend.last()
			status, _, hdr := do(t, srv.Client(), "GET", srv.URL, map[string]string{
				"Authorization": "Bearer " + tc.token,
				"X-User":        "mallory", // spoofed: must never arrive
			})
			if status != tc.want {
				t.Fatalf("GET with the token = %d, want %d", status, tc.want)
			}
			got, after := backend.last()
			if tc.want == 401 {
				if w := hdr.Get("WWW-Authenticate"); w != `Bearer error="invalid_token"` {
					t.Errorf("WWW-Authenticate = %q, want Bearer error=\"invalid_token\"", w)
				}
				if after != before {
					t.Errorf("refused request reached the backend")
				}
				return
			}
			for h, want := range map[string]string{"X-User": "alice", "X-Email": "alice@example.com", "X-Roles": "admin,dev", "X-Level": "3", "Authorization": ""} {
				if got.Get(h) != want {
					t.Errorf("backend got %s %q, want %q", h, got.Get(h), want)
				}
			}
			if n := len(got.Values("X-User")); n != 1 {
				t.Errorf("backend got %d X-User fields, want 1", n)
			}
		})
	}
	t.Run("no token", func(t *testing.T) {
		status, _, hdr := do(t, srv.Client(), "GET", srv.URL, nil)
		if status != 401 || hdr.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("GET without a token = %d, WWW-Authenticate %q; want 401, Bearer", status, hdr.Get("WWW-Authenticate"))
		}
	})
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = strings.TrimRight(parts[1], "A") + "B"
	return strings.Join(parts, ".")
}

func TestJWTCookie(t *testing.T) {
	k := testKeys()
	cfg := jwtConfig(t)
	cfg.Token = config.AuthToken{Cookie: "session"}
	srv, backend := front(t, config.Auth{JWT: &cfg}, nil)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "", goodClaims())
	status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Cookie": "theme=dark; session=" + tok + "; lang=en"})
	if status != 200 {
		t.Fatalf("GET with the token cookie = %d, want 200", status)
	}
	got, _ := backend.last()
	if c := got.Get("Cookie"); c != "theme=dark; lang=en" {
		t.Errorf("backend got Cookie %q, want the other cookies only", c)
	}
	if status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": "Bearer " + tok}); status != 401 {
		t.Errorf("GET with the token in Authorization instead of the cookie = %d, want 401", status)
	}
}

func TestJWTKeyConfusionRefusedAtLoad(t *testing.T) {
	k := testKeys()
	rsaFile, _ := publicPEM(t, &k.rsa.PublicKey)
	ecFile, _ := publicPEM(t, &k.ec.PublicKey)
	for _, tc := range []struct {
		name string
		key  config.AuthJWTKey
		want string
	}{
		{"ES256 for an RSA key", config.AuthJWTKey{File: rsaFile, Algorithms: []string{"ES256"}}, "cannot be used with this key"},
		{"ES384 for a P-256 key", config.AuthJWTKey{File: ecFile, Algorithms: []string{"ES384"}}, "cannot be used with this key"},
		{"HS256 for an RSA key", config.AuthJWTKey{File: rsaFile, Algorithms: []string{"HS256"}}, "cannot be used with this key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newJWT(config.AuthJWT{Keys: []config.AuthJWTKey{tc.key}}, false, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newJWT = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	priv := filepath.Join(t.TempDir(), "priv.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if _, err := newJWT(config.AuthJWT{Keys: []config.AuthJWTKey{{File: priv}}}, false, nil); err == nil || !strings.Contains(err.Error(), "give the public key") {
		t.Errorf("newJWT with a private key file = %v, want it refused", err)
	}
}

func TestParseBearer(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer  abc.def.ghi ", "abc.def.ghi", true},
		{"Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM", true},
		{"Bearer abc==", "abc==", true},
		{"Bearer a=b", "a=b", false},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Basic abc", "", false},
		{"Bearer a b", "a b", false},
	} {
		got, ok := parseBearer(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseBearer(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRemoveCookie(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"a=1; session=x; b=2"}, []string{"a=1; b=2"}},
		{[]string{"session=x"}, nil},
		{[]string{"session=x", "a=1"}, []string{"a=1"}},
		{[]string{"a=1;session=x;session=y"}, []string{"a=1"}},
		{[]string{"sessionx=1; xsession=2"}, []string{"sessionx=1; xsession=2"}},
	} {
		got := removeCookie(tc.in, "session")
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("removeCookie(%q, session) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzBearer(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := parseBearer(h)
		if !ok {
			return
		}
		if !isB64Token(tok) || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("parseBearer(%q) = %q: not a b64token", h, tok)
		}
		if isCompactJWS(tok) && strings.Count(tok, ".") != 2 {
			t.Fatalf("isCompactJWS(%q) with %d dots", tok, strings.Count(tok, "."))
		}
	})
}

func FuzzRemoveCookie(f *testing.F) {
	f.Fuzz(func(t *testing.T, header, name string) {
		if name == "" || strings.ContainsAny(name, "=; \t") {
			return
		}
		for _, v := range removeCookie([]string{header}, name) {
			for pair := range strings.SplitSeq(v, ";") {
				n, _, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.TrimSpace(n) == name {
					t.Fatalf("removeCookie(%q, %q) kept %q", header, name, v)
				}
			}
		}
	})
}

func BenchmarkJWT(b *testing.B) {
	k := testKeys()
	cfg := jwtConfig(b)
	mw, err := New(config.Auth{JWT: &cfg}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, bc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"HS256", jwt.SigningMethodHS256, []byte(testSecret), "hmac"},
		{"RS256", jwt.SigningMethodRS256, k.rsa, ""},
		{"ES256", jwt.SigningMethodES256, k.ec, "ec"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, "ed"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v := []string{"Bearer " + sign(b, bc.method, bc.key, bc.kid, goodClaims())}
			req, _ := http.NewRequest("GET", "http://example.com/", nil)
			w := discardWriter{}
			b.ReportAllocs()
			for b.Loop() {
				req.Header["Authorization"] = v
				h.ServeHTTP(w, req)
				if req.Header["X-User"] == nil {
					b.Fatal("token refused")
				}
			}
		})
	}
}

// TestJWTUnderscoreSpellingRemoved guards the bug where only the canonical
// spelling of a claim header was removed from the client's request: X_User
// reached the backend, which CGI, PHP, WSGI and Rack read as HTTP_X_USER,
// the same variable as the X-User the middleware vouches for.
func TestJWTUnderscoreSpellingRemoved(t *testing.T) {
	k := testKeys()
	cfg := jwtConfig(t)
	srv, backend := front(t, config.Auth{JWT: &cfg}, nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header["Authorization"] = []string{"Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "", goodClaims())}
	req.Header["X_User"] = []string{"mallory"}
	req.Header["x_eMail"] = []string{"mallory@example.com"}
	req.Header["X_Other"] = []string{"kept"}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET with a good token = %d, want 200", resp.StatusCode)
	}
	got, _ := backend.last()
	for name, v := range got {
		if httpsyntax.EqualFoldUnderscore(name, "X-User") && name != "X-User" || httpsyntax.EqualFoldUnderscore(name, "X-Email") && name != "X-Email" {
			t.Errorf("backend got the client's %s: %q", name, v)
		}
	}
	if got.Get("X-User") != "alice" || got.Get("X_Other") != "kept" {
		t.Errorf("backend got X-User %q, X_Other %q; want alice, kept", got.Get("X-User"), got.Get("X_Other"))
	}
}

// TestJWTClaimWithControlByte guards the bug where a claim holding a
// control byte other than CR, LF or NUL (\x01, DEL) was set as a header
// value, which RFC 9110 §5.5 forbids: the transport then refused the whole
// request (502) instead of the claim being left out.
func TestJWTClaimWithControlByte(t *testing.T) {
	k := testKeys()
	cfg := jwtConfig(t)
	srv, backend := front(t, config.Auth{JWT: &cfg}, nil)
	for _, sub := range []string{"alice\x01", "alice\x7f", "a\x1bb"} {
		tok := sign(t, jwt.SigningMethodRS256, k.rsa, "", with(goodClaims(), "sub", sub))
		status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": "Bearer " + tok})
		if status != 200 {
			t.Errorf("token with sub %q = %d, want 200 without the claim", sub, status)
			continue
		}
		if got, _ := backend.last(); got.Get("X-User") != "" {
			t.Errorf("sub %q forwarded as X-User %q, want it left out", sub, got.Get("X-User"))
		}
	}
	if v, ok := claimValue(" \tbob\t "); !ok || v != "bob" {
		t.Errorf("claimValue(%q) = %q, %v; want bob, true", " \tbob\t ", v, ok)
	}
}

// TestJWTOtherSchemeChallenge guards the bug where Authorization: Basic on
// a Bearer route was answered with error="invalid_token": RFC 6750 §3.1
// says a request using another authentication method lacks Bearer
// credentials, and its challenge carries no error code.
func TestJWTOtherSchemeChallenge(t *testing.T) {
	cfg := jwtConfig(t)
	srv, _ := front(t, config.Auth{JWT: &cfg}, nil)
	for _, tc := range []struct{ auth, want string }{
		{"Basic YWxpY2U6d29uZGVybGFuZA==", "Bearer"},
		{"Bearer not-a-jws", `Bearer error="invalid_token"`},
	} {
		status, _, hdr := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": tc.auth})
		if status != 401 || hdr.Get("WWW-Authenticate") != tc.want {
			t.Errorf("Authorization %q = %d, WWW-Authenticate %q; want 401, %q", tc.auth, status, hdr.Get("WWW-Authenticate"), tc.want)
		}
	}
}
