package gateway

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"palisade/internal/testenv"
)

// TestAuthThroughProxy runs the three auth modes on routes of one gateway
// built from YAML: Basic from an htpasswd file, JWT with an HMAC secret
// from the environment, and forward auth to a loopback auth service.
func TestAuthThroughProxy(t *testing.T) {
	backend := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s auth=%s", r.Header.Get("X-User"), r.Header.Get("Authorization"))
	}))
	authSvc := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer let-me-in" {
			w.Header().Set("Location", "https://sso.example.com/?rd="+r.Header.Get("X-Forwarded-Uri"))
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("X-User", "carol")
	}))
	dir := t.TempDir()
	h, _ := bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost)
	if err := os.WriteFile(filepath.Join(dir, "users.htpasswd"), []byte("alice:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("k", 32)
	t.Setenv("PALISADE_TEST_JWT_SECRET", secret)
	g := startIn(t, dir, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes:
  - name: basic
    match: {path_prefix: /basic/}
    middlewares: [{kind: auth, basic: {realm: staff, htpasswd_file: users.htpasswd}}]
    upstream: app
  - name: jwt
    match: {path_prefix: /jwt/}
    middlewares: [{kind: auth, jwt: {keys: [{secret: "${PALISADE_TEST_JWT_SECRET}"}], issuer: palisade-test, claims: {sub: X-User}}}]
    upstream: app
  - name: forward
    match: {path_prefix: /fwd/}
    middlewares: [{kind: auth, forward: {url: "%s/check", response_headers: [X-User]}}]
    upstream: app
upstreams: [{name: app, backends: [{address: %q}]}]
`, authSvc.URL, backend.Listener.Addr()))
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "bob", "iss": "palisade-test", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))
	for _, proto := range testenv.Protocols {
		c := testenv.Client(t, proto)
		for _, tc := range []struct {
			name, path, auth string
			status           int
			body, header     string
		}{
			{"basic good", "/basic/a", basic, 200, "user=mallory auth=", ""}, // basic sets no header of its own
			{"basic bad", "/basic/a", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:x")), 401, "", `Basic realm="staff", charset="UTF-8"`},
			{"jwt good", "/jwt/a", "Bearer " + tok, 200, "user=bob auth=", ""},
			{"jwt none", "/jwt/a", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IiLCJpc3MiOiJwYWxpc2FkZS10ZXN0In0.", 401, "", `Bearer error="invalid_token"`},
			{"jwt missing", "/jwt/a", "", 401, "", "Bearer"},
			{"forward allows", "/fwd/a", "Bearer let-me-in", 200, "user=carol auth=", ""},
			{"forward redirects", "/fwd/a?b=1", "", 302, "", ""},
		} {
			t.Run(string(proto)+"/"+tc.name, func(t *testing.T) {
				req := newRequest(t, "GET", g.url(tc.path), nil)
				req.Header.Set("X-User", "mallory")
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				status, body, hdr := get(t, c, req)
				if status != tc.status {
					t.Fatalf("GET %s = %d %q, want %d", tc.path, status, body, tc.status)
				}
				if tc.status == 200 && body != tc.body {
					t.Errorf("backend saw %q, want %q", body, tc.body)
				}
				if tc.status == 401 && hdr.Get("WWW-Authenticate") != tc.header {
					t.Errorf("WWW-Authenticate = %q, want %q", hdr.Get("WWW-Authenticate"), tc.header)
				}
				if tc.status == 302 && hdr.Get("Location") != "https://sso.example.com/?rd=/fwd/a?b=1" {
					t.Errorf("Location = %q, want the auth service's", hdr.Get("Location"))
				}
			})
		}
	}
}
