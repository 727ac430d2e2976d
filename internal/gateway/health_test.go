package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// TestActiveHealthCheck runs a gateway whose upstream has an http health
// check: a backend whose /healthz fails is taken out of rotation, with the
// reason kept, and comes back when it passes again; a reload that keeps
// the check keeps the verdict.
func TestActiveHealthCheck(t *testing.T) {
	var sick atomic.Bool
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("flaky"))
	}))
	defer flaky.Close()
	steady := httptest.NewServer(nameHandler("steady"))
	defer steady.Close()
	doc := fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams:
  - name: app
    health_check: {path: /healthz, interval: 50ms, timeout: 40ms, rise: 1, fall: 1}
    backends: [{address: %q}, {address: %q}]
`, flaky.Listener.Addr().String(), steady.Listener.Addr().String())
	h := start(t, doc)
	b := backendOf(t, h.g, "app", flaky.Listener.Addr().String())

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	sick.Store(true)
	waitFor("the failing backend is down", func() bool { ok, _ := b.Healthy(); return !ok })
	if _, reason := b.Healthy(); reason != "status 503" {
		t.Errorf("Healthy() reason = %q, want %q", reason, "status 503")
	}
	c := testenv.Client(t, testenv.H1)
	for range 6 {
		if _, body, _ := get(t, c, newRequest(t, "GET", h.url("/"), nil)); body != "steady" {
			t.Fatalf("GET / while flaky is down = %q, want steady", body)
		}
	}

	// A reload that keeps the check keeps the verdict.
	if err := h.reload(t, doc+"\n"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if ok, _ := b.Healthy(); ok {
		t.Errorf("after a reload keeping the check: Healthy() = true, want false")
	}

	sick.Store(false)
	waitFor("the backend is up again", func() bool { ok, _ := b.Healthy(); return ok })
	seen := map[string]bool{}
	for range 6 {
		_, body, _ := get(t, c, newRequest(t, "GET", h.url("/"), nil))
		seen[body] = true
	}
	if !seen["flaky"] || !seen["steady"] {
		t.Errorf("after recovery, responses came from %v, want both backends", seen)
	}
}
