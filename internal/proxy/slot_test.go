package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
	"palisade/internal/server"
)

// TestDerivedContextInterrupts: behind our HTTP/1.1 server the backend
// interrupt goes into the connection's InterruptSlot, which runs only when
// the server cancels the connection's context. A context a handler derives
// (WithTimeout around the proxy) must still end the wait for the
// backend's head at its own deadline, through context.AfterFunc, as it
// does behind net/http.
func TestDerivedContextInterrupts(t *testing.T) {
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(4 * time.Second):
		case <-r.Context().Done():
		}
		io.WriteString(w, "late")
	}))
	p := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
	const limit = 1500 * time.Millisecond
	h := withState(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), limit)
		defer cancel()
		p.ServeHTTP(w, r.WithContext(ctx))
	}), middleware.State{}, nil)

	// Control: behind net/http the request ends at the derived deadline.
	std := httptest.NewServer(h)
	t.Cleanup(std.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ours := server.New(h, server.Options{ReadHeaderTimeout: 5 * time.Second, ReadBodyTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	go ours.Serve(ln)
	t.Cleanup(func() { ours.Close() })

	for _, tc := range []struct{ name, url string }{
		{"net/http front", std.URL},
		{"palisade server front", "http://" + ln.Addr().String()},
	} {
		start := time.Now()
		resp, err := http.Get(tc.url + "/slow")
		took := time.Since(start)
		code := 0
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		t.Logf("%s: status %d after %v", tc.name, code, took.Round(10*time.Millisecond))
		if took > limit+700*time.Millisecond {
			t.Errorf("%s: request took %v although its context ended at %v (status %d)", tc.name, took.Round(10*time.Millisecond), limit, code)
		}
	}
}
