package gateway

import (
	"fmt"
	"net/http"
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
