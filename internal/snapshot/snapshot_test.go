package snapshot

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
	"palisade/internal/obs"
	"palisade/internal/proxy"
	"palisade/internal/server"
	"palisade/internal/testenv"
	"palisade/internal/upstream"
)

// fullConfig has two listeners, a route restricted to one of them, a route
// with compression and two upstreams with different transports.
const fullConfig = `listeners:
  - name: web
    address: 127.0.0.1:8081
  - name: admin
    address: 127.0.0.1:8082
    trusted_proxies: [10.0.0.0/8]
routes:
  - name: api
    match: {host: api.example.com, path_prefix: /v1/}
    upstream: api
  - name: internal
    listeners: [admin]
    match: {path_prefix: /internal/}
    upstream: app
  - name: all
    match: {path_prefix: /}
    middlewares:
      - {kind: compress}
    upstream: app
upstreams:
  - name: app
    backends: [{address: 127.0.0.1:9001, weight: 3}, {address: 127.0.0.1:9002}]
  - name: api
    protocol: h2c
    timeouts: {connect: 2s}
    backends: [{address: 127.0.0.1:9003}]
`

func parse(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("palisade.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("config.Parse:\n%v", err)
	}
	return cfg
}

// testDeps builds Deps as cmd/palisade's validate does, over reg. It records
// the keys the build asked transports for and returns the transports it
// made, all closed when the test ends.
type testDeps struct {
	t    *testing.T
	reg  *testPools
	mu   sync.Mutex
	made map[string][]proxy.Transport
	// failTransport makes Transport fail for the upstream of that name.
	failTransport string
}

// testPools keeps pools by upstream name, as the gateway's set does.
type testPools struct {
	mu    sync.Mutex
	pools map[string]*upstream.Pool
}

func newTestPools() *testPools { return &testPools{pools: make(map[string]*upstream.Pool)} }

func (tp *testPools) pool(name string) (*upstream.Pool, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	p := tp.pools[name]
	if p == nil {
		p = upstream.NewPool(name, nil)
		tp.pools[name] = p
	}
	return p, nil
}

// Backend returns the committed backend of upstreamName at addr, or nil.
func (tp *testPools) Backend(upstreamName, addr string) *upstream.Backend {
	p, _ := tp.pool(upstreamName)
	for _, b := range append(slices.Clone(p.Primaries()), p.Backups()...) {
		if b.Addr == addr {
			return b
		}
	}
	return nil
}

// backendsOf returns every backend s's plans give their pools, in
// upstream then config order.
func backendsOf(s *Snapshot) []*upstream.Backend {
	var out []*upstream.Backend
	for _, name := range slices.Sorted(maps.Keys(s.Upstreams)) {
		out = append(out, s.Upstreams[name].plan.Backends()...)
	}
	return out
}

func newTestDeps(t *testing.T, reg *testPools) *testDeps {
	if reg == nil {
		reg = newTestPools()
	}
	return &testDeps{t: t, reg: reg, made: make(map[string][]proxy.Transport)}
}

func (d *testDeps) deps() Deps {
	return Deps{
		Log:    slog.New(slog.DiscardHandler),
		Pool:   d.reg.pool,
		Policy: NewPolicy,
		Transport: func(key string, u config.Upstream) (proxy.Transport, error) {
			if u.Name == d.failTransport {
				return nil, errors.New("no transport for you")
			}
			tr, err := proxy.NewTransport(u, slog.New(slog.DiscardHandler))
			if err != nil {
				return nil, err
			}
			d.t.Cleanup(func() { tr.Close() })
			d.mu.Lock()
			d.made[key] = append(d.made[key], tr)
			d.mu.Unlock()
			return tr, nil
		},
		AccessLog: func(config.AccessLog) (*obs.AccessLog, error) { return nil, nil },
	}
}

func build(t *testing.T, cfg *config.Config, d *testDeps) *Snapshot {
	t.Helper()
	s, err := Build(cfg, d.deps())
	if err != nil {
		t.Fatalf("Build:\n%v", err)
	}
	return s
}

