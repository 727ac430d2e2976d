//go:build linux

package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// closingBackend is a loopback backend that closes connections on its own
// schedule and says what it saw.
type closingBackend struct {
	addr     string
	accepted func() int64 // connections accepted
	open     func() int64 // connections not yet closed by the backend

	mu    sync.Mutex
	posts []string // the bodies of the POSTs received
}

func (cb *closingBackend) sawPost(body string) {
	cb.mu.Lock()
	cb.posts = append(cb.posts, body)
	cb.mu.Unlock()
}

func (cb *closingBackend) postsSeen() []string {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return append([]string(nil), cb.posts...)
}

// rawClosingBackend answers one request per connection with header among
// its fields, then closes the connection.
func rawClosingBackend(t *testing.T, header string) *closingBackend {
	cb := &closingBackend{}
	var closed atomic.Int64
	rb := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		if req.Method == http.MethodPost {
			cb.sawPost(string(body))
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n"+header+"Content-Length: 2\r\n\r\nok")
		c.Close()
		closed.Add(1)
	})
	cb.addr = rb.addr()
	cb.accepted = rb.accepted.Load
	cb.open = func() int64 { return rb.accepted.Load() - closed.Load() }
	return cb
}

// idleClosingBackend is a net/http backend that closes connections idle for
// idle.
func idleClosingBackend(t *testing.T, idle time.Duration) *closingBackend {
	cb := &closingBackend{}
	var accepted, open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			cb.sawPost(string(body))
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = idle
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			accepted.Add(1)
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	cb.addr = addr(srv)
	cb.accepted = accepted.Load
	cb.open = open.Load
	return cb
}

// sendOK sends one request to b through tr and checks that the backend
// answered "ok".
func sendOK(t *testing.T, tr *H1Transport, b *upstream.Backend, method, body string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(testContext(t), method, "http://"+b.Addr+"/", rd)
	resp, err := tr.RoundTrip(req, b)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "ok" || err != nil {
		t.Fatalf("%s: status %d, body %q, error %v; want 200 and ok", method, resp.StatusCode, got, err)
	}
}

// closeKnown reports whether tr can know that the backend at addr has
// closed the connection pooled for it: with the close watcher, once the
// watcher has taken it out of the pool; with the probe, once our socket
// has the backend's FIN.
func closeKnown(tr *H1Transport, addr string) bool {
	if tr.idleConnsForTest(addr) == 0 {
		return true
	}
	return tr.noWatch && tr.idlePeerClosedForTest(addr)
}

// TestReuseAfterBackendClose checks that a request that cannot be sent
// again (a POST) is never sent on a connection its backend has closed,
// whenever the backend closes it: right after a response that did not
// announce it, after a short or long idle time, or with Connection: close.
// Each case waits until the backend has closed its connection and the
// pool can know it, then posts; it runs with the close watcher and with
// the probe that stands in for it where there is none.
func TestReuseAfterBackendClose(t *testing.T) {
	for _, mode := range []string{"watched", "probed"} {
		for _, tc := range []struct {
			name  string
			start func(t *testing.T) *closingBackend
		}{
			{"closed right after the response", func(t *testing.T) *closingBackend { return rawClosingBackend(t, "") }},
			{"idle timeout 50ms", func(t *testing.T) *closingBackend { return idleClosingBackend(t, 50*time.Millisecond) }},
			{"idle timeout 2s", func(t *testing.T) *closingBackend { return idleClosingBackend(t, 2*time.Second) }},
			{"Connection: close on the last response", func(t *testing.T) *closingBackend {
				return rawClosingBackend(t, "Connection: close\r\n")
			}},
		} {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				be := tc.start(t)
				tg := newTarget(t, config.Upstream{}, be.addr)
				tr, b := h1(t, tg), tg.Pool.Primaries()[0]
				tr.noWatch = mode == "probed"
				sendOK(t, tr, b, "GET", "")
				waitUntil(t, "the backend has closed the connection and the pool can know it", func() bool {
					return be.open() == 0 && closeKnown(tr, be.addr)
				})
				sendOK(t, tr, b, "POST", "hello")
				if got := be.postsSeen(); len(got) != 1 || got[0] != "hello" {
					t.Errorf("backend saw POST bodies %q, want the one \"hello\"", got)
				}
				if n := tr.staleConns.Load(); n != 0 {
					t.Errorf("%d requests sent on a connection the backend had closed, want 0", n)
				}
				if n := be.accepted(); n != 2 {
					t.Errorf("backend accepted %d connections, want 2 (the POST on a new one)", n)
				}
			})
		}
	}
}

