package health

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/testenv"
	"palisade/internal/upstream"
)

// checkConfig returns a health check of type typ with config's defaults.
func checkConfig(typ string) config.HealthCheck {
	return config.HealthCheck{
		Type:         typ,
		Interval:     config.Duration(5 * time.Second),
		Timeout:      config.Duration(2 * time.Second),
		Rise:         2,
		Fall:         3,
		Jitter:       0.1,
		Path:         "/",
		Method:       "GET",
		ExpectStatus: []string{"200-399"},
	}
}

// backendAt returns a backend of a pool named app at addr.
func backendAt(t *testing.T, addr string) *upstream.Backend {
	t.Helper()
	p := upstream.NewPool("app", slog.New(slog.DiscardHandler))
	p.Plan(upstream.Settings{}, []upstream.Member{{Addr: addr, Weight: 1}}).Commit()
	return p.Primaries()[0]
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// reason returns err's text, "" for nil: the verdict as the log shows it.
func reason(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mustHTTPProbe(t *testing.T, cfg config.HealthCheck) *HTTPProbe {
	t.Helper()
	p, err := NewHTTPProbe(cfg)
	if err != nil {
		t.Fatalf("NewHTTPProbe: %v", err)
	}
	return p
}

func TestHTTPProbeStatus(t *testing.T) {
	var elsewhere atomic.Int32
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/elsewhere":
			elsewhere.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
			w.WriteHeader(code)
		}
	}))
	b := backendAt(t, srv.Listener.Addr().String())
	for _, tc := range []struct {
		name   string
		path   string
		expect []string
		want   string
	}{
		{"200 in the default range", "/200", nil, ""},
		{"399 in the default range", "/399", nil, ""},
		{"503 outside the default range", "/503", nil, "status 503"},
		{"404 outside the default range", "/404", nil, "status 404"},
		{"exact code", "/204", []string{"204"}, ""},
		{"exact code mismatch", "/200", []string{"204"}, "status 200"},
		{"second of two ranges", "/404", []string{"200-299", "404"}, ""},
		{"redirect judged, not followed", "/redirect", nil, ""},
		{"redirect outside the expected statuses", "/redirect", []string{"200"}, "status 302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig("http")
			cfg.Path = tc.path
			if tc.expect != nil {
				cfg.ExpectStatus = tc.expect
			}
			if got := reason(mustHTTPProbe(t, cfg).Probe(t.Context(), b)); got != tc.want {
				t.Errorf("Probe(GET %s) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect's target was requested %d times, want 0: probes must not follow redirects", n)
	}
}

func TestHTTPProbeBody(t *testing.T) {
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"status": "ok"}`))
		case "/late":
			// The word comes after the first 64 KiB.
			w.Write([]byte(strings.Repeat("x", maxBody) + "ok"))
		case "/edge":
			// The word ends at the 64 KiB bound.
			w.Write([]byte(strings.Repeat("x", maxBody-2) + "ok" + strings.Repeat("y", 1000)))
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("ok"))
		default:
			w.Write([]byte("starting"))
		}
	}))
	b := backendAt(t, srv.Listener.Addr().String())
	for _, tc := range []struct{ name, path, want string }{
		{"contains", "/ok", ""},
		{"does not contain", "/starting", `body does not contain "ok"`},
		{"past the first 64 KiB", "/late", `body does not contain "ok"`},
		{"at the end of the first 64 KiB", "/edge", ""},
		{"status checked first", "/fail", "status 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig("http")
			cfg.Path = tc.path
			cfg.ExpectBody = "ok"
			if got := reason(mustHTTPProbe(t, cfg).Probe(t.Context(), b)); got != tc.want {
				t.Errorf("Probe(GET %s) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

func TestHTTPProbeRequest(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Clone(context.Background())
	}))
	addr := srv.Listener.Addr().String()
	b := backendAt(t, addr)

	t.Run("defaults", func(t *testing.T) {
		if err := mustHTTPProbe(t, checkConfig("http")).Probe(t.Context(), b); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		r := <-got
		if r.Method != "GET" || r.URL.Path != "/" || r.Host != addr {
			t.Errorf("request %s %s Host %q, want GET / Host %q (the backend's address)", r.Method, r.URL.Path, r.Host, addr)
		}
		if r.Proto != "HTTP/1.1" || !r.Close {
			t.Errorf("request %s, Close %v, want HTTP/1.1 with Connection: close", r.Proto, r.Close)
		}
		if ua := r.Header.Get("User-Agent"); ua != "palisade-health-check" {
			t.Errorf("User-Agent %q, want palisade-health-check", ua)
		}
		if ae := r.Header.Get("Accept-Encoding"); ae != "" {
			t.Errorf("Accept-Encoding %q, want none", ae)
		}
	})
	t.Run("configured", func(t *testing.T) {
		cfg := checkConfig("http")
		cfg.Method = "HEAD"
		cfg.Path = "/healthz?deep=1"
		cfg.Host = "app.internal"
		cfg.Headers = map[string]string{"X-Check": "palisade", "authorization": "Bearer t"}
		if err := mustHTTPProbe(t, cfg).Probe(t.Context(), b); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		r := <-got
		if r.Method != "HEAD" || r.URL.Path != "/healthz" || r.URL.RawQuery != "deep=1" || r.Host != "app.internal" {
			t.Errorf("request %s %s Host %q, want HEAD /healthz?deep=1 Host app.internal", r.Method, r.URL.RequestURI(), r.Host)
		}
		if v := r.Header.Get("X-Check"); v != "palisade" {
			t.Errorf("X-Check %q, want palisade", v)
		}
		if v := r.Header.Get("Authorization"); v != "Bearer t" {
			t.Errorf("Authorization %q, want %q", v, "Bearer t")
		}
	})
	t.Run("host in headers", func(t *testing.T) {
		cfg := checkConfig("http")
		cfg.Headers = map[string]string{"Host": "from-headers.internal"}
		if err := mustHTTPProbe(t, cfg).Probe(t.Context(), b); err != nil {
			t.Fatalf("Probe: %v", err)
		}
		if r := <-got; r.Host != "from-headers.internal" {
			t.Errorf("Host %q, want from-headers.internal", r.Host)
		}
	})
	t.Run("port overrides the backend's", func(t *testing.T) {
		cfg := checkConfig("http")
		cfg.Port = port(t, addr)
		off := backendAt(t, closedAddr(t))
		if err := mustHTTPProbe(t, cfg).Probe(t.Context(), off); err != nil {
			t.Fatalf("Probe(%s with port %d): %v", off.Addr, cfg.Port, err)
		}
		if r := <-got; r.Host != off.Addr {
			t.Errorf("Host %q, want the backend's address %q", r.Host, off.Addr)
		}
	})
}

func TestHTTPProbeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release) // before srv.Close, which waits for the handlers
	b := backendAt(t, srv.Listener.Addr().String())
	for _, path := range []string{"/head", "/body"} {
		cfg := checkConfig("http")
		cfg.Timeout = config.Duration(100 * time.Millisecond)
		cfg.Path = path
		cfg.ExpectBody = "ok"
		start := time.Now()
		err := mustHTTPProbe(t, cfg).Probe(t.Context(), b)
		if got, want := reason(err), "timeout after 100ms"; got != want {
			t.Errorf("Probe(GET %s) of a backend that never answers = %q, want %q", path, got, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Probe(GET %s) took %v, want about the 100ms timeout", path, d)
		}
	}
}

func TestHTTPProbeRefused(t *testing.T) {
	b := backendAt(t, closedAddr(t))
	err := mustHTTPProbe(t, checkConfig("http")).Probe(t.Context(), b)
	if got, want := reason(err), "connect: connection refused"; got != want {
		t.Errorf("Probe(closed port) = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Probe(closed port) = %v, which does not wrap ECONNREFUSED", err)
	}
}

func TestHTTPProbeConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expect []string
	}{
		{"none", []string{}},
		{"not a status", []string{"2xx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig("http")
			cfg.ExpectStatus = tc.expect
			if _, err := NewHTTPProbe(cfg); err == nil {
				t.Errorf("NewHTTPProbe(expect_status %q) succeeded, want an error", tc.expect)
			}
		})
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	open := l.Addr().String()
	closed := closedAddr(t)
	for _, tc := range []struct {
		name, addr string
		port       int
		want       string
	}{
		{"open port", open, 0, ""},
		{"closed port", closed, 0, "connect: connection refused"},
		{"port overrides a closed one", closed, port(t, open), ""},
		{"port overrides an open one", open, port(t, closed), "connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig("tcp")
			cfg.Port = tc.port
			if got := reason(NewTCPProbe(cfg).Probe(t.Context(), backendAt(t, tc.addr))); got != tc.want {
				t.Errorf("Probe(%s, port %d) = %q, want %q", tc.addr, tc.port, got, tc.want)
			}
		})
	}
}

func TestNewProbe(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		want string
	}{
		{"http", "*health.HTTPProbe"},
		{"tcp", "*health.TCPProbe"},
		{"grpc", "*health.GRPCProbe"},
	} {
		p, err := NewProbe(checkConfig(tc.typ))
		if err != nil {
			t.Errorf("NewProbe(type %s): %v", tc.typ, err)
			continue
		}
		if got := typeName(p); got != tc.want {
			t.Errorf("NewProbe(type %s) = %s, want %s", tc.typ, got, tc.want)
		}
	}
	if _, err := NewProbe(checkConfig("udp")); err == nil {
		t.Error("NewProbe(type udp) succeeded, want an error")
	}
}

func typeName(p Probe) string {
	switch p.(type) {
	case *HTTPProbe:
		return "*health.HTTPProbe"
	case *TCPProbe:
		return "*health.TCPProbe"
	case *GRPCProbe:
		return "*health.GRPCProbe"
	}
	return "unknown"
}