func TestBuildListeners(t *testing.T) {
	cfg := parse(t, fullConfig)
	s := build(t, cfg, newTestDeps(t, nil))

	if s.Config != cfg {
		t.Errorf("Snapshot.Config = %p, want the built config %p", s.Config, cfg)
	}
	if s.AccessLog != nil {
		t.Errorf("Snapshot.AccessLog = %v, want nil (AccessLog dep returned nil)", s.AccessLog)
	}
	if got, want := len(s.Listeners), 2; got != want {
		t.Fatalf("len(Listeners) = %d, want %d", got, want)
	}
	for i, lc := range cfg.Listeners {
		l := s.Listeners[lc.Address]
		if l == nil {
			t.Errorf("Listeners[%q] missing", lc.Address)
			continue
		}
		if l.Name != lc.Name || l.Address != lc.Address {
			t.Errorf("Listeners[%q] = {Name: %q, Address: %q}, want {%q, %q}", lc.Address, l.Name, l.Address, lc.Name, lc.Address)
		}
		if l.Snapshot != s {
			t.Errorf("Listeners[%q].Snapshot = %p, want the snapshot %p", lc.Address, l.Snapshot, s)
		}
		if l.Table == nil {
			t.Errorf("Listeners[%q].Table = nil", lc.Address)
		}
		if want := server.OptionsFrom(cfg.Listeners[i]); l.Options != want {
			t.Errorf("Listeners[%q].Options = %+v, want %+v", lc.Address, l.Options, want)
		}
	}
	if got, want := s.Listeners["127.0.0.1:8082"].Trusted, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}; !slices.Equal(got, want) {
		t.Errorf("Listeners[admin].Trusted = %v, want %v", got, want)
	}
	if got := s.Listeners["127.0.0.1:8081"].Trusted; len(got) != 0 {
		t.Errorf("Listeners[web].Trusted = %v, want none", got)
	}
}

func TestBuildRouteTables(t *testing.T) {
	s := build(t, parse(t, fullConfig), newTestDeps(t, nil))
	for _, tc := range []struct {
		name     string
		listener string
		host     string
		path     string
		want     string // route name; "" for no match
	}{
		{"api host and prefix on web", "127.0.0.1:8081", "api.example.com", "/v1/users", "api"},
		{"api host and prefix on admin", "127.0.0.1:8082", "api.example.com", "/v1/users", "api"},
		{"api host outside the prefix falls back", "127.0.0.1:8081", "api.example.com", "/v2/", "all"},
		{"other host under /v1/", "127.0.0.1:8081", "www.example.com", "/v1/users", "all"},
		{"restricted route on its listener", "127.0.0.1:8082", "www.example.com", "/internal/stats", "internal"},
		{"restricted route absent elsewhere", "127.0.0.1:8081", "www.example.com", "/internal/stats", "all"},
		{"catch-all on web", "127.0.0.1:8081", "example.com", "/", "all"},
		{"catch-all on admin", "127.0.0.1:8082", "example.com", "/index.html", "all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := s.Listeners[tc.listener]
			if l == nil {
				t.Fatalf("no listener %q", tc.listener)
			}
			r := httptest.NewRequest(http.MethodGet, "http://"+tc.host+tc.path, nil)
			got := ""
			if rt, ok := l.Table.Lookup(r); ok {
				got = rt.Name
				if rt.Handler == nil {
					t.Errorf("Lookup(%q, %q) on %s: route %q has no handler", tc.host, tc.path, tc.listener, rt.Name)
				}
			}
			if got != tc.want {
				t.Errorf("Lookup(%q, %q) on %s = %q, want %q", tc.host, tc.path, tc.listener, got, tc.want)
			}
		})
	}
}

func TestBuildRouteWhere(t *testing.T) {
	s := build(t, parse(t, fullConfig), newTestDeps(t, nil))
	r := httptest.NewRequest(http.MethodGet, "http://example.com/internal/x", nil)
	rt, ok := s.Listeners["127.0.0.1:8082"].Table.Lookup(r)
	if !ok {
		t.Fatalf("Lookup(/internal/x) on admin found no route")
	}
	// routes[1] starts at line 11, column 5 of fullConfig.
	if want := "palisade.yaml:11:5"; rt.Where != want {
		t.Errorf("route %q Where = %q, want %q", rt.Name, rt.Where, want)
	}
}

