package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/testenv"
	"palisade/internal/upstream"
)

// Modes of a flakyBackend.
const (
	modeOK int32 = iota
	modeBusy
	modeSlow
)

// slowDelay is how long a slow backend takes: well within the per-try
// timeout, so slowness alone fails nothing.
const slowDelay = 30 * time.Millisecond

// flakyBackend is a loopback HTTP/1.1 backend that can be killed (its
// listener and every connection closed at once, as a crash does) and
// restarted on the same port, made to answer 503, or made slow. It answers
// "NAME|BODY" with an X-Backend field, and records the POSTs it received.
type flakyBackend struct {
	name   string
	addr   string
	mode   atomic.Int32
	hits   atomic.Int64 // requests received, over every run
	probes atomic.Int64 // health probes received
	busy   atomic.Int64 // 503s answered
	slow   atomic.Int64 // slow answers

	mu    sync.Mutex
	posts map[string]bool // ids of the POSTs received
	srv   *http.Server
	done  chan struct{} // closed when the current Serve returns
}

func newFlakyBackend(t *testing.T, name string) *flakyBackend {
	fb := &flakyBackend{name: name, addr: "127.0.0.1:0", posts: map[string]bool{}}
	fb.start(t)
	t.Cleanup(fb.kill)
	return fb
}

// start serves on fb.addr, the port of the previous run once there was one.
func (fb *flakyBackend) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ln, err = net.Listen("tcp", fb.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("restarting %s on %s: %v", fb.name, fb.addr, err)
	}
	srv := &http.Server{Handler: fb}
	done := make(chan struct{})
	fb.mu.Lock()
	fb.addr, fb.srv, fb.done = ln.Addr().String(), srv, done
	fb.mu.Unlock()
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
}

// kill closes the listener and every connection, in flight or idle.
func (fb *flakyBackend) kill() {
	fb.mu.Lock()
	srv, done := fb.srv, fb.done
	fb.mu.Unlock()
	srv.Close()
	<-done
}

func (fb *flakyBackend) received(id string) bool {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.posts[id]
}

func (fb *flakyBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		// The probe: a backend that answers at all is up here; only the
		// killed one, which does not answer, goes down.
		fb.probes.Add(1)
		return
	}
	fb.hits.Add(1)
	if r.Method == http.MethodPost {
		fb.mu.Lock()
		fb.posts[r.URL.Query().Get("id")] = true
		fb.mu.Unlock()
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	w.Header().Set("X-Backend", fb.name)
	switch fb.mode.Load() {
	case modeBusy:
		fb.busy.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, fb.name+" busy")
		return
	case modeSlow:
		fb.slow.Add(1)
		time.Sleep(slowDelay)
	}
	io.WriteString(w, fb.name+"|"+string(body))
}

// outcome is one request of the load loop.
type outcome struct {
	method, id string
	status     int
	backend    string // X-Backend of the answer, "" when the gateway answered
	body       string
	err        error
}

