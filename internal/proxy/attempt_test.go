package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// hitBackend is a loopback HTTP/1.1 backend that counts the requests it
// received. Unless given a handler of its own it answers 200 with
// "NAME|BODY", BODY being the request body it read, and an X-Backend field.
type hitBackend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
}

func newHitBackend(t testing.TB, name string, h http.HandlerFunc) *hitBackend {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Backend", name)
			io.WriteString(w, name+"|"+string(body))
		}
	}
	hb := &hitBackend{name: name}
	hb.srv = newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hb.hits.Add(1)
		h(w, r)
	}))
	return hb
}

func (hb *hitBackend) addr() string { return addr(hb.srv) }

// statusBackend answers every request with status, an X-From field naming
// it and the body "NAME says STATUS".
func statusBackend(t testing.TB, name string, status int) *hitBackend {
	return newHitBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-From", name)
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s says %d", name, status)
	})
}

// resetBackend is a raw backend that reads a whole request, body included,
// and closes the connection without answering: a failure after the request
// was sent, which only a repeatable request survives.
type resetBackend struct {
	*rawBackend
	hits atomic.Int64
}

func newResetBackend(t testing.TB) *resetBackend {
	t.Helper()
	rb := &resetBackend{}
	rb.rawBackend = newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		rb.hits.Add(1)
	})
	return rb
}

// memberList returns pool members of weight 1 at addrs.
func memberList(addrs ...string) []upstream.Member {
	ms := make([]upstream.Member, len(addrs))
	for i, a := range addrs {
		ms[i] = upstream.Member{Addr: a, Weight: 1}
	}
	return ms
}

// retryingTarget returns a round robin Target with our HTTP/1.1 transport
// (cfg's timeouts), retry policy rp and a pool of members under set.
func retryingTarget(t testing.TB, cfg config.Upstream, rp RetryPolicy, set upstream.Settings, members []upstream.Member) *Target {
	t.Helper()
	tg := newTarget(t, cfg)
	tg.Retry = rp
	tg.Pool = upstream.NewPool(tg.Name, nil)
	tg.Pool.Plan(set, members).Commit()
	return tg
}

// retryOn503 retries idempotent requests up to three tries, 503s included,
// keeping up to 4 KiB of a body.
func retryOn503() RetryPolicy {
	rp := RetryPolicy{Attempts: 3, BodyBuffer: 4 << 10}
	rp.OnStatus.Add(http.StatusServiceUnavailable)
	return rp
}

// generous is a retry budget that never refuses a retry in these tests.
var generous = upstream.Settings{RetryBudget: 1, RetryMinPerSecond: 1000}

// answer is what a client got through the proxy.
type answer struct {
	status int
	body   string
	header http.Header
	st     *middleware.State
}

// proxyClient sends requests through a front serving one handler and
// returns what came back with the request's State once the handler has
// returned.
type proxyClient struct {
	t      testing.TB
	url    string
	c      *http.Client
	states chan *middleware.State
}

func newProxyClient(t testing.TB, tg *Target, opts Options, log *slog.Logger) *proxyClient {
	t.Helper()
	states := make(chan *middleware.State, 16)
	front, c := newFront(t, withState(New(tg, opts, log), middleware.State{ID: "test"}, states))
	return &proxyClient{t: t, url: front.URL, c: c, states: states}
}

func (pc *proxyClient) do(method, body string, header http.Header) answer {
	pc.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(testContext(pc.t), method, pc.url+"/x", rd)
	if err != nil {
		pc.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := pc.c.Do(req)
	if err != nil {
		pc.t.Fatalf("%s: %v", method, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		pc.t.Fatalf("%s: reading body: %v", method, err)
	}
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header, st: <-pc.states}
}

func (pc *proxyClient) get() answer { return pc.do("GET", "", nil) }

// logBuffer collects log output written from handler goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (lb *logBuffer) Write(p []byte) (int, error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.buf.Write(p)
}

func (lb *logBuffer) String() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.buf.String()
}

func (lb *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// payload returns n bytes that differ from position to position, so that a
// replay that loses, repeats or reorders bytes shows.
func payload(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d,", i)
	}
	return b.String()[:n]
}