func TestBuildSharesBackends(t *testing.T) {
	reg := newTestPools()
	first := build(t, parse(t, fullConfig), newTestDeps(t, reg))
	first.Commit()
	if got, want := len(backendsOf(first)), 3; got != want {
		t.Fatalf("len(Backends) = %d, want %d", got, want)
	}
	type id struct{ upstream, addr string }
	byID := make(map[id]*upstream.Backend)
	for _, b := range backendsOf(first) {
		byID[id{b.Upstream, b.Addr}] = b
		if got := reg.Backend(b.Upstream, b.Addr); got != b {
			t.Errorf("Backends has %s/%s = %p, registry holds %p; want the registry's", b.Upstream, b.Addr, b, got)
		}
	}
	if b := byID[id{"app", "127.0.0.1:9001"}]; b == nil || b.Weight() != 3 {
		t.Errorf("backend app/127.0.0.1:9001 = %v, want weight 3", b)
	}
	if b := byID[id{"app", "127.0.0.1:9002"}]; b == nil || b.Weight() != 1 {
		t.Errorf("backend app/127.0.0.1:9002 = %v, want weight 1", b)
	}

	// A second build (a reload) with the same registry: the same upstream
	// and address give the same Backend, so its live state carries over;
	// a new address gives a new one.
	reloaded := strings.Replace(fullConfig, "{address: 127.0.0.1:9002}", "{address: 127.0.0.1:9004}", 1)
	second := build(t, parse(t, reloaded), newTestDeps(t, reg))
	for _, b := range backendsOf(second) {
		prev, had := byID[id{b.Upstream, b.Addr}]
		switch {
		case had && prev != b:
			t.Errorf("second build: backend %s/%s = %p, want the first build's %p", b.Upstream, b.Addr, b, prev)
		case !had && b.Addr != "127.0.0.1:9004":
			t.Errorf("second build: unexpected backend %s/%s", b.Upstream, b.Addr)
		}
	}

	// A separate registry shares nothing.
	other := build(t, parse(t, fullConfig), newTestDeps(t, nil))
	for _, b := range backendsOf(other) {
		if byID[id{b.Upstream, b.Addr}] == b {
			t.Errorf("build with another registry: backend %s/%s shared with the first", b.Upstream, b.Addr)
		}
	}
}

func TestBuildTransports(t *testing.T) {
	cfg := parse(t, fullConfig)
	d := newTestDeps(t, nil)
	s := build(t, cfg, d)
	if got, want := len(s.Transports), len(cfg.Upstreams); got != want {
		t.Errorf("len(Transports) = %d, want %d", got, want)
	}
	for _, u := range cfg.Upstreams {
		key := TransportKey(u)
		made := d.made[key]
		if len(made) != 1 {
			t.Errorf("Transport(%q) called %d times, want once", key, len(made))
			continue
		}
		if got := s.Transports[key]; got != made[0] {
			t.Errorf("Transports[%q] = %T %p, want the transport Deps returned %p", key, got, got, made[0])
		}
	}
	if _, ok := s.Transports[TransportKey(cfg.Upstreams[1])].(*proxy.H2Transport); !ok {
		t.Errorf("Transports[api] = %T, want *proxy.H2Transport for protocol h2c", s.Transports[TransportKey(cfg.Upstreams[1])])
	}
}

