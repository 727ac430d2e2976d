package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testServer is a Server on a loopback listener, closed at the end of the
// test.
type testServer struct {
	srv      *Server
	addr     string
	calls    atomic.Int64
	served   chan struct{} // closed when Serve returned
	serveErr error
}

// defaultTestOptions are generous limits and timeouts that tests narrow.
func defaultTestOptions() Options {
	return Options{
		ReadHeaderTimeout: 5 * time.Second,
		ReadBodyTimeout:   5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       5 * time.Second,
		MaxHeaderBytes:    8 << 10,
		MaxHeaderCount:    50,
		MaxBodyBytes:      1 << 20,
	}
}

// testLogger logs through t, so a failing test shows the server's view.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startServer serves h with o on 127.0.0.1 and closes the server when the
// test ends, checking that Serve returned http.ErrServerClosed.
func startServer(t testing.TB, o Options, h http.HandlerFunc) *testServer {
	t.Helper()
	return startServerWith(t, o, h, nil)
}

// startServerWith is startServer calling setup before Serve.
func startServerWith(t testing.TB, o Options, h http.HandlerFunc, setup func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), served: make(chan struct{})}
	ts.srv = New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.calls.Add(1)
		h(w, r)
	}), o, testLogger(t))
	if setup != nil {
		setup(ts.srv)
	}
	go func() {
		defer close(ts.served)
		ts.serveErr = ts.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ts.srv.Close()
		<-ts.served
		if !errors.Is(ts.serveErr, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want http.ErrServerClosed", ts.serveErr)
		}
	})
	return ts
}

func (ts *testServer) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// client is a raw connection with a reader for responses.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func (ts *testServer) client(t testing.TB) *client {
	c := ts.dial(t)
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (cl *client) send(s string) {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, s); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

// response reads one response to a request with the given method and its
// whole body.
func (cl *client) response(method string) (*http.Response, string) {
	cl.t.Helper()
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		cl.t.Fatalf("ReadResponse: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		cl.t.Fatalf("reading response body: %v", err)
	}
	resp.Body.Close()
	return resp, string(body)
}

// closed reports whether the server closed the connection (EOF or reset
// with nothing more to read). A close follows the response at once, so a
// connection still silent after a short wait is open.
func (cl *client) closed() bool {
	cl.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	defer cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := cl.br.ReadByte()
	return err != nil && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "ok")
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