// TestConnectFailureFailover checks that a connect failure, where nothing
// was sent, moves any request (a POST with its body too) to a backend not
// tried yet, and that when every backend refuses the client gets 502.
func TestConnectFailureFailover(t *testing.T) {
	body := payload(3000)
	for _, tc := range []struct {
		name, proto, method, body string
		refused                   int  // backends refusing, listed first
		live                      bool // a serving backend after them
		want                      int
		attempts                  int // 0: as the policy's order has it
	}{
		{name: "GET goes to the next backend", proto: "http1", method: "GET", refused: 1, live: true, want: 200, attempts: 2},
		{name: "POST goes to the next backend with its body", proto: "http1", method: "POST", body: body, refused: 1, live: true, want: 200, attempts: 2},
		{name: "GET past two refusing backends", proto: "http1", method: "GET", refused: 2, live: true, want: 200},
		{name: "every backend refuses", proto: "http1", method: "GET", refused: 3, want: http.StatusBadGateway, attempts: 3},
		{name: "POST, every backend refuses", proto: "http1", method: "POST", body: body, refused: 2, want: http.StatusBadGateway, attempts: 2},
		{name: "h2c GET goes to the next backend", proto: "h2c", method: "GET", refused: 1, live: true, want: 200, attempts: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addrs []string
			for range tc.refused {
				addrs = append(addrs, closedAddr(t))
			}
			var served atomic.Int64
			var live *httptest.Server
			if tc.live {
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					served.Add(1)
					b, _ := io.ReadAll(r.Body)
					io.WriteString(w, "live|"+string(b))
				})
				if tc.proto == "h2c" {
					live = newH2CBackend(t, h)
				} else {
					live = newBackend(t, h)
				}
				addrs = append(addrs, addr(live))
			}
			// Connect failures move on whatever the policy: one try only.
			tg := retryingTarget(t, config.Upstream{Protocol: tc.proto}, RetryPolicy{Attempts: 1}, upstream.Settings{}, memberList(addrs...))
			a := newProxyClient(t, tg, Options{}, nil).do(tc.method, tc.body, nil)
			if a.status != tc.want {
				t.Fatalf("%s = %d %q, want %d", tc.method, a.status, a.body, tc.want)
			}
			if tc.want == 200 && a.body != "live|"+tc.body {
				t.Errorf("%s body = %.40q, want the live backend's echo of the request body", tc.method, a.body)
			}
			if tc.attempts != 0 && a.st.Attempts != tc.attempts {
				t.Errorf("State.Attempts = %d, want %d", a.st.Attempts, tc.attempts)
			}
			if tc.want == 200 && served.Load() != 1 {
				t.Errorf("live backend served %d requests, want 1", served.Load())
			}
		})
	}
}

// TestRetryAfterReset checks failures after the request was sent (the
// backend read it and closed without answering): a GET goes to another
// backend; a POST does not unless the route or the upstream opts in, or it
// carries an Idempotency-Key, and then the other backend gets its exact
// body; a body larger than the buffer is not retried, and the log says
// why.
func TestRetryAfterReset(t *testing.T) {
	small, large := payload(3000), payload(20000) // BodyBuffer is 4 KiB
	for _, tc := range []struct {
		name, method, body string
		header             http.Header
		opts               Options
		upstreamOptIn      bool
		wantRetry          bool
		wantLog            string
	}{
		{name: "GET is retried", method: "GET", wantRetry: true},
		{name: "PUT with a body is retried", method: "PUT", body: small, wantRetry: true},
		{name: "POST is not retried", method: "POST", body: small},
		{name: "POST is retried when the route opts in", method: "POST", body: small, opts: Options{RetryNonIdempotent: true}, wantRetry: true},
		{name: "POST is retried when the upstream opts in", method: "POST", body: small, upstreamOptIn: true, wantRetry: true},
		{name: "POST with an Idempotency-Key is retried", method: "POST", body: small,
			header: http.Header{"Idempotency-Key": {"k1"}}, wantRetry: true},
		{name: "POST without a body is retried when the route opts in", method: "POST", opts: Options{RetryNonIdempotent: true}, wantRetry: true},
		{name: "body over the buffer is not retried", method: "POST", body: large, opts: Options{RetryNonIdempotent: true},
			wantLog: "request not retried: its body is larger than retries.body_buffer"},
		{name: "PUT body over the buffer is not retried", method: "PUT", body: large,
			wantLog: "request not retried: its body is larger than retries.body_buffer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reset := newResetBackend(t)
			good := newHitBackend(t, "good", nil)
			rp := retryOn503()
			rp.NonIdempotent = tc.upstreamOptIn
			tg := retryingTarget(t, config.Upstream{}, rp, generous, memberList(reset.addr(), good.addr()))
			var logs logBuffer
			a := newProxyClient(t, tg, tc.opts, logs.logger()).do(tc.method, tc.body, tc.header)
			if reset.hits.Load() != 1 {
				t.Errorf("the resetting backend got %d requests, want 1", reset.hits.Load())
			}
			if !tc.wantRetry {
				if a.status != http.StatusBadGateway || good.hits.Load() != 0 {
					t.Errorf("%s = %d %.40q with %d requests to the other backend, want 502 and none", tc.method, a.status, a.body, good.hits.Load())
				}
				if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
					t.Errorf("log = %q, want a line %q", logs.String(), tc.wantLog)
				}
				return
			}
			if a.status != 200 || a.body != "good|"+tc.body {
				t.Fatalf("%s = %d %.60q, want 200 from the other backend echoing the %d-byte body", tc.method, a.status, a.body, len(tc.body))
			}
			if a.st.Attempts != 2 {
				t.Errorf("State.Attempts = %d, want 2", a.st.Attempts)
			}
		})
	}
}