func TestTransportKey(t *testing.T) {
	http1 := parse(t, fullConfig).Upstreams[0]
	h2c := http1
	h2c.Protocol = "h2c"
	// The HTTP/1.1 transport takes new timeouts and pool sizes in place
	// (Reconfigure); http.Transport, for h2c, cannot.
	for _, tc := range []struct {
		name     string
		base     config.Upstream
		edit     func(u *config.Upstream)
		wantSame bool
	}{
		{"unchanged", http1, func(u *config.Upstream) {}, true},
		{"backends changed", http1, func(u *config.Upstream) { u.Backends = nil }, true},
		{"policy changed", http1, func(u *config.Upstream) { u.Policy = "other" }, true},
		{"name changed", http1, func(u *config.Upstream) { u.Name = "other" }, false},
		{"protocol changed", http1, func(u *config.Upstream) { u.Protocol = "h2c" }, false},
		{"http1 connect timeout changed", http1, func(u *config.Upstream) { u.Timeouts.Connect++ }, true},
		{"http1 response header timeout changed", http1, func(u *config.Upstream) { u.Timeouts.ResponseHeader++ }, true},
		{"http1 read timeout changed", http1, func(u *config.Upstream) { u.Timeouts.Read++ }, true},
		{"http1 write timeout changed", http1, func(u *config.Upstream) { u.Timeouts.Write++ }, true},
		{"http1 idle timeout changed", http1, func(u *config.Upstream) { u.Timeouts.Idle++ }, true},
		{"http1 idle pool size changed", http1, func(u *config.Upstream) { u.MaxIdleConns++ }, true},
		{"h2c connect timeout changed", h2c, func(u *config.Upstream) { u.Timeouts.Connect++ }, false},
		{"h2c response header timeout changed", h2c, func(u *config.Upstream) { u.Timeouts.ResponseHeader++ }, false},
		{"h2c read timeout changed", h2c, func(u *config.Upstream) { u.Timeouts.Read++ }, false},
		{"h2c write timeout changed", h2c, func(u *config.Upstream) { u.Timeouts.Write++ }, false},
		{"h2c idle timeout changed", h2c, func(u *config.Upstream) { u.Timeouts.Idle++ }, false},
		{"h2c idle pool size changed", h2c, func(u *config.Upstream) { u.MaxIdleConns++ }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			u := base
			u.Backends = slices.Clone(base.Backends)
			tc.edit(&u)
			if got := TransportKey(u) == TransportKey(base); got != tc.wantSame {
				t.Errorf("TransportKey(%s) == TransportKey(base) is %v, want %v (%q vs %q)", tc.name, got, tc.wantSame, TransportKey(u), TransportKey(base))
			}
		})
	}
}

// conflictConfig has routes a and b with the same match; b starts at line
// 10, column 5, and a at line 7, column 5. listenersB is b's listeners key.
func conflictConfig(listenersB string) string {
	return `listeners:
  - name: web
    address: 127.0.0.1:8081
  - name: alt
    address: 127.0.0.1:8082
routes:
  - name: a
    match: {path_prefix: /api/}
    upstream: app
  - name: b
    match: {path_prefix: /api/}` + listenersB + `
    upstream: app
upstreams:
  - name: app
    backends: [{address: 127.0.0.1:9001}]
`
}

func TestBuildConflict(t *testing.T) {
	const want = `palisade.yaml:10:5: routes[1]: conflicts with route "a" (palisade.yaml:7:5): both match `
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"both routes on both listeners", conflictConfig("")},
		{"later route on one listener", conflictConfig("\n    listeners: [alt]")},
		// Comments keep the lines of the listener they replace.
		{"one listener", strings.Replace(conflictConfig(""), "  - name: alt\n    address: 127.0.0.1:8082\n", "  # one listener\n  # only\n", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parse(t, tc.doc)
			s, err := Build(cfg, newTestDeps(t, nil).deps())
			if s != nil {
				t.Errorf("Build(conflicting routes) returned a snapshot, want nil")
			}
			var diags config.Diagnostics
			if !errors.As(err, &diags) {
				t.Fatalf("Build(conflicting routes) error = %v (%T), want config.Diagnostics", err, err)
			}
			if len(diags) != 1 {
				t.Fatalf("Build(conflicting routes) = %d diagnostics, want 1:\n%v", len(diags), diags)
			}
			d := diags[0]
			if got := d.String(); !strings.HasPrefix(got, want) || !strings.Contains(got, `path prefix "/api/"`) {
				t.Errorf("diagnostic = %q, want it to start with %q and name the shared path prefix", got, want)
			}
			if d.Path != "routes[1]" || d.Pos != (config.Pos{Line: 10, Col: 5}) || d.File != "palisade.yaml" {
				t.Errorf("diagnostic at %s %v %q, want palisade.yaml {10 5} routes[1]", d.File, d.Pos, d.Path)
			}
			if d.Hint == "" {
				t.Errorf("diagnostic %q has no hint", d.String())
			}
		})
	}
}

