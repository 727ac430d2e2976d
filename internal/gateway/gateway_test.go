package gateway

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/coder/websocket"
	"github.com/klauspost/compress/zstd"

	"palisade/internal/config"
	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness is a running gateway on one config, with its listener address.
type harness struct {
	g    *Gateway
	addr string // the first listener's bound address
	file string // the config file, for reload tests
}

// start writes cfg (a YAML document; %[1]s is replaced by a free loopback
// address for the first listener when present) and applies it.
func start(t *testing.T, cfg string) *harness {
	t.Helper()
	return startIn(t, t.TempDir(), cfg)
}

// startIn is start with the config file written in dir, beside the files
// it refers to.
func startIn(t *testing.T, dir, cfg string) *harness {
	t.Helper()
	file := filepath.Join(dir, "palisade.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	g := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.ApplyFile(file); err != nil {
		t.Fatalf("Apply:\n%v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	snap := g.Snapshot()
	return &harness{g: g, addr: g.Addr(snap.Config.Listeners[0].Address).String(), file: file}
}

func (h *harness) url(path string) string { return "http://" + h.addr + path }

// reload rewrites the config file and applies it.
func (h *harness) reload(t *testing.T, cfg string) error {
	t.Helper()
	if err := os.WriteFile(h.file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return h.g.ApplyFile(h.file)
}

// nameHandler answers with its name, for telling backends apart.
func nameHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, name)
	})
}

func get(t *testing.T, c *http.Client, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestRoutingPredicates(t *testing.T) {
	names := []string{"exact-host", "wild-host", "exact-path", "prefix", "regex", "method", "header", "query", "cookie", "priority", "fallback"}
	var ups strings.Builder
	for _, name := range names {
		addr := testenv.Backend(t, nameHandler(name)).Listener.Addr().String()
		fmt.Fprintf(&ups, "  - {name: %s, backends: [{address: %q}]}\n", name, addr)
	}
	h := start(t, `
access_log: {output: "off"}
listeners:
  - {name: web, address: "127.0.0.1:0"}
routes:
  - {name: exact-host, match: {host: api.example.com}, upstream: exact-host}
  - {name: wild-host, match: {host: "*.example.com"}, upstream: wild-host}
  - {name: exact-path, match: {path: /exact}, upstream: exact-path}
  - {name: prefix, match: {path_prefix: /static/}, upstream: prefix}
  - {name: regex, match: {path_regex: "^/items/[0-9]+$"}, upstream: regex}
  - {name: method, match: {path_prefix: /m/, methods: [DELETE]}, upstream: method}
  - {name: header, match: {path_prefix: /m/, headers: {X-Canary: "1"}}, upstream: header}
  - {name: query, match: {path_prefix: /m/, query: {v: "2"}}, upstream: query}
  - {name: cookie, match: {path_prefix: /m/, cookies: {beta: "yes"}}, upstream: cookie}
  - {name: specific, match: {path_prefix: /p/, headers: {X-A: "1"}}, upstream: fallback}
  - {name: priority, match: {path_prefix: /p/}, priority: 10, upstream: priority}
  - {name: fallback, match: {path_prefix: /}, upstream: fallback}
upstreams:
`+ups.String())

	for _, proto := range testenv.Protocols {
		c := testenv.Client(t, proto)
		for _, tc := range []struct {
			name, method, host, target string
			header                     http.Header
			want                       string
		}{
			{"exact host", "GET", "api.example.com", "/exact", nil, "exact-host"},
			{"exact host with port", "GET", "API.example.com:8080", "/", nil, "exact-host"},
			{"wildcard host", "GET", "a.example.com", "/", nil, "wild-host"},
			{"wildcard host, two labels", "GET", "a.b.example.com", "/", nil, "wild-host"},
			{"wildcard does not match apex", "GET", "example.com", "/exact", nil, "exact-path"},
			{"exact path only exact", "GET", "", "/exact/more", nil, "fallback"},
			{"prefix", "GET", "", "/static/app.js", nil, "prefix"},
			{"regex", "GET", "", "/items/42", nil, "regex"},
			{"regex miss", "GET", "", "/items/x", nil, "fallback"},
			{"method", "DELETE", "", "/m/1", nil, "method"},
			{"method miss", "GET", "", "/m/1", nil, "fallback"},
			{"header", "GET", "", "/m/1", http.Header{"X-Canary": {"1"}}, "header"},
			{"header miss", "GET", "", "/m/1", http.Header{"X-Canary": {"0"}}, "fallback"},
			{"query", "GET", "", "/m/1?a=1&v=2", nil, "query"},
			{"query miss", "GET", "", "/m/1?v=3", nil, "fallback"},
			{"cookie", "GET", "", "/m/1", http.Header{"Cookie": {"a=b; beta=yes"}}, "cookie"},
			{"cookie miss", "GET", "", "/m/1", http.Header{"Cookie": {"beta=no"}}, "fallback"},
			{"priority beats specificity", "GET", "", "/p/1", http.Header{"X-A": {"1"}}, "priority"},
		} {
			t.Run(string(proto)+"/"+tc.name, func(t *testing.T) {
				req := newRequest(t, tc.method, h.url(tc.target), nil)
				if tc.host != "" {
					req.Host = tc.host
				}
				for k, v := range tc.header {
					req.Header[k] = v
				}
				status, body, _ := get(t, c, req)
				if status != 200 || body != tc.want {
					t.Errorf("%s %s (Host %q) = %d %q, want 200 %q", tc.method, tc.target, tc.host, status, body, tc.want)
				}
			})
		}
	}
}

func TestNoRouteIs404(t *testing.T) {
	b := testenv.Backend(t, nameHandler("api"))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: api, match: {path_prefix: /api/}, upstream: api}]