// TestRetryOnStatus checks retries.on_status: a 503 of one backend sends a
// GET to another, while a POST gets the 503 as the backend sent it; with
// no other backend left the 503 passes through untouched; the attempts
// limit bounds the backends asked.
func TestRetryOnStatus(t *testing.T) {
	for _, tc := range []struct {
		name, method, body string
		backends           []int // status of each backend, in pick order
		attempts           int
		wantStatus         int
		wantFrom           string // X-From of the answer: "" for the 200 backend, "*" for any
		wantHits           int64  // requests over every backend
	}{
		{name: "GET goes to the next backend", method: "GET", backends: []int{503, 200}, attempts: 3, wantStatus: 200, wantHits: 2},
		{name: "PUT goes to the next backend", method: "PUT", body: "data", backends: []int{503, 200}, attempts: 3, wantStatus: 200, wantHits: 2},
		{name: "POST gets the 503 as sent", method: "POST", body: "data", backends: []int{503, 200}, attempts: 3, wantStatus: 503, wantFrom: "b0", wantHits: 1},
		{name: "no backend left: the 503 passes through", method: "GET", backends: []int{503}, attempts: 3, wantStatus: 503, wantFrom: "b0", wantHits: 1},
		{name: "every backend 503: the last passes through", method: "GET", backends: []int{503, 503}, attempts: 3, wantStatus: 503, wantFrom: "b1", wantHits: 2},
		{name: "attempts bound the backends asked", method: "GET", backends: []int{503, 503, 503, 503}, attempts: 3, wantStatus: 503, wantFrom: "*", wantHits: 3},
		{name: "one attempt retries nothing", method: "GET", backends: []int{503, 200}, attempts: 1, wantStatus: 503, wantFrom: "b0", wantHits: 1},
		{name: "a status not listed is not retried", method: "GET", backends: []int{500, 200}, attempts: 3, wantStatus: 500, wantFrom: "b0", wantHits: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bes []*hitBackend
			var addrs []string
			for i, status := range tc.backends {
				name := "b" + strconv.Itoa(i)
				be := newHitBackend(t, name, nil)
				if status != 200 {
					be = statusBackend(t, name, status)
				}
				bes = append(bes, be)
				addrs = append(addrs, be.addr())
			}
			rp := retryOn503()
			rp.Attempts = tc.attempts
			tg := retryingTarget(t, config.Upstream{}, rp, generous, memberList(addrs...))
			a := newProxyClient(t, tg, Options{}, nil).do(tc.method, tc.body, nil)
			var hits int64
			for _, be := range bes {
				hits += be.hits.Load()
			}
			if a.status != tc.wantStatus || hits != tc.wantHits {
				t.Fatalf("%s = %d %q after %d backend requests, want %d after %d", tc.method, a.status, a.body, hits, tc.wantStatus, tc.wantHits)
			}
			if tc.wantFrom == "" {
				return
			}
			if tc.wantFrom == "*" {
				tc.wantFrom = a.header.Get("X-From")
			}
			wantBody := fmt.Sprintf("%s says %d", tc.wantFrom, tc.wantStatus)
			if a.body != wantBody || a.header.Get("X-From") != tc.wantFrom {
				t.Errorf("%s = %d %q (X-From %q), want the backend's own answer %q (X-From %q)",
					tc.method, a.status, a.body, a.header.Get("X-From"), wantBody, tc.wantFrom)
			}
		})
	}
}

// TestPerTryTimeout checks that a try whose response head does not come
// within the per-try timeout moves a GET on to the next backend, and that
// a POST gets the 504 instead.
func TestPerTryTimeout(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		want         int
	}{
		{"GET goes to the next backend", "GET", 200},
		{"POST gets 504", "POST", http.StatusGatewayTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hang := make(chan struct{})
			slow := newHitBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-hang:
				case <-r.Context().Done():
				}
			})
			t.Cleanup(func() { close(hang) }) // before slow closes
			fast := newHitBackend(t, "fast", nil)
			rp := retryOn503()
			rp.PerTryTimeout = 200 * time.Millisecond
			tg := retryingTarget(t, config.Upstream{}, rp, generous, memberList(slow.addr(), fast.addr()))
			tg.ResponseHeaderTimeout = time.Minute
			a := newProxyClient(t, tg, Options{}, nil).do(tc.method, "body", nil)
			if a.status != tc.want {
				t.Fatalf("%s = %d %q, want %d", tc.method, a.status, a.body, tc.want)
			}
			wantFast := int64(0)
			if tc.want == 200 {
				wantFast = 1
			}
			if slow.hits.Load() != 1 || fast.hits.Load() != wantFast {
				t.Errorf("requests to slow, fast = %d, %d, want 1, %d", slow.hits.Load(), fast.hits.Load(), wantFast)
			}
		})
	}
}

