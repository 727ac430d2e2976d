package proxy

import (
	"bufio"
	"fmt"
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
	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// countConns makes srv count the connections it accepts.
func countConns(srv *httptest.Server) *atomic.Int64 {
	var n atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func TestConnectionReuse(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		handler      http.HandlerFunc
	}{
		{"declared length", "GET", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }},
		{"chunked", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		}},
		{"large body", "GET", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 200<<10)) }},
		{"HEAD", "HEAD", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Content-Length", "1000") }},
		{"204", "GET", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }},
		{"304", "GET", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) }},
		{"POST", "POST", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := httptest.NewUnstartedServer(tc.handler)
			accepted := countConns(be)
			be.Start()
			t.Cleanup(be.Close)
			h := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
			for i := 0; i < 100; i++ {
				req := httptest.NewRequest(tc.method, "/", strings.NewReader("body"))
				if rec := serveDirect(h, req, nil); rec.Code >= 400 {
					t.Fatalf("request %d: status %d", i, rec.Code)
				}
			}
			if n := accepted.Load(); n != 1 {
				t.Errorf("backend accepted %d connections for 100 sequential requests, want 1", n)
			}
		})
	}
}

func TestMaxIdleConns(t *testing.T) {
	const concurrent = 5
	var arrived sync.WaitGroup
	arrived.Add(concurrent)
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived.Done()
			arrived.Wait()
		}
		w.Write([]byte("ok"))
	}))
	accepted := countConns(be)
	be.Start()
	t.Cleanup(be.Close)
	tg := newTarget(t, config.Upstream{MaxIdleConns: 2}, addr(be))
	h := New(tg, Options{}, nil)
	var done sync.WaitGroup
	for i := 0; i < concurrent; i++ {
		done.Add(1)
		go func() {
			defer done.Done()
			serveDirect(h, httptest.NewRequest("GET", "/hold", nil), nil)
		}()
	}
	done.Wait()
	if n := accepted.Load(); n != concurrent {
		t.Fatalf("backend accepted %d connections for %d concurrent requests, want %d", n, concurrent, concurrent)
	}
	if n := h1(t, tg).idleConnsForTest(addr(be)); n != 2 {
		t.Errorf("%d idle connections kept, want MaxIdleConns = 2", n)
	}
	for i := 0; i < 3; i++ {
		serveDirect(h, httptest.NewRequest("GET", "/", nil), nil)
	}
	if n := accepted.Load(); n != concurrent {
		t.Errorf("sequential requests opened %d new connections, want them on the idle ones", n-concurrent)
	}
}

func TestZeroMaxIdleConnsKeepsNone(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			be := httptest.NewUnstartedServer(echo())
			if proto == "h2c" {
				be.Config.Protocols = new(http.Protocols)
				be.Config.Protocols.SetUnencryptedHTTP2(true)
			}
			accepted := countConns(be)
			be.Start()
			t.Cleanup(be.Close)
			tr, err := NewTransport(config.Upstream{Name: "test", Protocol: proto, MaxIdleConns: 0}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			h := New(&Target{Name: "test", Policy: newRoundRobin(), Transport: tr,
				Pool: testPool("test", addr(be))}, Options{}, nil)
			for i := 0; i < 3; i++ {
				if rec := serveDirect(h, httptest.NewRequest("GET", "/", nil), nil); rec.Code != 200 {
					t.Fatalf("status %d", rec.Code)
				}
			}
			if n := accepted.Load(); n != 3 {
				t.Errorf("backend accepted %d connections for 3 requests, want 3 (max_idle_conns: 0)", n)
			}
		})
	}
}

// closeAfterEach answers each request on a keep-alive connection and then
// closes the connection without saying so, as a backend whose idle timeout
// fires does; closed receives a value after each close.
func closeAfterEach(closed chan<- struct{}) func(c net.Conn, br *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		answerOnce(c, br, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	}
}