upstreams: [{name: api, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	for _, proto := range testenv.Protocols {
		status, body, hdr := get(t, testenv.Client(t, proto), newRequest(t, "GET", h.url("/other"), nil))
		if status != 404 || body != "Not Found\n" || hdr.Get("X-Request-Id") == "" {
			t.Errorf("%s: GET /other = %d %q (X-Request-Id %q), want 404 \"Not Found\\n\" with a request ID", proto, status, body, hdr.Get("X-Request-Id"))
		}
	}
}

// echoHeaders answers with the forwarding headers the backend received.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "xff=%s|xfp=%s|xfh=%s|fwd=%s|via=%s|rid=%t|conn=%s|keep=%s",
		r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"),
		r.Header.Get("Forwarded"), r.Header.Get("Via"), r.Header.Get("X-Request-Id") != "",
		r.Header.Get("X-Hop"), r.Header.Get("Keep-Alive"))
}

func TestForwardingHeaders(t *testing.T) {
	b := testenv.Backend(t, http.HandlerFunc(echoHeaders))
	for _, tc := range []struct {
		name, trusted string
		forwarded     bool
		want          map[testenv.Protocol]string
	}{
		{"untrusted client's spoofed values are replaced", "[]", false, map[testenv.Protocol]string{
			testenv.H1:  "xff=127.0.0.1|xfp=http|xfh=app.test|fwd=|via=1.1 palisade|rid=true|conn=|keep=",
			testenv.H2C: "xff=127.0.0.1|xfp=http|xfh=app.test|fwd=|via=2.0 palisade|rid=true|conn=|keep=",
		}},
		{"trusted proxy's values are extended", "[127.0.0.1/32]", true, map[testenv.Protocol]string{
			testenv.H1:  `xff=203.0.113.9, 127.0.0.1|xfp=https|xfh=spoof.test|fwd=for=203.0.113.9, for=127.0.0.1;host=app.test;proto=http|via=1.1 palisade|rid=true|conn=|keep=`,
			testenv.H2C: `xff=203.0.113.9, 127.0.0.1|xfp=https|xfh=spoof.test|fwd=for=203.0.113.9, for=127.0.0.1;host=app.test;proto=http|via=2.0 palisade|rid=true|conn=|keep=`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0", trusted_proxies: %s}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, forwarded: %v, backends: [{address: %q}]}]
`, tc.trusted, tc.forwarded, b.Listener.Addr()))
			for _, proto := range testenv.Protocols {
				req := newRequest(t, "GET", h.url("/"), nil)
				req.Host = "app.test"
				req.Header.Set("X-Forwarded-For", "203.0.113.9")
				req.Header.Set("X-Forwarded-Proto", "https")
				req.Header.Set("X-Forwarded-Host", "spoof.test")
				req.Header.Set("Forwarded", "for=203.0.113.9")
				if proto == testenv.H1 {
					req.Header.Set("Connection", "X-Hop")
					req.Header.Set("X-Hop", "secret")
					req.Header.Set("Keep-Alive", "timeout=5")
				}
				_, body, _ := get(t, testenv.Client(t, proto), req)
				if body != tc.want[proto] {
					t.Errorf("%s: backend saw\n%s\nwant\n%s", proto, body, tc.want[proto])
				}
			}
		})
	}
}

func TestStreamingSSE(t *testing.T) {
	release := make(chan struct{})
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "data: second\n\n")
	}))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: sse, match: {path: /events}, middlewares: [{kind: compress}], upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	for _, proto := range testenv.Protocols {
		t.Run(string(proto), func(t *testing.T) {
			resp, err := testenv.Client(t, proto).Get(h.url("/events"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || line != "data: first\n" {
				t.Fatalf("first line = %q, %v; want the first event before the backend finishes", line, err)
			}
			release <- struct{}{}
		})
	}
}

func TestWebSocketEcho(t *testing.T) {
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: ws, match: {path: /ws}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+h.addr+"/ws", nil)
	if err != nil {
		t.Fatalf("Dial through the proxy: %v", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for _, msg := range []string{"hello", strings.Repeat("x", 100000)} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != msg {
			t.Fatalf("echo of %d bytes = %d bytes, %v", len(msg), len(got), err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func TestFailureMapping(t *testing.T) {
	slow := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	down := testenv.Backend(t, nameHandler("down"))
	closed := testenv.ClosedAddr(t)
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes:
  - {name: refused, match: {path: /refused}, upstream: refused}
  - {name: slow, match: {path: /slow}, upstream: slow}
  - {name: down, match: {path: /down}, upstream: down}
upstreams:
  - {name: refused, backends: [{address: %q}]}
  - {name: slow, timeouts: {response_header: 200ms}, backends: [{address: %q}]}
  - {name: down, backends: [{address: %q}]}
`, closed, slow.Listener.Addr(), down.Listener.Addr()))
	h.g.Snapshot().Upstreams["down"].Pool.Primaries()[0].SetHealthy(false, "test")

	for _, proto := range testenv.Protocols {
		for _, tc := range []struct {
			path string
			want int
		}{{"/refused", 502}, {"/slow", 504}, {"/down", 503}} {
			t.Run(string(proto)+tc.path, func(t *testing.T) {
				status, body, hdr := get(t, testenv.Client(t, proto), newRequest(t, "GET", h.url(tc.path), nil))
				if status != tc.want {
					t.Errorf("GET %s = %d, want %d", tc.path, status, tc.want)
				}
				if body != http.StatusText(tc.want)+"\n" {
					t.Errorf("GET %s body = %q, want the bare status text", tc.path, body)
				}
				if strings.Contains(body, "127.0.0.1") || hdr.Get("X-Request-Id") == "" {
					t.Errorf("GET %s: body %q must not name a backend and X-Request-Id (%q) must be set", tc.path, body, hdr.Get("X-Request-Id"))
				}
			})
		}
	}
}

func TestBodyLimit(t *testing.T) {
	var hits atomic.Int32
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0", limits: {max_body_bytes: 1KiB}}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	for _, proto := range testenv.Protocols {
		c := testenv.Client(t, proto)
		status, body, _ := get(t, c, newRequest(t, "POST", h.url("/"), strings.NewReader(strings.Repeat("a", 1024))))
		if status != 200 || body != "1024" {
			t.Errorf("%s: POST of 1KiB = %d %q, want 200 \"1024\"", proto, status, body)
		}
		status, _, _ = get(t, c, newRequest(t, "POST", h.url("/"), strings.NewReader(strings.Repeat("a", 2048))))
		if status != 413 {
			t.Errorf("%s: POST of 2KiB with Content-Length = %d, want 413", proto, status)
		}
		// An unknown length (chunked in HTTP/1.1) crossing the limit.
		req := newRequest(t, "POST", h.url("/"), io.MultiReader(strings.NewReader(strings.Repeat("a", 2048))))
		status, _, _ = get(t, c, req)
		if status != 413 {
			t.Errorf("%s: streamed POST of 2KiB = %d, want 413", proto, status)
		}
	}
}