// budgetWindow is upstream's retry budget window, in seconds: the floor
// of min_per_second retries a second is spent over it.
const budgetWindow = 10

// TestRetryBudget checks that with a budget of 0 % only the floor of
// retries happens within the window, whatever the failures.
func TestRetryBudget(t *testing.T) {
	const minPerSecond, requests = 1, 15
	a := statusBackend(t, "a", 503)
	b := statusBackend(t, "b", 503)
	rp := retryOn503()
	rp.Attempts = 2
	set := upstream.Settings{RetryBudget: 0, RetryMinPerSecond: minPerSecond}
	tg := retryingTarget(t, config.Upstream{}, rp, set, memberList(a.addr(), b.addr()))
	pc := newProxyClient(t, tg, Options{}, nil)
	for range requests {
		if got := pc.get(); got.status != 503 {
			t.Fatalf("GET = %d, want the backends' 503", got.status)
		}
	}
	retries := a.hits.Load() + b.hits.Load() - requests
	if want := int64(minPerSecond * budgetWindow); retries != want {
		t.Errorf("%d requests made %d retries, want the budget's %d", requests, retries, want)
	}
}

// TestBackups checks that backup backends get requests only when no
// primary is available (down or draining), and none otherwise.
func TestBackups(t *testing.T) {
	p1, p2, bk := newHitBackend(t, "p1", nil), newHitBackend(t, "p2", nil), newHitBackend(t, "backup", nil)
	members := memberList(p1.addr(), p2.addr(), bk.addr())
	members[2].Backup = true
	tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, members)
	pc := newProxyClient(t, tg, Options{}, nil)
	primaries := tg.Pool.Primaries()
	if len(primaries) != 2 || len(tg.Pool.Backups()) != 1 {
		t.Fatalf("pool has %d primaries and %d backups, want 2 and 1", len(primaries), len(tg.Pool.Backups()))
	}
	for _, tc := range []struct {
		name       string
		down       []int // primaries marked down
		drain      []int // primaries draining
		wantBackup bool
	}{
		{name: "every primary up"},
		{name: "one primary down", down: []int{0}},
		{name: "one down, one draining", down: []int{0}, drain: []int{1}, wantBackup: true},
		{name: "every primary down", down: []int{0, 1}, wantBackup: true},
		{name: "primaries back", wantBackup: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, b := range primaries {
				b.SetHealthy(true, "test")
				b.SetDraining(false)
			}
			for _, i := range tc.down {
				primaries[i].SetHealthy(false, "test")
			}
			for _, i := range tc.drain {
				primaries[i].SetDraining(true)
			}
			const n = 6
			before := bk.hits.Load()
			for range n {
				if a := pc.get(); a.status != 200 {
					t.Fatalf("GET = %d %q, want 200", a.status, a.body)
				}
			}
			want := int64(0)
			if tc.wantBackup {
				want = n
			}
			if got := bk.hits.Load() - before; got != want {
				t.Errorf("backup served %d of %d requests, want %d", got, n, want)
			}
		})
	}
}