// TestPostAfterBackendIdleClose is the regression test of the issue "A POST
// after the backend closed an idle connection gets 502": a net/http backend
// with a 200 ms IdleTimeout, GET / and then, once the backend has closed
// the idle connection, POST / with a 5-byte body, five times over, through
// the proxy. The pool probed a connection only after it had been idle for a
// second, so it reused the closed one; the POST could not be sent again
// and every one got 502 without reaching the backend.
func TestPostAfterBackendIdleClose(t *testing.T) {
	be := idleClosingBackend(t, 200*time.Millisecond)
	tg := newTarget(t, config.Upstream{}, be.addr)
	tr := h1(t, tg)
	front, client := newFront(t, New(tg, Options{}, nil))
	settled := func() bool { return be.open() == 0 && tr.idleConnsForTest(be.addr) == 0 }
	for i := 0; i < 5; i++ {
		for _, method := range []string{"GET", "POST"} {
			var body io.Reader
			if method == "POST" {
				body = strings.NewReader("hello")
			}
			req, err := http.NewRequestWithContext(testContext(t), method, front.URL+"/", body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("round %d: %s / answered %d, want 200", i, method, resp.StatusCode)
			}
			// Past the backend's idle close, as the 0.5 s wait of the
			// issue was, but waiting for the close itself.
			waitUntil(t, "the backend has closed the idle connection and the pool has let it go", settled)
		}
	}
	if got := be.postsSeen(); len(got) != 5 {
		t.Errorf("backend saw %d POSTs, want 5", len(got))
	}
	if n := tr.staleConns.Load(); n != 0 {
		t.Errorf("%d requests sent on a connection the backend had closed, want 0", n)
	}
}

// TestCloseWatcherSleepsThroughResponses checks that the close watcher
// costs nothing per request: responses arriving on a watched connection do
// not wake it (no epoll_wait), the backend's close does.
func TestCloseWatcherSleepsThroughResponses(t *testing.T) {
	be := newBackend(t, echo())
	tg := newTarget(t, config.Upstream{}, addr(be))
	tr, b := h1(t, tg), tg.Pool.Primaries()[0]
	send := func(method, body string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		resp, err := tr.RoundTrip(httptest.NewRequestWithContext(testContext(t), method, "http://"+b.Addr+"/", rd), b)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send("GET", "")
	w := tr.watcher.Load()
	if w == nil {
		t.Fatal("no close watcher after the first dial")
	}
	// The watcher's first look finds nothing; then it sleeps.
	waitUntil(t, "the watcher has looked for events once", func() bool { return w.waits.Load() >= 1 })
	before := w.waits.Load()
	for i := 0; i < 200; i++ {
		send("POST", "hello")
	}
	if got := w.waits.Load() - before; got != 0 {
		t.Errorf("200 exchanges woke the close watcher %d times, want 0", got)
	}
	if n := tr.idleConnsForTest(addr(be)); n != 1 {
		t.Fatalf("%d idle connections, want the one that carried every request", n)
	}
	be.CloseClientConnections()
	waitUntil(t, "the watcher has taken the closed connection out of the pool", func() bool {
		return tr.idleConnsForTest(addr(be)) == 0
	})
	if w.waits.Load() == before {
		t.Errorf("the backend's close did not wake the watcher")
	}
}

// TestCloseStopsCloseWatcher checks that Close ends the watcher's goroutine
// and that connections dialled afterwards are not registered.
func TestCloseStopsCloseWatcher(t *testing.T) {
	be := newBackend(t, echo())
	tr := newH1Transport(config.Upstream{MaxIdleConns: 4}, nil)
	b := upstream.NewBackend("test", addr(be))
	resp, err := tr.RoundTrip(httptest.NewRequestWithContext(testContext(t), "GET", "http://"+addr(be)+"/", nil), b)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	w := tr.watcher.Load()
	if w == nil {
		t.Fatal("no close watcher after the first dial")
	}
	tr.Close()
	select {
	case <-w.done:
	default:
		t.Error("the watcher's goroutine is still running after Close")
	}
	if tr.watcher.Load() != nil || tr.watcherFor() != nil {
		t.Error("a closed transport still hands out a close watcher")
	}
	c := &h1Conn{rc: nil}
	if w.register(c) {
		t.Error("a closed watcher accepted a registration")
	}
}
