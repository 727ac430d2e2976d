package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// TestMaxConnections checks limits.max_connections: with one connection
// allowed and that one busy, a second request does not dial the backend
// but is answered 503 with Retry-After at once, and the backend's passive
// health learns nothing from it.
func TestMaxConnections(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		w.Write([]byte("ok"))
	}))
	tg := newTarget(t, config.Upstream{Limits: config.UpstreamLimits{MaxConnections: 1}}, addr(be))
	h := New(tg, Options{}, nil)
	done := make(chan int)
	go func() {
		done <- serveDirect(h, httptest.NewRequest("GET", "/slow", nil), &middleware.State{}).Code
	}()
	<-entered
	rec := serveDirect(h, httptest.NewRequest("GET", "/fast", nil), &middleware.State{})
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("second request with the only connection busy: status %d, want 503", rec.Code)
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q, want a positive number of seconds", rec.Header().Get("Retry-After"))
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("first request: status %d, want 200", code)
	}
	if f := tg.Pool.Primaries()[0].Failures(); f != 0 {
		t.Errorf("Failures() = %d after a request refused by the connection limit, want 0", f)
	}
	// The connection is free again.
	if rec := serveDirect(h, httptest.NewRequest("GET", "/fast", nil), &middleware.State{}); rec.Code != 200 {
		t.Errorf("request after the first ended: status %d, want 200", rec.Code)
	}
}

// TestForgetBackendClosesItsConnections checks that the pool hangs off the
// backend's identity: forgetting a backend closes its idle connections and
// drops its pool, and a new backend at the same address gets a new pool.
func TestForgetBackendClosesItsConnections(t *testing.T) {
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	tg := newTarget(t, config.Upstream{}, addr(be))
	tr := h1(t, tg)
	h := New(tg, Options{}, nil)
	if rec := serveDirect(h, httptest.NewRequest("GET", "/", nil), nil); rec.Code != 200 {
		t.Fatalf("GET: status %d", rec.Code)
	}
	b := tg.Pool.Primaries()[0]
	p := tr.pool(b)
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	if idle != 1 {
		t.Fatalf("idle connections = %d, want 1", idle)
	}
	tr.ForgetBackend(b)
	p.mu.Lock()
	idle, open := len(p.idle), len(p.conns)
	p.mu.Unlock()
	if idle != 0 || open != 0 {
		t.Errorf("after ForgetBackend: idle %d, open %d; want 0, 0", idle, open)
	}
	if _, ok := (*tr.pools.Load())[b]; ok {
		t.Errorf("after ForgetBackend: the transport still maps the backend to a pool")
	}
	if tr.pool(b) == p {
		t.Errorf("a forgotten backend got its old pool back")
	}
}

// TestPoolOfDrainingBackendIsNotKept guards the pool map that a request
// racing a reload could grow: a request that picked a backend just before
// the reload removed it found no pool (ForgetBackend dropped it) and made a
// new one that stayed in the map for good. A draining backend now gets a
// closed pool that is not kept, and the request moves on as after a
// connect failure.
func TestPoolOfDrainingBackendIsNotKept(t *testing.T) {
	tr := newH1Transport(config.Upstream{}, nil)
	defer tr.Close()
	b := upstream.NewBackend("test", "127.0.0.1:9")
	b.SetDraining(true)
	p := tr.pool(b)
	if _, kept := (*tr.pools.Load())[b]; kept {
		t.Errorf("the pool of a draining backend is kept in the transport's map")
	}
	if _, err := p.dial(context.Background()); !isDialError(err) {
		t.Errorf("dial on a draining backend's pool = %v, want a dial error", err)
	}
}