func TestMalformedRequestsNeverForwarded(t *testing.T) {
	var hits atomic.Int32
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	for _, tc := range []struct{ name, raw, want string }{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", "400"},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", "400"},
		{"bare LF in a header", "GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n", "400"},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", "400"},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n", "400"},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400"},
		{"h2c upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", "400"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", "400"},
		{"encoded dot segment", "GET /public/..%2Fadmin HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"encoded dots", "GET /public/%2e%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"servlet path parameter dots", "GET /public/..;/admin HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.raw)
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("reading status: %v", err)
			}
			if !strings.HasPrefix(line, "HTTP/1.1 "+tc.want+" ") {
				t.Errorf("status line %q, want %s", line, tc.want)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("backend saw %d malformed requests, want 0", n)
	}
}

func TestAccessLog(t *testing.T) {
	b := testenv.Backend(t, nameHandler("app"))
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := start(t, fmt.Sprintf(`
access_log: {output: %q, buffer: 0}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: api, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, logFile, b.Listener.Addr()))
	get(t, testenv.Client(t, testenv.H1), newRequest(t, "GET", h.url("/x?y=1"), nil))
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"method":"GET"`, `"path":"/x"`, `"query":"y=1"`, `"status":200`, `"bytes":3`, `"route":"api"`,
		`"upstream":"app"`, `"backend":"` + b.Listener.Addr().String() + `"`, `"client_ip":"127.0.0.1"`, `"listener":"web"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("access log line %s lacks %s", data, want)
		}
	}
}

const reloadConfig = `
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"%s}]
routes: [{name: all, match: {path_prefix: /}, upstream: %s}]
upstreams:
  - {name: a, backends: [{address: %q}]}
  - {name: b, backends: [{address: %q}]}
`

func TestReloadUnderLoadLosesNothing(t *testing.T) {
	a := testenv.Backend(t, nameHandler("a"))
	b := testenv.Backend(t, nameHandler("b"))
	cfg := func(up string) string {
		return fmt.Sprintf(reloadConfig, "", up, a.Listener.Addr(), b.Listener.Addr())
	}
	h := start(t, cfg("a"))

	var ok, failed atomic.Int64
	var seenB atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, proto := range []testenv.Protocol{testenv.H1, testenv.H1, testenv.H2C, testenv.H2C} {
		c := testenv.Client(t, proto)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(h.url("/"))
				if err != nil {
					failed.Add(1)
					t.Errorf("%s request during reload: %v", proto, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					t.Errorf("%s request during reload: %d %s", proto, resp.StatusCode, body)
					continue
				}
				if string(body) == "b" {
					seenB.Store(true)
				}
				ok.Add(1)
			}
		}()
	}
	for i := range 20 {
		up := "a"
		if i%2 == 0 {
			up = "b"
		}
		if err := h.reload(t, cfg(up)); err != nil {
			t.Errorf("reload %d: %v", i, err)
		}
		if err := h.reload(t, "listeners: [{name: web, address: 127.0.0.1:0}]\nroutes: [{name: x, upstream: missing}]\n"); err == nil {
			t.Errorf("reload %d: a broken config was accepted", i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 || !seenB.Load() {
		t.Errorf("requests during reloads: %d ok, %d failed, saw new config: %v; want all ok and the new config seen", ok.Load(), failed.Load(), seenB.Load())
	}
}

func TestBadReloadKeepsRunningConfig(t *testing.T) {
	a := testenv.Backend(t, nameHandler("a"))
	b := testenv.Backend(t, nameHandler("b"))
	h := start(t, fmt.Sprintf(reloadConfig, "", "a", a.Listener.Addr(), b.Listener.Addr()))
	err := h.reload(t, fmt.Sprintf(reloadConfig, ", timeouts: {idle: 5}", "b", a.Listener.Addr(), b.Listener.Addr()))
	var diags config.Diagnostics
	if !errors.As(err, &diags) || !strings.Contains(err.Error(), "palisade.yaml:3:") {
		t.Fatalf("reload of a config with a bad duration = %v, want positioned diagnostics", err)
	}
	_, body, _ := get(t, testenv.Client(t, testenv.H1), newRequest(t, "GET", h.url("/"), nil))
	if body != "a" {
		t.Errorf("after a refused reload the proxy answered %q, want the running config's \"a\"", body)
	}
}

func TestReloadInFlightFinishesOnOldSnapshot(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	a := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "a")
	}))
	b := testenv.Backend(t, nameHandler("b"))
	cfg := func(up string) string { return fmt.Sprintf(reloadConfig, "", up, a.Listener.Addr(), b.Listener.Addr()) }
	h := start(t, cfg("a"))
	c := testenv.Client(t, testenv.H1)
	done := make(chan string)
	go func() {
		resp, err := c.Get(h.url("/slow"))
		if err != nil {
			done <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(body)
	}()
	<-entered
	if err := h.reload(t, cfg("b")); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := get(t, c, newRequest(t, "GET", h.url("/"), nil)); body != "b" {
		t.Errorf("new request after reload = %q, want \"b\"", body)
	}
	close(release)
	if got := <-done; got != "a" {
		t.Errorf("request in flight across the reload = %q, want \"a\"", got)
	}
}

func TestReloadAddsAndDrainsListeners(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	a := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "a")
	}))
	second := testenv.FreeAddr(t)
	one := fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: a}]
upstreams: [{name: a, backends: [{address: %q}]}]
`, a.Listener.Addr())
	two := strings.Replace(one, `listeners: [{name: web, address: "127.0.0.1:0"}]`,
		fmt.Sprintf(`listeners: [{name: web, address: "127.0.0.1:0"}, {name: extra, address: %q}]`, second), 1)
	h := start(t, one)
	if err := h.reload(t, two); err != nil {
		t.Fatal(err)
	}
	c := testenv.Client(t, testenv.H1)
	if _, body, _ := get(t, c, newRequest(t, "GET", "http://"+second+"/", nil)); body != "a" {
		t.Fatalf("added listener answered %q, want \"a\"", body)
	}
	done := make(chan string)
	go func() {
		resp, err := c.Get("http://" + second + "/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(body)
	}()
	<-entered
	if err := h.reload(t, one); err != nil {
		t.Fatal(err)
	}
	close(release)
	if got := <-done; got != "a" {
		t.Errorf("request in flight on a removed listener = %q, want it to finish with \"a\"", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", second, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("removed listener still accepts connections")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, body, _ := get(t, c, newRequest(t, "GET", h.url("/"), nil)); body != "a" {
		t.Errorf("kept listener answered %q after the reload, want \"a\"", body)
	}
}

// Regression: h2c requests skipped the request-target rules of our
// HTTP/1.1 parser, so /public/../admin matched a /public/ route.
func TestDotSegmentsRefusedOverH2C(t *testing.T) {
	var hits atomic.Int32
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: public, match: {path_prefix: /public/}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	c := testenv.Client(t, testenv.H2C)
	for _, target := range []string{"/public/../admin", "/public/..%2Fadmin"} {
		req := newRequest(t, "GET", h.url("/"), nil)
		req.URL.Opaque = target
		status, _, _ := get(t, c, req)
		if status != 400 {
			t.Errorf("h2c GET %s = %d, want 400", target, status)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("backend saw %d requests with dot segments, want 0", n)
	}
}

// Regression: Shutdown waited forever for an open WebSocket, because a
// hijacked connection was neither drained nor closed when the grace period
// ran out, so SIGTERM hung the process.
func TestShutdownEndsWebSocketsAfterGrace(t *testing.T) {
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	file := filepath.Join(t.TempDir(), "palisade.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: ws, match: {path: /ws}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr())), 0o644)
	g := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.ApplyFile(file); err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(context.Background(), "ws://"+g.Addr("127.0.0.1:0").String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want the grace period's context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		c.CloseNow()
		<-done
		t.Fatal("Shutdown with a 300ms grace period was still blocked by an idle WebSocket after 10s")
	}
}

// Regression: a POST on a pooled connection the backend had closed was
// sent again on a new connection, so a backend that acted on it and then
// died saw it twice.
func TestStaleConnectionDoesNotReplayPOST(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var posts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if req.Method == "POST" {
						posts.Add(1)
						return // acted on it, then died before answering
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: a, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, ln.Addr()))
	c := testenv.Client(t, testenv.H1)
	get(t, c, newRequest(t, "GET", h.url("/warm"), nil))
	status, _, _ := get(t, c, newRequest(t, "POST", h.url("/charge"), nil))
	if n := posts.Load(); n != 1 || status != 502 {
		t.Errorf("POST = %d, backend saw it %d times; want 502 and exactly once", status, n)
	}
}

// TestCompressionThroughProxy checks each encoding end to end: a backend's
// JSON comes back encoded as negotiated, decodes to the same bytes, and
// carries Vary and a weakened validator that still revalidates.
func TestCompressionThroughProxy(t *testing.T) {
	body := strings.Repeat(`{"id":1,"name":"user","email":"user@example.com"},`, 200)
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") != "" && strings.Contains(r.Header.Get("If-None-Match"), `"v1"`) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: api, match: {path_prefix: /}, middlewares: [{kind: compress}], upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
		"zstd": func(r io.Reader) (io.Reader, error) { return zstd.NewReader(r) },
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
	}
	for _, proto := range testenv.Protocols {
		c := testenv.Client(t, proto)
		for _, tc := range []struct{ accept, want string }{
			{"gzip, deflate, br, zstd", "zstd"},
			{"gzip, br", "gzip"},
			{"br", "br"},
			{"identity", ""},
		} {
			t.Run(string(proto)+"/"+tc.accept, func(t *testing.T) {
				req := newRequest(t, "GET", h.url("/items"), nil)
				req.Header.Set("Accept-Encoding", tc.accept)
				status, got, hdr := get(t, c, req)
				if status != 200 || hdr.Get("Content-Encoding") != tc.want || !strings.Contains(hdr.Get("Vary"), "Accept-Encoding") {
					t.Fatalf("GET with Accept-Encoding %q = %d, Content-Encoding %q, Vary %q; want 200, %q, Accept-Encoding",
						tc.accept, status, hdr.Get("Content-Encoding"), hdr.Get("Vary"), tc.want)
				}
				if tc.want != "" {
					r, err := decoders[tc.want](strings.NewReader(got))
					if err != nil {
						t.Fatal(err)
					}
					dec, err := io.ReadAll(r)
					if err != nil || string(dec) != body {
						t.Fatalf("%s body decodes to %d bytes (%v), want the backend's %d", tc.want, len(dec), err, len(body))
					}
					if hdr.Get("ETag") != `W/"v1"` {
						t.Errorf("ETag = %q, want the weakened W/\"v1\"", hdr.Get("ETag"))
					}
					cond := newRequest(t, "GET", h.url("/items"), nil)
					cond.Header.Set("Accept-Encoding", tc.accept)
					cond.Header.Set("If-None-Match", hdr.Get("ETag"))
					if status, _, _ := get(t, c, cond); status != 304 {
						t.Errorf("revalidation with the weak ETag = %d, want 304", status)
					}
				}
			})
		}
	}
}
