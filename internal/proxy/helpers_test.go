package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/lb"
	"palisade/internal/middleware"
	"palisade/internal/testenv"
	"palisade/internal/upstream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newBackend starts a loopback HTTP/1.1 backend serving h, closed at the
// end of the test.
func newBackend(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newH2CBackend starts a loopback backend speaking only h2c (prior
// knowledge).
func newH2CBackend(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// newTarget returns a round robin Target over addrs with the transport for
// cfg, closed at the end of the test. A zero MaxIdleConns gets config's
// default (64), as a document that leaves the key out does.
func newTarget(t testing.TB, cfg config.Upstream, addrs ...string) *Target {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.MaxIdleConns == 0 {
		cfg.MaxIdleConns = 64
	}
	tr, err := NewTransport(cfg, nil)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return &Target{Name: cfg.Name, Policy: &lb.RoundRobin{}, Transport: tr, Pool: testPool(cfg.Name, addrs...)}
}

// testPool returns a committed pool of the backends at addrs, with weight
// 1 and default (zero) settings: no passive health, limits or slow start.
func testPool(name string, addrs ...string) *upstream.Pool {
	p := upstream.NewPool(name, nil)
	members := make([]upstream.Member, len(addrs))
	for i, a := range addrs {
		members[i] = upstream.Member{Addr: a, Weight: 1}
	}
	p.Plan(upstream.Settings{}, members).Commit()
	return p
}

// addr returns the host:port of srv.
func addr(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// newFront serves h on a loopback HTTP/1.1 server and returns it with a
// client; both are closed at the end of the test.
func newFront(t testing.TB, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, srv.Client()
}

// withState puts a copy of st in each request's context, as the gateway
// does, and stores the State of the last request in *last when last is not
// nil.
func withState(h http.Handler, st middleware.State, last chan<- *middleware.State) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := st
		var rw middleware.ResponseWriter
		rw.Reset(w)
		defer func() {
			if last != nil {
				last <- &s
			}
		}()
		h.ServeHTTP(&rw, r.WithContext(middleware.WithState(r.Context(), &s)))
	})
}

// seen is what an echo backend received.
type seen struct {
	Method  string
	Host    string
	URI     string
	Proto   string
	Header  http.Header
	Trailer http.Header
	Body    string
}

// echo answers with the request it received as JSON.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{
			Method: r.Method, Host: r.Host, URI: r.RequestURI, Proto: r.Proto,
			Header: r.Header, Trailer: r.Trailer, Body: string(body),
		})
	})
}

// decodeSeen reads an echo response.
func decodeSeen(t testing.TB, body io.Reader) seen {
	t.Helper()
	var s seen
	if err := json.NewDecoder(body).Decode(&s); err != nil {
		t.Fatalf("decoding echo response: %v", err)
	}
	return s
}

// testContext returns a context canceled at the end of the test.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawBackend is a loopback server written by hand: serve runs on each
// accepted connection, for backends that misbehave on purpose or cost
// nothing. Everything is closed at the end of the test.
type rawBackend struct {
	ln       net.Listener
	serve    func(c net.Conn, br *bufio.Reader)
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func newRawBackend(t testing.TB, serve func(c net.Conn, br *bufio.Reader)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rb := &rawBackend{ln: ln, serve: serve, conns: make(map[net.Conn]struct{})}
	rb.wg.Add(1)
	go rb.accept()
	t.Cleanup(rb.close)
	return rb
}

func (rb *rawBackend) addr() string { return rb.ln.Addr().String() }

func (rb *rawBackend) accept() {
	defer rb.wg.Done()
	for {
		c, err := rb.ln.Accept()
		if err != nil {
			return
		}
		rb.accepted.Add(1)
		rb.mu.Lock()
		rb.conns[c] = struct{}{}
		rb.mu.Unlock()
		rb.wg.Add(1)
		go func() {
			defer rb.wg.Done()
			defer c.Close()
			rb.serve(c, bufio.NewReader(c))
		}()
	}
}

func (rb *rawBackend) close() {
	rb.ln.Close()
	rb.mu.Lock()
	for c := range rb.conns {
		c.Close()
	}
	rb.mu.Unlock()
	rb.wg.Wait()
}

// answerOnce reads one request from br, discarding its body, and writes
// resp.
func answerOnce(c net.Conn, br *bufio.Reader, resp string) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, req.Body)
	_, err = io.WriteString(c, resp)
	return err == nil
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// h1 returns the target's transport as an *H1Transport.
func h1(t testing.TB, tg *Target) *H1Transport {
	t.Helper()
	tr, ok := tg.Transport.(*H1Transport)
	if !ok {
		t.Fatalf("transport is %T, want *H1Transport", tg.Transport)
	}
	return tr
}

// poolForTest returns the pool of the backend at addr, the first one found
// or, when there is none, the pool of a new backend at addr.
func (t *H1Transport) poolForTest(addr string) *h1Pool {
	for b, p := range *t.pools.Load() {
		if b.Addr == addr {
			return p
		}
	}
	return t.pool(upstream.NewBackend("test", addr))
}

// idleConnsForTest returns the number of idle connections to addr.
func (t *H1Transport) idleConnsForTest(addr string) int {
	p := t.poolForTest(addr)
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// idlePeerClosedForTest probes the most recently pooled idle connection to
// addr for a close by its backend; false when there is none.
func (t *H1Transport) idlePeerClosedForTest(addr string) bool {
	p := t.poolForTest(addr)
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle) > 0 && p.idle[len(p.idle)-1].peerClosed()
}

// waitUntil polls cond until it holds, failing the test if it does not
// within 10 seconds. It is for facts that arrive from another process or
// goroutine with no event to wait on (a backend's FIN reaching our socket,
// the close watcher reporting it), not for time-driven logic.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newRoundRobin() lb.Policy { return &lb.RoundRobin{} }
