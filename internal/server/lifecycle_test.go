package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestReadHeaderTimeout(t *testing.T) {
	o := defaultTestOptions()
	o.ReadHeaderTimeout = 200 * time.Millisecond
	ts := startServer(t, o, okHandler)
	t.Run("slowloris gets 408", func(t *testing.T) {
		cl := ts.client(t)
		start := time.Now()
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n")
		resp, _ := cl.response("GET")
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status = %d, want 408", resp.StatusCode)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("408 after %v, want about 200ms", d)
		}
		if !cl.closed() {
			t.Errorf("connection open after 408")
		}
	})
	t.Run("silent connection is closed without a response", func(t *testing.T) {
		cl := ts.client(t)
		if b, err := io.ReadAll(cl.c); err != nil || len(b) != 0 {
			t.Errorf("read %q, %v; want EOF without bytes", b, err)
		}
	})
}

func TestIdleTimeout(t *testing.T) {
	o := defaultTestOptions()
	o.IdleTimeout = 150 * time.Millisecond
	ts := startServer(t, o, okHandler)
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	cl.response("GET")
	start := time.Now()
	if b, err := io.ReadAll(cl.br); err != nil || len(b) != 0 {
		t.Errorf("read %q, %v; want EOF without bytes", b, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("closed after %v, want about 150ms", d)
	}
}

// pipeListener hands out net.Pipe connections, for tests under synctest
// where real sockets cannot be used.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) dial() net.Conn {
	s, c := net.Pipe()
	l.conns <- s
	return c
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestReadHeaderTimeoutExact checks the head deadline on the fake clock: a
// head started at accept and never finished gets 408 exactly
// ReadHeaderTimeout later, however long the timeout.
func TestReadHeaderTimeoutExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := defaultTestOptions()
		o.ReadHeaderTimeout = 30 * time.Second
		srv := New(http.HandlerFunc(okHandler), o, testLogger(t))
		ln := newPipeListener()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()

		c := ln.dial()
		start := time.Now()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n")
		resp, err := http.ReadResponse(bufioReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status = %d, want 408", resp.StatusCode)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Errorf("408 after %v, want 30s", d)
		}
		c.Close()
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
}

func TestShutdownLetsRequestFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	})
	busy := ts.client(t)
	busy.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	idle := ts.client(t)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idle.response("GET")

	errc := make(chan error, 1)
	go func() { errc <- ts.srv.Shutdown(context.Background()) }()
	<-ts.served
	if !errors.Is(ts.serveErr, http.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", ts.serveErr)
	}
	if !idle.closed() {
		t.Errorf("idle connection still open after Shutdown")
	}
	if c, err := net.Dial("tcp", ts.addr); err == nil {
		c.Close()
		t.Errorf("dial after Shutdown succeeded")
	}
	select {
	case err := <-errc:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	resp, body := busy.response("GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Errorf("in-flight response = %d %q close=%v, want 200 \"done\" with Connection: close", resp.StatusCode, body, resp.Close)
	}
	if !busy.closed() {
		t.Errorf("connection open after its last response")
	}
	if err := <-errc; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
}

func TestShutdownDeadlineCancelsRequests(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan bool, 1)
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			cancelled <- true
		case <-time.After(10 * time.Second):
			cancelled <- false
		}
	})
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if !<-cancelled {
		t.Errorf("request context not cancelled when Shutdown gave up")
	}
}

func TestSetOptionsNextRequest(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), okHandler)
	cl := ts.client(t)
	req := "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-A: b\r\n", 5) + "\r\n"
	cl.send(req)
	if resp, _ := cl.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("status = %d before SetOptions, want 200", resp.StatusCode)
	}
	o := defaultTestOptions()
	o.MaxHeaderCount = 3
	ts.srv.SetOptions(o)
	cl.send(req)
	if resp, _ := cl.response("GET"); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status = %d on the same connection after SetOptions, want 431", resp.StatusCode)
	}
}