// TestNoBackendRetryAfter checks the 503 of an upstream with no available
// backend: a Retry-After of a second when they are down, and the time
// left of the first ejection to end when one is ejected (passive health
// never ejects the last backend, so the others are down).
func TestNoBackendRetryAfter(t *testing.T) {
	const ejectTime = 20 * time.Second
	for _, tc := range []struct {
		name           string
		eject          bool
		wantLo, wantHi int
	}{
		{name: "every backend down", wantLo: 1, wantHi: 1},
		{name: "one ejected, the other down", eject: true, wantLo: int(ejectTime/time.Second) - 2, wantHi: int(ejectTime / time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusing := closedAddr(t)
			good := newHitBackend(t, "good", nil)
			set := generous
			set.Passive = upstream.PassiveSettings{Enabled: true, ConsecutiveFailures: 1, EjectTime: ejectTime, MaxEjectTime: time.Minute, MaxEjected: 1}
			tg := retryingTarget(t, config.Upstream{}, retryOn503(), set, memberList(refusing, good.addr()))
			pc := newProxyClient(t, tg, Options{}, nil)
			bad, ok := tg.Pool.Primaries()[0], tg.Pool.Primaries()[1]
			if tc.eject {
				// The refusing backend is tried first, fails and is ejected.
				if a := pc.get(); a.status != 200 {
					t.Fatalf("GET = %d, want 200 from the good backend", a.status)
				}
				if ej, _ := bad.Ejected(); !ej {
					t.Fatal("the refusing backend was not ejected")
				}
			} else {
				bad.SetHealthy(false, "test")
			}
			ok.SetHealthy(false, "test")
			a := pc.get()
			ra, err := strconv.Atoi(a.header.Get("Retry-After"))
			if a.status != 503 || a.body != "Service Unavailable\n" || err != nil || ra < tc.wantLo || ra > tc.wantHi {
				t.Errorf("GET = %d %q, Retry-After %q, want 503 \"Service Unavailable\\n\" with Retry-After in [%d, %d]",
					a.status, a.body, a.header.Get("Retry-After"), tc.wantLo, tc.wantHi)
			}
		})
	}
}

// gate is a backend handler that holds each request until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 8), release: make(chan struct{}, 8)} }

func (g *gate) handler(t testing.TB) http.HandlerFunc {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(w http.ResponseWriter, r *http.Request) {
		g.entered <- struct{}{}
		select {
		case <-g.release:
			io.WriteString(w, "served")
		case <-done:
		}
	}
}

// goGet sends a GET in the background; the answer arrives on the channel.
func (pc *proxyClient) goGet() <-chan answer {
	c := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(testContext(pc.t), "GET", pc.url+"/x", nil)
		var a answer
		resp, err := pc.c.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a = answer{status: resp.StatusCode, body: string(b), header: resp.Header}
		}
		a.st = <-pc.states
		c <- a
	}()
	return c
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueue checks limits.max_pending: with one backend at its limit of
// one request, a second request waits and is served once the first ends,
// a third, finding the queue full, gets 503 at once, and a wait past the
// queue timeout gets 503.
func TestQueue(t *testing.T) {
	t.Run("waits, then is served", func(t *testing.T) {
		g := newGate()
		be := newHitBackend(t, "gated", g.handler(t))
		set := generous
		set.MaxRequests, set.MaxPending, set.QueueTimeout = 1, 1, time.Minute
		tg := retryingTarget(t, config.Upstream{}, retryOn503(), set, memberList(be.addr()))
		pc := newProxyClient(t, tg, Options{}, nil)

		first := pc.goGet()
		<-g.entered
		second := pc.goGet()
		waitFor(t, "the second request to queue", func() bool { return tg.Pool.Waiting() == 1 })
		third := pc.get() // the first is still held, the second still waits
		if third.status != 503 || third.header.Get("Retry-After") == "" {
			t.Errorf("third GET = %d (Retry-After %q), want 503 with a Retry-After", third.status, third.header.Get("Retry-After"))
		}
		if n := be.hits.Load(); n != 1 {
			t.Errorf("backend got %d requests while the first was held, want 1", n)
		}
		g.release <- struct{}{}
		if a := <-first; a.status != 200 {
			t.Errorf("first GET = %d, want 200", a.status)
		}
		<-g.entered
		g.release <- struct{}{}
		if a := <-second; a.status != 200 || a.body != "served" {
			t.Errorf("queued GET = %d %q, want 200 \"served\"", a.status, a.body)
		}
	})
	t.Run("queue timeout", func(t *testing.T) {
		g := newGate()
		be := newHitBackend(t, "gated", g.handler(t))
		set := generous
		set.MaxRequests, set.MaxPending, set.QueueTimeout = 1, 1, 100*time.Millisecond
		tg := retryingTarget(t, config.Upstream{}, retryOn503(), set, memberList(be.addr()))
		pc := newProxyClient(t, tg, Options{}, nil)
		first := pc.goGet()
		<-g.entered
		if a := pc.get(); a.status != 503 {
			t.Errorf("GET past the queue timeout = %d, want 503", a.status)
		}
		g.release <- struct{}{}
		if a := <-first; a.status != 200 {
			t.Errorf("first GET = %d, want 200", a.status)
		}
	})
	t.Run("no queue: 503 at once", func(t *testing.T) {
		g := newGate()
		be := newHitBackend(t, "gated", g.handler(t))
		set := generous
		set.MaxRequests = 1
		tg := retryingTarget(t, config.Upstream{}, retryOn503(), set, memberList(be.addr()))
		pc := newProxyClient(t, tg, Options{}, nil)
		first := pc.goGet()
		<-g.entered
		if a := pc.get(); a.status != 503 || a.header.Get("Retry-After") != "1" {
			t.Errorf("GET at the limit = %d (Retry-After %q), want 503 with Retry-After 1", a.status, a.header.Get("Retry-After"))
		}
		g.release <- struct{}{}
		<-first
	})
}

