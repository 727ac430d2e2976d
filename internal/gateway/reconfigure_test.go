package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/snapshot"
	"palisade/internal/testenv"
)

// TestReloadChangesUpstreamTimeoutsInPlace checks that a reload changing
// only an HTTP/1.1 upstream's timeouts keeps its transport, so its
// connections (WebSockets included) are not retired, and that the new
// timeout applies to the next request.
func TestReloadChangesUpstreamTimeoutsInPlace(t *testing.T) {
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(800 * time.Millisecond)
		}
		w.Write([]byte("ok"))
	}))
	const cfg = `
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, timeouts: {response_header: %s, idle: %s}, backends: [{address: %q}]}]
`
	h := start(t, fmt.Sprintf(cfg, "10s", "90s", b.Listener.Addr()))
	c := testenv.Client(t, testenv.H1)
	if code, _, _ := get(t, c, newRequest(t, "GET", h.url("/slow"), nil)); code != 200 {
		t.Fatalf("/slow = %d before the reload, want 200", code)
	}
	before := h.g.Snapshot().Config.Upstreams[0]
	tr := h.g.Snapshot().Transports[snapshot.TransportKey(before)]

	h.reload(t, fmt.Sprintf(cfg, "200ms", "30s", b.Listener.Addr()))
	after := h.g.Snapshot().Config.Upstreams[0]
	if got := h.g.Snapshot().Transports[snapshot.TransportKey(after)]; got != tr {
		t.Errorf("the reload replaced the upstream's transport (%p, was %p): its connections would be cut", got, tr)
	}
	if code, _, _ := get(t, c, newRequest(t, "GET", h.url("/slow"), nil)); code != http.StatusGatewayTimeout {
		t.Errorf("/slow = %d after response_header went to 200ms, want 504", code)
	}
	if code, body, _ := get(t, c, newRequest(t, "GET", h.url("/fast"), nil)); code != 200 || body != "ok" {
		t.Errorf("/fast = %d %q, want 200 \"ok\"", code, body)
	}
}

// TestReloadChangesReadTimeoutInPlace checks that a reload changing an
// HTTP/1.1 upstream's read timeout applies it to the next response body
// while the pooled connection goes on serving: a body with a 600ms gap
// gets through under read: 10s and is cut under read: 200ms, and the
// backend saw one connection until then.
func TestReloadChangesReadTimeoutInPlace(t *testing.T) {
	var conns atomic.Int64
	b := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gap" {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			select {
			case <-time.After(600 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "-last")
			return
		}
		io.WriteString(w, "ok")
	}))
	b.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	const cfg = `
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, timeouts: {read: %s}, backends: [{address: %q}]}]
`
	h := start(t, fmt.Sprintf(cfg, "10s", b.Listener.Addr()))
	c := testenv.Client(t, testenv.H1)
	if code, body, _ := get(t, c, newRequest(t, "GET", h.url("/gap"), nil)); code != 200 || body != "first-last" {
		t.Fatalf("/gap = %d %q before the reload, want 200 \"first-last\"", code, body)
	}

	if err := h.reload(t, fmt.Sprintf(cfg, "200ms", b.Listener.Addr())); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if code, body, _ := get(t, c, newRequest(t, "GET", h.url("/fast"), nil)); code != 200 || body != "ok" {
		t.Errorf("/fast = %d %q after the reload, want 200 \"ok\"", code, body)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the backend saw %d connections, want 1: the reload dropped the pooled one", n)
	}
	resp, err := c.Do(newRequest(t, "GET", h.url("/gap"), nil))
	if err == nil {
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Errorf("/gap = %q in full after read went to 200ms, want the body cut at the gap", body)
		}
	}
}
