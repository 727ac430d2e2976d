//go:build linux

package server

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"
)

// parkedForTest returns how many connections the parker holds.
func (s *Server) parkedForTest() int {
	p := s.parker.Load()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byFD)
}

// waitParked waits until srv's parker holds n connections. Parking follows
// the response at once but on the server's side, so the test polls.
func waitParked(t *testing.T, srv *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); srv.parkedForTest() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("parked = %d, want %d", srv.parkedForTest(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIdleConnectionsParked(t *testing.T) {
	const n = 20
	ts := startServer(t, defaultTestOptions(), okHandler)
	before := runtime.NumGoroutine()
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = ts.client(t)
		clients[i].send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		clients[i].response("GET")
	}
	waitParked(t, ts.srv, n)
	// The parker's goroutine is the only one added for n idle connections.
	if got := runtime.NumGoroutine() - before; got > n/2 {
		t.Errorf("%d goroutines more with %d idle connections, want about 1", got, n)
	}

	// Each wakes up for its next request and parks again.
	for _, cl := range clients {
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := cl.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("second response = %d %q, want 200 \"ok\"", resp.StatusCode, body)
		}
	}
	waitParked(t, ts.srv, n)

	// Parked connections are idle: Shutdown closes them at once.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	for i, cl := range clients {
		if b, err := io.ReadAll(cl.br); err != nil || len(b) != 0 {
			t.Errorf("client %d: read %q, %v after Shutdown; want EOF", i, b, err)
		}
	}
}

// TestIdleTimeoutLowered guards against a parker that keeps waiting for
// the deadline it computed before a connection with an earlier one
// parked: IdleTimeout lowered by SetOptions must apply at once.
func TestIdleTimeoutLowered(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), okHandler)
	long := ts.client(t)
	long.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	long.response("GET")
	waitParked(t, ts.srv, 1)

	o := defaultTestOptions()
	o.IdleTimeout = 150 * time.Millisecond
	ts.srv.SetOptions(o)
	short := ts.client(t)
	short.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	short.response("GET")
	start := time.Now()
	if b, err := io.ReadAll(short.br); err != nil || len(b) != 0 {
		t.Errorf("read %q, %v; want EOF without bytes", b, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want about 150ms", d)
	}
	if long.closed() {
		t.Errorf("connection idle under the old 5s timeout closed early")
	}
}

// TestWokenWithPartialHead checks that a connection woken by part of a
// request head, then silence, is bounded by ReadHeaderTimeout from the
// wake-up and answered 408.
func TestWokenWithPartialHead(t *testing.T) {
	o := defaultTestOptions()
	o.ReadHeaderTimeout = 200 * time.Millisecond
	ts := startServer(t, o, okHandler)
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	cl.response("GET")
	waitParked(t, ts.srv, 1)
	cl.send("GET / HT")
	resp, _ := cl.response("GET")
	if resp.StatusCode != 408 {
		t.Errorf("status = %d for a head never finished, want 408", resp.StatusCode)
	}
}
