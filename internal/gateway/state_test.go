package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/snapshot"
	"palisade/internal/testenv"
	"palisade/internal/upstream"
)

// backendOf returns the live backend of upstream name at addr.
func backendOf(t *testing.T, g *Gateway, name, addr string) *upstream.Backend {
	t.Helper()
	u := g.Snapshot().Upstreams[name]
	if u == nil {
		t.Fatalf("no upstream %q in the live snapshot", name)
	}
	for _, list := range [][]*upstream.Backend{u.Pool.Primaries(), u.Pool.Backups()} {
		for _, b := range list {
			if b.Addr == addr {
				return b
			}
		}
	}
	return nil
}

// TestReloadKeepsBackendState checks the seam of the balancing issue: a
// reload that keeps an upstream and a backend address keeps the backend's
// live state (health verdict and reason, ejection, in-flight count,
// latency, slow-start clock) and the upstream's policy state; a backend the
// reload removes drains, and an upstream the reload removes releases its
// pool.
func TestReloadKeepsBackendState(t *testing.T) {
	a := httptest.NewServer(nameHandler("a"))
	defer a.Close()
	b := httptest.NewServer(nameHandler("b"))
	defer b.Close()
	addrA, addrB := a.Listener.Addr().String(), b.Listener.Addr().String()
	doc := func(backends, extra string) string {
		return fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams:
  - name: app
    slow_start: 1m
    backends: [%s]
%s`, backends, extra)
	}
	both := fmt.Sprintf("{address: %q}, {address: %q}", addrA, addrB)
	h := start(t, doc(both, ""))
	first := g0(h)
	ba, bb := backendOf(t, h.g, "app", addrA), backendOf(t, h.g, "app", addrB)
	if ba == nil || bb == nil {
		t.Fatalf("backends %s and %s not found in the pool", addrA, addrB)
	}

	// Give both backends state a reload must keep.
	ba.SetHealthy(false, "status 503")
	release := bb.Acquire()
	defer release(time.Millisecond, nil)
	policy := first.Upstreams["app"].Target.Policy

	// Reload with a change elsewhere (weights and a new upstream).
	both2 := fmt.Sprintf("{address: %q, weight: 3}, {address: %q}", addrA, addrB)
	if err := h.reload(t, doc(both2, "  - {name: other, backends: [{address: 127.0.0.1:9}]}\n")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := backendOf(t, h.g, "app", addrA); got != ba {
		t.Fatalf("after reload: backend %s is a new object, want the same one", addrA)
	}
	if ok, reason := ba.Healthy(); ok || reason != "status 503" {
		t.Errorf("after reload: Healthy() = %v, %q; want false, %q", ok, reason, "status 503")
	}
	if got := ba.Weight(); got != 3 {
		t.Errorf("after reload: Weight() = %d, want 3 (weights change in place)", got)
	}
	if got := bb.InFlight(); got != 1 {
		t.Errorf("after reload: InFlight() = %d, want 1", got)
	}
	if got := h.g.Snapshot().Upstreams["app"].Target.Policy; got != policy {
		t.Errorf("after reload: the policy is a new object; round-robin positions would reset")
	}

	// Every request goes to b while a is down.
	c := testenv.Client(t, testenv.H1)
	for range 4 {
		if _, body, _ := get(t, c, newRequest(t, "GET", h.url("/"), nil)); body != "b" {
			t.Fatalf("GET / with a down = %q, want b", body)
		}
	}

	// Remove a: it drains and leaves the pool.
	if err := h.reload(t, doc(fmt.Sprintf("{address: %q}", addrB), "")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := backendOf(t, h.g, "app", addrA); got != nil {
		t.Errorf("after removing %s: still in the pool", addrA)
	}
	if !ba.Draining() || ba.Available() {
		t.Errorf("removed backend: Draining() = %v, Available() = %v; want true, false", ba.Draining(), ba.Available())
	}

	// Add it again: a new backend (its old state went with its removal),
	// ramping up under slow start because the pool already ran.
	if err := h.reload(t, doc(both, "")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	na := backendOf(t, h.g, "app", addrA)
	if na == nil || na == ba {
		t.Fatalf("re-added backend = %p, want a new backend (old %p)", na, ba)
	}
	if w := na.EffectiveWeight(); w >= 256 {
		t.Errorf("re-added backend: EffectiveWeight() = %d, want below full weight 256 under slow start", w)
	}
	if w := bb.EffectiveWeight(); w != 256 {
		t.Errorf("kept backend: EffectiveWeight() = %d, want 256", w)
	}
}

// g0 returns the live snapshot.
func g0(h *harness) *snapshot.Snapshot { return h.g.Snapshot() }

// TestFailedReloadChangesNoBackend checks that a reload refused after the
// build (a port in use) leaves pools, weights and policies as they were.
func TestFailedReloadChangesNoBackend(t *testing.T) {
	a := httptest.NewServer(nameHandler("a"))
	defer a.Close()
	addrA := a.Listener.Addr().String()
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	doc := func(weight int, extraListener string) string {
		return fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}%s]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q, weight: %d}]}]
`, extraListener, addrA, weight)
	}
	h := start(t, doc(2, ""))
	ba := backendOf(t, h.g, "app", addrA)
	err := h.reload(t, doc(5, fmt.Sprintf(", {name: taken, address: %q}", busy.Listener.Addr().String())))
	if err == nil {
		t.Fatalf("reload onto a busy port succeeded")
	}
	var diags interface{ Error() string }
	if !errors.As(err, &diags) {
		t.Fatalf("reload error %T", err)
	}
	if got := backendOf(t, h.g, "app", addrA); got != ba || ba.Weight() != 2 {
		t.Errorf("after a failed reload: backend %p weight %d, want %p weight 2", got, ba.Weight(), ba)
	}
}

// TestRemovedBackendClosesIdleConnections guards the pool map that was
// never pruned: a backend removed by a reload kept its idle keep-alive
// connections until the whole transport retired. Now its pool hangs off
// the backend and closes with it.
func TestRemovedBackendClosesIdleConnections(t *testing.T) {
	var open atomic.Int64
	track := func(srv *httptest.Server) *httptest.Server {
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		}
		srv.Start()
		return srv
	}
	a := track(httptest.NewUnstartedServer(nameHandler("a")))
	defer a.Close()
	b := httptest.NewServer(nameHandler("b"))
	defer b.Close()
	doc := func(backends string) string {
		return fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [%s]}]
`, backends)
	}
	h := start(t, doc(fmt.Sprintf("{address: %q}, {address: %q}", a.Listener.Addr(), b.Listener.Addr())))
	c := testenv.Client(t, testenv.H1)
	for range 4 {
		get(t, c, newRequest(t, "GET", h.url("/"), nil))
	}
	if open.Load() == 0 {
		t.Fatalf("backend a has no open connection after requests")
	}
	if err := h.reload(t, doc(fmt.Sprintf("{address: %q}", b.Listener.Addr()))); err != nil {
		t.Fatalf("reload: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("removed backend still has %d open connections from the proxy", open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