// dropSecond answers the first request on each connection and closes the
// connection after reading the second one, without answering: a backend
// whose idle timeout fires as the request arrives, a close no check before
// reuse can see.
func dropSecond(c net.Conn, br *bufio.Reader) {
	answerOnce(c, br, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	if req, err := http.ReadRequest(br); err == nil {
		io.Copy(io.Discard, req.Body)
	}
}

// TestStaleConnection checks what happens to a request on a reused
// connection that its backend had closed, when the pool could not know:
// the close came with the request, or nothing watches the connection and
// the request was not probed.
func TestStaleConnection(t *testing.T) {
	for _, tc := range []struct {
		name string
		// unwatched makes the pool rely on its probe, as outside Linux;
		// the backend then closes after each response, else it closes
		// on the second request of a connection (dropSecond).
		unwatched  bool
		body       string
		wantStatus int
		wantRetry  uint64
	}{
		{name: "request without body is sent again on a new connection", wantStatus: 200, wantRetry: 1},
		{name: "consumed body is not sent again", body: "payload", wantStatus: http.StatusBadGateway},
		{name: "unwatched: request that cannot be sent again is probed, however briefly idle", unwatched: true, body: "payload", wantStatus: 200},
		{name: "unwatched: briefly idle request that can be sent again is not probed", unwatched: true, wantStatus: 200, wantRetry: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			closed := make(chan struct{}, 2)
			serve := dropSecond
			if tc.unwatched {
				serve = closeAfterEach(closed)
			}
			be := newRawBackend(t, serve)
			tg := newTarget(t, config.Upstream{}, be.addr())
			tr := h1(t, tg)
			tr.noWatch = tc.unwatched
			tr.probeAfter = time.Hour
			h := New(tg, Options{}, nil)
			if rec := serveDirect(h, httptest.NewRequest("GET", "/", nil), nil); rec.Code != 200 {
				t.Fatalf("first request: status %d", rec.Code)
			}
			if tc.unwatched {
				<-closed
				// The backend's FIN is on its way over loopback; the
				// probe must find it, and a request that is not probed
				// must meet it.
				waitUntil(t, "the pooled connection sees the backend's close", func() bool { return tr.idlePeerClosedForTest(be.addr()) })
			}
			var body io.Reader
			method := "GET"
			if tc.body != "" {
				method, body = "POST", strings.NewReader(tc.body)
			}
			rec := serveDirect(h, httptest.NewRequest(method, "/", body), &middleware.State{})
			if rec.Code != tc.wantStatus {
				t.Errorf("request on the stale connection: status %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := tr.StaleRetries(); got != tc.wantRetry {
				t.Errorf("StaleRetries() = %d, want %d", got, tc.wantRetry)
			}
			wantStale := uint64(1)
			if tc.unwatched && tc.body != "" {
				wantStale = 0 // the probe found it
			}
			if got := tr.staleConns.Load(); got != wantStale {
				t.Errorf("%d requests sent on a closed connection, want %d", got, wantStale)
			}
		})
	}
}

func TestIdleConnectionsExpire(t *testing.T) {
	tr := newH1Transport(config.Upstream{Timeouts: config.UpstreamTimeouts{Idle: config.Duration(time.Minute)}}, nil)
	defer tr.Close()
	p := tr.poolForTest("192.0.2.1:80")
	now := time.Now()
	conns := make([]net.Conn, 3)
	for i, age := range []time.Duration{3 * time.Minute, 2 * time.Minute, 10 * time.Second} {
		a, b := net.Pipe()
		defer b.Close()
		conns[i] = a
		c := &h1Conn{pool: p, nc: a, idleSince: now.Add(-age)}
		p.conns[c] = struct{}{}
		p.idle = append(p.idle, c)
	}
	if c := p.takeIdle(now); c == nil || c.nc != conns[2] {
		t.Fatalf("takeIdle returned %v, want the fresh connection", c)
	}
	if c := p.takeIdle(now); c != nil {
		t.Errorf("takeIdle returned an expired connection")
	}
	if len(p.idle) != 0 || len(p.conns) != 1 {
		t.Errorf("%d idle and %d open connections left, want the expired ones closed", len(p.idle), len(p.conns))
	}
	for _, c := range conns[:2] {
		if _, err := c.Write([]byte("x")); err == nil {
			t.Errorf("expired connection still open")
		}
	}
}

func TestBodyCloseBeforeEnd(t *testing.T) {
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/large" {
			w.Write(make([]byte, 1<<20))
			return
		}
		w.Write([]byte("small body"))
	}))
	tr := newH1Transport(config.Upstream{MaxIdleConns: 4}, nil)
	defer tr.Close()
	b := upstream.NewBackend("test", addr(be))
	for _, tc := range []struct {
		path     string
		wantIdle int
	}{
		{"/small", 1},
		{"/large", 0},
	} {
		t.Run(tc.path, func(t *testing.T) {
			tr.CloseIdleConnections()
			req := httptest.NewRequest("GET", "http://"+addr(be)+tc.path, nil)
			resp, err := tr.RoundTrip(req, b)
			if err != nil {
				t.Fatal(err)
			}
			// The first byte comes with the rest of a small body.
			if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n := tr.idleConnsForTest(addr(be)); n != tc.wantIdle {
				t.Errorf("%d idle connections after Close, want %d", n, tc.wantIdle)
			}
		})
	}
}

func TestCloseEndsExchangesInFlight(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			be := backendFor(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer close(release)
			tg := newTarget(t, config.Upstream{Protocol: proto}, addr(be))
			h := New(tg, Options{}, nil)
			done := make(chan int)
			go func() { done <- serveDirect(h, httptest.NewRequest("GET", "/", nil), &middleware.State{}).Code }()
			<-arrived
			tg.Transport.Close()
			select {
			case code := <-done:
				if code != http.StatusBadGateway {
					t.Errorf("status = %d, want 502", code)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not end the exchange in flight")
			}
			if code := serveDirect(h, httptest.NewRequest("GET", "/", nil), &middleware.State{}).Code; code != http.StatusBadGateway {
				t.Errorf("after Close: status %d, want 502", code)
			}
		})
	}
}

func TestConcurrentRequests(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			be := backendFor(t, proto, echo())
			front, client := newFront(t, New(newTarget(t, config.Upstream{Protocol: proto, MaxIdleConns: 4}, addr(be)), Options{}, nil))
			var wg sync.WaitGroup
			for g := 0; g < 16; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 25; i++ {
						body := fmt.Sprintf("g%d-i%d", g, i)
						resp, err := client.Post(front.URL+"/"+body, "text/plain", strings.NewReader(body))
						if err != nil {
							t.Error(err)
							return
						}
						s := decodeSeen(t, resp.Body)
						resp.Body.Close()
						if s.Body != body || s.URI != "/"+body {
							t.Errorf("backend saw %q at %q, want %q", s.Body, s.URI, body)
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