func TestBuildConflictOnlyWhereRoutesMeet(t *testing.T) {
	// a only on web and b only on alt never share a table.
	doc := strings.Replace(conflictConfig("\n    listeners: [alt]"), "  - name: a\n", "  - name: a\n    listeners: [web]\n", 1)
	s := build(t, parse(t, doc), newTestDeps(t, nil))
	for addr, want := range map[string]string{"127.0.0.1:8081": "a", "127.0.0.1:8082": "b"} {
		rt, ok := s.Listeners[addr].Table.Lookup(httptest.NewRequest(http.MethodGet, "http://x/api/", nil))
		if !ok || rt.Name != want {
			t.Errorf("Lookup(/api/) on %s = %v, want route %q", addr, rt, want)
		}
	}
}

func TestBuildSeveralConflicts(t *testing.T) {
	doc := conflictConfig("") + ""
	doc = strings.Replace(doc, "upstreams:\n", "  - name: c\n    match: {path_prefix: /api/}\n    upstream: app\nupstreams:\n", 1)
	_, err := Build(parse(t, doc), newTestDeps(t, nil).deps())
	var diags config.Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("Build error = %v, want config.Diagnostics", err)
	}
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%d:%d %s %s", d.Pos.Line, d.Pos.Col, d.Path, d.Message[:strings.Index(d.Message, ":")]))
	}
	want := []string{
		`10:5 routes[1] conflicts with route "a" (palisade.yaml`,
		`13:5 routes[2] conflicts with route "a" (palisade.yaml`,
		`13:5 routes[2] conflicts with route "b" (palisade.yaml`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("diagnostics =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBuildTransportFailure(t *testing.T) {
	d := newTestDeps(t, nil)
	d.failTransport = "api"
	s, err := Build(parse(t, fullConfig), d.deps())
	if s != nil {
		t.Errorf("Build with a failing transport returned a snapshot, want nil")
	}
	var diags config.Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("Build error = %v, want config.Diagnostics", err)
	}
	// The route using the upstream is on both listeners but reported once.
	want := config.Diagnostics{
		{File: "palisade.yaml", Pos: config.Pos{Line: 8, Col: 5}, Path: "routes[0]", Message: `upstream "api" failed to build`},
		{File: "palisade.yaml", Pos: config.Pos{Line: 23, Col: 5}, Path: "upstreams[1]", Message: "no transport for you"},
	}
	if !slices.Equal(diags, want) {
		t.Errorf("Build error =\n%v\nwant\n%v", diags, want)
	}
}

func TestBuildAccessLogFailure(t *testing.T) {
	d := newTestDeps(t, nil)
	deps := d.deps()
	deps.AccessLog = func(config.AccessLog) (*obs.AccessLog, error) { return nil, errors.New("permission denied") }
	_, err := Build(parse(t, "access_log: {output: /nope/access.log}\n"+fullConfig), deps)
	if err == nil || !strings.Contains(err.Error(), "access_log.output: permission denied") {
		t.Errorf("Build with a failing access log = %v, want a diagnostic at access_log.output", err)
	}
}

func TestBuildCompress(t *testing.T) {
	body := bytes.Repeat([]byte("palisade compresses this line of text.\n"), 100)
	backend := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	}))
	addr := backend.Listener.Addr().String()
	doc := fmt.Sprintf(`listeners: [{name: web, address: "127.0.0.1:8081"}]
routes:
  - name: zipped
    match: {path_prefix: /zip/}
    middlewares: [{kind: compress, encodings: [gzip]}]
    upstream: app
  - name: plain
    match: {path_prefix: /}
    upstream: app
upstreams: [{name: app, backends: [{address: %q}]}]
`, addr)
	s := build(t, parse(t, doc), newTestDeps(t, nil))
	s.Commit()
	table := s.Listeners["127.0.0.1:8081"].Table
	front := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := table.Lookup(r)
		if !ok {
			http.NotFound(w, r)
			return
		}
		rt.Handler.ServeHTTP(w, r)
	}))
	client := testenv.Client(t, testenv.H1)

	for _, tc := range []struct {
		name         string
		path         string
		wantEncoding string
	}{
		{"route with compress", "/zip/a.txt", "gzip"},
		{"route without compress", "/a.txt", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, front.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", tc.path, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tc.path, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantEncoding {
				t.Errorf("GET %s: Content-Encoding = %q, want %q", tc.path, got, tc.wantEncoding)
			}
			var r io.Reader = resp.Body
			if tc.wantEncoding == "gzip" {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatalf("GET %s: gzip.NewReader: %v", tc.path, err)
				}
				r = zr
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("GET %s: reading body: %v", tc.path, err)
			}
			if !bytes.Equal(got, body) {
				t.Errorf("GET %s: body of %d bytes differs from the backend's %d", tc.path, len(got), len(body))
			}
		})
	}
}

