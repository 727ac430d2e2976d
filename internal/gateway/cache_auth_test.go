package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"palisade/internal/testenv"
)

// TestCacheKeepsAuthenticatedResponsesPrivate guards a poisoning path
// between two middlewares: auth runs before the cache and removes the
// client's Authorization, so the cache's RFC 9111 §3.5 rule never saw it,
// and a response meant for alice (max-age, not public) was stored and
// served to bob. A request the auth middleware let through now counts as
// one carrying Authorization; a response marked public is still shared.
func TestCacheKeepsAuthenticatedResponsesPrivate(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/public" {
			w.Header().Set("Cache-Control", "public, max-age=60")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		fmt.Fprintf(w, "for %s", r.Header.Get("X-User"))
	}))
	defer origin.Close()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
cache_zones: [{name: z}]
routes:
  - name: all
    match: {path_prefix: /}
    middlewares:
      - {kind: auth, basic: {users: {alice: %q, bob: %q}}}
      - {kind: cache, zone: z}
    upstream: app
upstreams: [{name: app, backends: [{address: %q}]}]
`, hash("a-secret"), hash("b-secret"), origin.Listener.Addr().String()))
	c := testenv.Client(t, testenv.H1)
	getAs := func(user, pw, path string) string {
		req := newRequest(t, "GET", h.url(path), nil)
		req.SetBasicAuth(user, pw)
		status, body, _ := get(t, c, req)
		if status != 200 {
			t.Fatalf("GET %s as %s = %d", path, user, status)
		}
		return body
	}
	getAs("alice", "a-secret", "/private")
	getAs("bob", "b-secret", "/private")
	if n := hits.Load(); n != 2 {
		t.Errorf("two users' requests for a response without public reached the origin %d times, want 2 (not shared)", n)
	}
	getAs("alice", "a-secret", "/public")
	getAs("bob", "b-secret", "/public")
	if n := hits.Load(); n != 3 {
		t.Errorf("after two requests for a public response: origin hits %d, want 3 (stored once, shared)", n)
	}
}