// poll waits until cond holds, failing the test after five seconds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestFailoverUnderLoad runs GETs and POSTs through a gateway to three
// backends while one is killed, one answers 503 for a while and one is
// slow, and then all recover, the killed one restarted on its port. No GET
// may fail. A POST may fail only when it was in flight on the killed
// backend: that backend received it, or the gateway was sending it there
// (the access log names the backend). A POST answered 503 by the busy
// backend is that backend's own answer, passed through as sent, since a
// POST is not retried on a status. The killed backend is ejected by
// passive health and gets traffic again after its restart.
//
// The killed backend must be found by both passive health (ejected) and the
// active check (down), and after its restart it comes back through the
// active check and ramps up under slow start.
func TestFailoverUnderLoad(t *testing.T) {
	killed, busy, slow := newFlakyBackend(t, "killed"), newFlakyBackend(t, "busy"), newFlakyBackend(t, "slow")
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := start(t, fmt.Sprintf(`
access_log: {output: %q, buffer: 0}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams:
  - name: app
    policy: round_robin
    backends: [{address: %q}, {address: %q}, {address: %q}]
    slow_start: 2s
    health_check: {path: /healthz, interval: 100ms, timeout: 100ms, rise: 2, fall: 2}
    passive_health: {consecutive_failures: 3, min_requests: 10, eject_time: 1s, max_eject_time: 2s, max_ejected: 67%%}
    retries: {attempts: 3, per_try_timeout: 2s, budget: 50%%}
`, logFile, killed.addr, busy.addr, slow.addr))
	var killedBackend *upstream.Backend
	for _, b := range h.g.Snapshot().Upstreams["app"].Pool.Primaries() {
		if b.Addr == killed.addr {
			killedBackend = b
		}
	}
	if killedBackend == nil {
		t.Fatalf("no backend %s in the pool", killed.addr)
	}

	c := testenv.Client(t, testenv.H1)
	stop := make(chan struct{})
	const workers = 4
	var results [workers][]outcome // one per worker, read once they are done
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := outcome{method: "GET", id: fmt.Sprintf("w%d-%d", w, i)}
				var body io.Reader
				if (w+i)%2 == 1 {
					o.method = "POST"
					body = strings.NewReader("post " + o.id)
				}
				req, _ := http.NewRequest(o.method, h.url("/load?id="+o.id), body)
				resp, err := c.Do(req)
				if err != nil {
					o.err = err
				} else {
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					o.status, o.backend, o.body, o.err = resp.StatusCode, resp.Header.Get("X-Backend"), string(b), err
				}
				results[w] = append(results[w], o)
			}
		}()
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	poll(t, "every backend to serve the load", func() bool {
		return killed.hits.Load() >= 20 && busy.hits.Load() >= 20 && slow.hits.Load() >= 20
	})
	killed.kill()
	poll(t, "passive health to eject the killed backend", func() bool { ej, _ := killedBackend.Ejected(); return ej })
	poll(t, "the active check to take the killed backend down", func() bool { ok, _ := killedBackend.Healthy(); return !ok })
	busy.mode.Store(modeBusy)
	slow.mode.Store(modeSlow)
	poll(t, "503s and slow answers", func() bool { return busy.busy.Load() >= 10 && slow.slow.Load() >= 10 })
	busy.mode.Store(modeOK)
	slow.mode.Store(modeOK)
	before := killed.hits.Load()
	killed.start(t)
	poll(t, "the active check to bring the restarted backend up", func() bool { ok, _ := killedBackend.Healthy(); return ok })
	if w := killedBackend.EffectiveWeight(); w >= 256 {
		t.Errorf("restarted backend: EffectiveWeight() = %d right after it came up, want below 256 (slow start)", w)
	}
	poll(t, "the restarted backend to get traffic again", func() bool { return killed.hits.Load() >= before+10 })
	stopLoad()

	var gets, posts, passed int
	var failedPosts []outcome
	for _, o := range slices.Concat(results[:]...) {
		ok := o.err == nil && o.status == 200 && o.backend != "" && o.body == o.backend+"|"+bodyOf(o)
		switch {
		case o.method == "GET":
			gets++
			if !ok {
				t.Errorf("GET %s failed: %d %q from %q, error %v", o.id, o.status, o.body, o.backend, o.err)
			}
		case ok:
			posts++
		case o.err == nil && o.status == 503 && o.backend == busy.name && o.body == busy.name+" busy":
			passed++
		default:
			failedPosts = append(failedPosts, o)
		}
	}
	t.Logf("%d GETs, %d POSTs served, %d POSTs answered 503 by the busy backend, %d POSTs failed", gets, posts, passed, len(failedPosts))
	if gets == 0 || posts == 0 {
		t.Fatalf("%d GETs and %d POSTs succeeded, want some of each", gets, posts)
	}
	if len(failedPosts) == 0 {
		return
	}
	// A POST that the killed backend did not receive must have been on its
	// way there: wait for the access log to say so.
	var unexplained []outcome
	for _, o := range failedPosts {
		if !killed.received(o.id) {
			unexplained = append(unexplained, o)
		}
	}
	if len(unexplained) == 0 {
		return
	}
	var backends map[string]string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		backends = accessLogBackends(t, logFile)
		all := true
		for _, o := range unexplained {
			if _, ok := backends[o.id]; !ok {
				all = false
			}
		}
		if all || time.Now().After(deadline) {
			break
		}
	}
	for _, o := range unexplained {
		if b := backends[o.id]; b != killed.addr {
			t.Errorf("POST %s failed (%d %q, error %v) on backend %q, want failures only of POSTs in flight on the killed backend %s",
				o.id, o.status, o.body, o.err, b, killed.addr)
		}
	}
}

// bodyOf is the request body the load loop sent with o.
func bodyOf(o outcome) string {
	if o.method == "POST" {
		return "post " + o.id
	}
	return ""
}

// accessLogBackends maps the id of each logged request to its backend.
func accessLogBackends(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct{ Query, Backend string }
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			out[strings.TrimPrefix(line.Query, "id=")] = line.Backend
		}
	}
	return out
}