// stickyDefaults returns the sticky settings a document gets from
// `sticky: {secret: ...}`, defaults applied by package config.
func stickyDefaults(t *testing.T) config.Sticky {
	t.Helper()
	cfg, err := config.Parse("sticky.yaml", []byte(`
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, sticky: {secret: test-secret}, backends: [{address: "127.0.0.1:1"}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	return *cfg.Upstreams[0].Sticky
}

// stickyCookie returns the affinity cookie set by a, or nil.
func stickyCookie(a answer, name string) *http.Cookie {
	resp := http.Response{Header: a.header}
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestSticky checks cookie affinity: the first response pins the client
// with a cookie (HttpOnly, Path=/, SameSite=Lax by default); requests with
// it keep their backend; a forged or tampered cookie is ignored (the
// policy picks, and a new cookie pins); a pinned backend that is down,
// draining or removed gives way to another, which the client is pinned to.
func TestSticky(t *testing.T) {
	cfg := stickyDefaults(t)
	var bes []*hitBackend
	for i := range 3 {
		bes = append(bes, newHitBackend(t, "b"+strconv.Itoa(i), nil))
	}
	addrs := []string{bes[0].addr(), bes[1].addr(), bes[2].addr()}
	tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, memberList(addrs...))
	tg.Sticky = NewSticky(cfg, nil)
	pc := newProxyClient(t, tg, Options{}, nil)
	withCookie := func(v string) answer {
		t.Helper()
		a := pc.do("GET", "", http.Header{"Cookie": {"other=1; " + cfg.Cookie + "=" + v}})
		if a.status != 200 {
			t.Fatalf("GET = %d %q, want 200", a.status, a.body)
		}
		return a
	}
	backendOf := func(a answer) string { return a.header.Get("X-Backend") }

	first := pc.get()
	c := stickyCookie(first, cfg.Cookie)
	if c == nil {
		t.Fatalf("first response has no %s cookie (Set-Cookie %q)", cfg.Cookie, first.header["Set-Cookie"])
	}
	if !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Secure || c.MaxAge != 0 {
		t.Errorf("cookie = %q, want HttpOnly, Path=/, SameSite=Lax, no Secure, a session cookie", first.header["Set-Cookie"])
	}
	pinned := backendOf(first)

	t.Run("pinned over many requests", func(t *testing.T) {
		for i := range 20 {
			a := withCookie(c.Value)
			if backendOf(a) != pinned || a.header["Set-Cookie"] != nil {
				t.Fatalf("request %d went to %s (Set-Cookie %q), want %s and no new cookie", i, backendOf(a), a.header["Set-Cookie"], pinned)
			}
		}
	})

	flip := []byte(c.Value)
	flip[len(flip)/2] ^= 1
	for _, tc := range []struct{ name, value string }{
		{"forged", strings.Repeat("A", tokenLen)},
		{"tampered", string(flip)},
		{"truncated", c.Value[:tokenLen-1]},
		{"empty", ""},
	} {
		t.Run(tc.name+" cookie is ignored", func(t *testing.T) {
			seen := map[string]bool{}
			for range 6 {
				a := withCookie(tc.value)
				seen[backendOf(a)] = true
				nc := stickyCookie(a, cfg.Cookie)
				if nc == nil {
					t.Fatalf("no new cookie for a %s one", tc.name)
				}
				// The new cookie pins the backend that answered.
				if b := backendOf(withCookie(nc.Value)); b != backendOf(a) {
					t.Errorf("new cookie took the client to %s, want %s", b, backendOf(a))
				}
			}
			if len(seen) < 2 {
				t.Errorf("requests with a %s cookie all went to %v, want the policy to spread them", tc.name, seen)
			}
		})
	}

	for _, tc := range []struct {
		name        string
		leave, back func(b *upstream.Backend)
	}{
		{"down", func(b *upstream.Backend) { b.SetHealthy(false, "test") }, func(b *upstream.Backend) { b.SetHealthy(true, "test") }},
		{"draining", func(b *upstream.Backend) { b.SetDraining(true) }, func(b *upstream.Backend) { b.SetDraining(false) }},
		{"removed", func(b *upstream.Backend) {
			var rest []string
			for _, a := range addrs {
				if a != b.Addr {
					rest = append(rest, a)
				}
			}
			tg.Pool.Plan(generous, memberList(rest...)).Commit()
		}, func(*upstream.Backend) { tg.Pool.Plan(generous, memberList(addrs...)).Commit() }},
	} {
		t.Run("pinned backend "+tc.name, func(t *testing.T) {
			a := pc.get()
			cookie := stickyCookie(a, cfg.Cookie)
			var b *upstream.Backend
			for _, pb := range tg.Pool.Primaries() {
				if pb.Addr == addrs[int(backendOf(a)[1]-'0')] {
					b = pb
				}
			}
			tc.leave(b)
			defer tc.back(b)
			moved := withCookie(cookie.Value)
			nc := stickyCookie(moved, cfg.Cookie)
			if backendOf(moved) == backendOf(a) || nc == nil || nc.Value == cookie.Value {
				t.Fatalf("with its backend %s, request went to %s (Set-Cookie %q), want another backend and a new cookie",
					tc.name, backendOf(moved), moved.header["Set-Cookie"])
			}
			for range 5 {
				if got := backendOf(withCookie(nc.Value)); got != backendOf(moved) {
					t.Fatalf("re-pinned request went to %s, want %s", got, backendOf(moved))
				}
			}
		})
	}
}

// TestPassiveOutcome checks what passive health learns from an exchange:
// a client that hangs up while the backend works, or in the middle of its
// request body, is not the backend's failure; a 5xx answer is.
func TestPassiveOutcome(t *testing.T) {
	t.Run("client hangs up while the backend works", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		be := newHitBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-r.Context().Done()
		})
		tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, memberList(be.addr()))
		pc := newProxyClient(t, tg, Options{}, nil)
		ctx, cancel := context.WithCancel(testContext(t))
		req, _ := http.NewRequestWithContext(ctx, "GET", pc.url+"/x", nil)
		errc := make(chan error, 1)
		go func() {
			resp, err := pc.c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		<-entered
		cancel()
		<-errc
		st := <-pc.states
		checkNotBackendFailure(t, tg, st)
	})
	t.Run("client hangs up in its request body", func(t *testing.T) {
		entered := make(chan struct{}, 1)
		be := newHitBackend(t, "reader", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			io.Copy(io.Discard, r.Body)
		})
		tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, memberList(be.addr()))
		pc := newProxyClient(t, tg, Options{RetryNonIdempotent: true}, nil)
		conn, err := net.Dial("tcp", strings.TrimPrefix(pc.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n"+payload(1000))
		<-entered
		conn.Close()
		st := <-pc.states
		checkNotBackendFailure(t, tg, st)
	})
	for _, tc := range []struct {
		name   string
		status int
	}{
		{"500 counts", 500},
		{"503 passed through counts", 503},
		{"502 counts", 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := statusBackend(t, "bad", tc.status)
			tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, memberList(be.addr()))
			pc := newProxyClient(t, tg, Options{}, nil)
			if a := pc.get(); a.status != tc.status {
				t.Fatalf("GET = %d, want %d", a.status, tc.status)
			}
			if n := tg.Pool.Primaries()[0].Failures(); n != 1 {
				t.Errorf("Failures() = %d after a %d answer, want 1", n, tc.status)
			}
		})
	}
	t.Run("200 does not count", func(t *testing.T) {
		be := newHitBackend(t, "good", nil)
		tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, memberList(be.addr()))
		newProxyClient(t, tg, Options{}, nil).get()
		if n := tg.Pool.Primaries()[0].Failures(); n != 0 {
			t.Errorf("Failures() = %d after a 200, want 0", n)
		}
	})
}

// checkNotBackendFailure checks that the exchange the client abandoned
// is recorded as the client's doing and not held against the backend.
func checkNotBackendFailure(t *testing.T, tg *Target, st *middleware.State) {
	t.Helper()
	b := tg.Pool.Primaries()[0]
	if n := b.Failures(); n != 0 {
		t.Errorf("Failures() = %d after the client hung up (error %v), want 0", n, st.Err)
	}
	if n := b.InFlight(); n != 0 {
		t.Errorf("InFlight() = %d after the exchange ended, want 0", n)
	}
	if got := middleware.StatusFor(st.Err); got != middleware.StatusClientClosed && got != http.StatusBadRequest {
		t.Errorf("State.Err = %v (status %d), want the client's failure", st.Err, got)
	}
}

// TestStaleConnectionLargeBody is a regression test for a PUT whose body
// is larger than retries.body_buffer, sent on a pooled connection that the
// backend closed without answering: the transport asked the replay buffer
// for the body again, got errNoReplay and reported it as a failure of the
// client's body, so the client got 400 and passive health blamed no one.
// The backend failed: the client gets 502, counted against the backend; a
// body within the buffer is sent again on a new connection.
func TestStaleConnectionLargeBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"body within the buffer is sent again", payload(3000), 200},
		{"body over the buffer is not", payload(20000), http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each connection answers its first request and closes after
			// reading its second.
			be := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if !answerOnce(c, br, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") {
					return
				}
				req, err := http.ReadRequest(br)
				if err == nil {
					io.Copy(io.Discard, req.Body)
				}
			})
			tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, memberList(be.addr()))
			pc := newProxyClient(t, tg, Options{}, nil)
			if a := pc.get(); a.status != 200 {
				t.Fatalf("first GET = %d, want 200", a.status)
			}
			a := pc.do("PUT", tc.body, nil)
			if a.status != tc.want {
				t.Errorf("PUT on the closed connection = %d (error %v), want %d", a.status, a.st.Err, tc.want)
			}
			wantFailures := uint64(0)
			if tc.want != 200 {
				wantFailures = 1
			}
			if n := tg.Pool.Primaries()[0].Failures(); n != wantFailures {
				t.Errorf("Failures() = %d, want %d", n, wantFailures)
			}
		})
	}
}

// TestStickyBackupGivesWayToPrimaries is a regression test for a client
// pinned to a backup backend while every primary was down: the pin was
// honoured after the primaries came back, so the backup kept getting
// traffic with primaries available. A pin to a backup holds only while no
// primary is available; a pin to a primary always does.
func TestStickyBackupGivesWayToPrimaries(t *testing.T) {
	cfg := stickyDefaults(t)
	p1, p2, bk := newHitBackend(t, "p1", nil), newHitBackend(t, "p2", nil), newHitBackend(t, "backup", nil)
	members := memberList(p1.addr(), p2.addr(), bk.addr())
	members[2].Backup = true
	tg := retryingTarget(t, config.Upstream{}, retryOn503(), generous, members)
	tg.Sticky = NewSticky(cfg, nil)
	pc := newProxyClient(t, tg, Options{}, nil)
	for _, b := range tg.Pool.Primaries() {
		b.SetHealthy(false, "test")
	}
	outage := pc.get()
	c := stickyCookie(outage, cfg.Cookie)
	if outage.header.Get("X-Backend") != "backup" || c == nil {
		t.Fatalf("with every primary down, GET went to %q (Set-Cookie %q), want the backup and a cookie",
			outage.header.Get("X-Backend"), outage.header["Set-Cookie"])
	}
	again := pc.do("GET", "", http.Header{"Cookie": {cfg.Cookie + "=" + c.Value}})
	if again.header.Get("X-Backend") != "backup" {
		t.Errorf("during the outage the pinned client went to %q, want the backup", again.header.Get("X-Backend"))
	}
	for _, b := range tg.Pool.Primaries() {
		b.SetHealthy(true, "test")
	}
	before := bk.hits.Load()
	for range 4 {
		a := pc.do("GET", "", http.Header{"Cookie": {cfg.Cookie + "=" + c.Value}})
		if a.status != 200 || stickyCookie(a, cfg.Cookie) == nil {
			t.Errorf("GET = %d (Set-Cookie %q), want 200 re-pinned to a primary", a.status, a.header["Set-Cookie"])
		}
	}
	if n := bk.hits.Load() - before; n != 0 {
		t.Errorf("the backup served %d requests pinned to it after the primaries came back, want 0", n)
	}
}

// TestPerTryTimeoutH2C checks per_try_timeout on an h2c upstream, whose
// http.Transport holds its own response_header timeout: a GET waiting past
// the per-try timeout on one backend goes to the next.
func TestPerTryTimeoutH2C(t *testing.T) {
	hang := make(chan struct{})
	var slowHits, fastHits atomic.Int64
	slow := newH2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hang) })
	fast := newH2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fastHits.Add(1)
		io.WriteString(w, "fast")
	}))
	rp := retryOn503()
	rp.PerTryTimeout = 200 * time.Millisecond
	cfg := config.Upstream{Protocol: "h2c", Timeouts: config.UpstreamTimeouts{ResponseHeader: config.Duration(time.Minute)}}
	cfg.Retries.PerTryTimeout = config.Duration(rp.PerTryTimeout)
	tg := retryingTarget(t, cfg, rp, generous, memberList(addr(slow), addr(fast)))
	a := newProxyClient(t, tg, Options{}, nil).do("GET", "", nil)
	if a.status != 200 || a.body != "fast" {
		t.Fatalf("GET = %d %q, want 200 %q", a.status, a.body, "fast")
	}
	if slowHits.Load() != 1 || fastHits.Load() != 1 {
		t.Errorf("requests to slow, fast = %d, %d, want 1, 1", slowHits.Load(), fastHits.Load())
	}
}