// TestBuildCompressRouteRecordsClientClosed guards a bug: on a route with
// compress, the proxy hands WriteError compress's writer, so a client that
// went away was not recorded as 499 on the gateway's ResponseWriter and the
// access log showed 200.
func TestBuildCompressRouteRecordsClientClosed(t *testing.T) {
	backend := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	}))
	doc := fmt.Sprintf(`listeners: [{name: web, address: "127.0.0.1:8081"}]
routes:
  - name: zipped
    match: {path_prefix: /zip/}
    middlewares: [{kind: compress}]
    upstream: app
  - name: plain
    match: {path_prefix: /}
    upstream: app
upstreams: [{name: app, backends: [{address: %q}]}]
`, backend.Listener.Addr().String())
	s := build(t, parse(t, doc), newTestDeps(t, nil))
	s.Commit()
	table := s.Listeners["127.0.0.1:8081"].Table

	for _, path := range []string{"/plain", "/zip/a"} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the client is gone before the request is forwarded
			st := &middleware.State{ID: "id"}
			r := httptest.NewRequest(http.MethodGet, "http://example.com"+path, nil)
			r = r.WithContext(middleware.WithState(ctx, st))
			rt, ok := table.Lookup(r)
			if !ok {
				t.Fatalf("Lookup(%q) found no route", path)
			}
			var rw middleware.ResponseWriter
			rw.Reset(httptest.NewRecorder())
			rt.Handler.ServeHTTP(&rw, r)
			if got := rw.Status(); got != middleware.StatusClientClosed {
				t.Errorf("route %q, client gone: ResponseWriter.Status() = %d, want %d (State.Err %v)", rt.Name, got, middleware.StatusClientClosed, st.Err)
			}
		})
	}
}

// TestBuildFailureKeepsBackendWeights guards a bug: Build set the weights
// of the shared, live backends while compiling, so a reload that was
// rejected (here for a route conflict) still changed the weights the
// running snapshot balances with. Apply is a transaction: a failure changes
// nothing.
func TestBuildFailureKeepsBackendWeights(t *testing.T) {
	reg := newTestPools()
	first := build(t, parse(t, fullConfig), newTestDeps(t, reg))
	if live := reg.Backend("app", "127.0.0.1:9001"); live != nil {
		t.Fatalf("after the first build, before Commit: the pool already has backend %s", live.Addr)
	}
	live := first.Upstreams["app"].plan.Backends()[0]
	if got := live.Weight(); got != 1 {
		t.Fatalf("after the first build, before Commit: Weight() = %d, want 1 (untouched)", got)
	}
	first.Commit()
	live = reg.Backend("app", "127.0.0.1:9001")
	if got := live.Weight(); got != 3 {
		t.Fatalf("after the first Commit: Weight() = %d, want 3", got)
	}

	rejected := strings.Replace(fullConfig, "weight: 3", "weight: 7", 1)
	rejected = strings.Replace(rejected, "upstreams:\n", "  - name: dup\n    match: {path_prefix: /}\n    upstream: app\nupstreams:\n", 1)
	if _, err := Build(parse(t, rejected), newTestDeps(t, reg).deps()); err == nil {
		t.Fatalf("Build(conflicting routes) = nil error, want a conflict")
	}
	if got := live.Weight(); got != 3 {
		t.Errorf("after a rejected build with weight 7: live Weight() = %d, want 3 (unchanged)", got)
	}
}
