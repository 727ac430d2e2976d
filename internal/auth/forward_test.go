package auth

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
	"palisade/internal/testenv"
)

// authService is a loopback auth service whose answer depends on the
// original URI it is told about.
type authService struct {
	mu   sync.Mutex
	last http.Header
}

func (a *authService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.last = r.Header.Clone()
	a.mu.Unlock()
	switch uri := r.Header.Get("X-Forwarded-Uri"); {
	case strings.HasPrefix(uri, "/exchange"):
		w.Header().Set("Authorization", "Bearer internal-token")
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(uri, "/allow"):
		w.Header().Set("X-Auth-User", "alice")
		w.Header().Set("X-Auth-Groups", "admin")
		w.Header().Set("X-Not-Copied", "1")
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(uri, "/deny"):
		w.Header().Set("WWW-Authenticate", `Bearer realm="sso"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"login required"}`)
	case strings.HasPrefix(uri, "/redirect"):
		http.Redirect(w, r, "https://sso.example.com/login?rd="+uri, http.StatusFound)
	case strings.HasPrefix(uri, "/big"):
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, strings.Repeat("x", 100))
	case strings.HasPrefix(uri, "/conn"):
		w.Header().Set("Connection", "X-Internal-Hop, keep-alive")
		w.Header().Set("X-Internal-Hop", "auth-node-7")
		w.Header().Set("Proxy-Authenticate", `Basic realm="internal"`)
		w.WriteHeader(http.StatusForbidden)
	case strings.HasPrefix(uri, "/slow"):
		time.Sleep(300 * time.Millisecond)
	}
}

func (a *authService) lastHeader() http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func forwardConfig(url string) config.AuthForward {
	return config.AuthForward{
		URL: url, Timeout: config.Duration(100 * time.Millisecond),
		RequestHeaders:  []string{"Authorization", "Cookie"},
		ResponseHeaders: []string{"X-Auth-User", "X-Auth-Groups"},
		MaxBodySize:     64,
	}
}

func TestForward(t *testing.T) {
	as := &authService{}
	authSrv := testenv.Backend(t, as)
	srv, backend := front(t, config.Auth{Forward: ptr(forwardConfig(authSrv.URL + "/verify"))}, nil)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	t.Run("allows", func(t *testing.T) {
		status, body, _ := do(t, c, "POST", srv.URL+"/allow/x?y=1", map[string]string{
			"Authorization": "Bearer t", "Cookie": "s=1", "X-Auth-User": "mallory", "X-Other": "o",
			"X-Forwarded-Method": "DELETE",
		})
		if status != 200 || body != "backend" {
			t.Fatalf("allowed request = %d %q, want 200 from the backend", status, body)
		}
		got, _ := backend.last()
		for h, want := range map[string]string{"X-Auth-User": "alice", "X-Auth-Groups": "admin", "X-Not-Copied": "", "Authorization": "", "Cookie": "s=1", "X-Other": "o"} {
			if got.Get(h) != want {
				t.Errorf("backend got %s %q, want %q", h, got.Get(h), want)
			}
		}
		sub := as.lastHeader()
		for h, want := range map[string]string{
			"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/allow/x?y=1", "X-Forwarded-Host": srv.Listener.Addr().String(),
			"X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1", "Authorization": "Bearer t", "Cookie": "s=1", "X-Other": "",
		} {
			if sub.Get(h) != want {
				t.Errorf("auth service got %s %q, want %q", h, sub.Get(h), want)
			}
		}
	})
	for _, tc := range []struct {
		name, path string
		status     int
		header     map[string]string
		body       string
	}{
		{"denies", "/deny", 401, map[string]string{"WWW-Authenticate": `Bearer realm="sso"`, "Content-Type": "application/json", "X-Request-Id": "req-1"}, `{"error":"login required"}`},
		{"redirects", "/redirect/a", 302, map[string]string{"Location": "https://sso.example.com/login?rd=/redirect/a"}, ""},
		{"body cut at the bound", "/big", 403, nil, strings.Repeat("x", 64)},
		{"times out", "/slow", 503, map[string]string{"X-Request-Id": "req-1"}, "Service Unavailable\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := backend.last()
			status, body, hdr := do(t, c, "GET", srv.URL+tc.path, nil)
			if status != tc.status {
				t.Fatalf("GET %s = %d, want %d", tc.path, status, tc.status)
			}
			for h, want := range tc.header {
				if hdr.Get(h) != want {
					t.Errorf("response %s = %q, want %q", h, hdr.Get(h), want)
				}
			}
			if tc.body != "" && body != tc.body {
				t.Errorf("body = %q, want %q", body, tc.body)
			}
			if _, after := backend.last(); after != before {
				t.Errorf("refused request reached the backend")
			}
		})
	}
}

func TestForwardDown(t *testing.T) {
	log, logs := newLog()
	cfg := forwardConfig("http://" + testenv.ClosedAddr(t) + "/verify")
	srv, _ := front(t, config.Auth{Forward: &cfg}, log)
	for range 5 {
		if status, _, _ := do(t, srv.Client(), "GET", srv.URL+"/allow", nil); status != 503 {
			t.Fatalf("GET while the auth service is down = %d, want 503", status)
		}
	}
	if n := logs.count("auth service unreachable"); n != 1 {
		t.Errorf("unreachable logged %d times for 5 requests, want once", n)
	}
}

func BenchmarkForward(b *testing.B) {
	authSrv := testenv.Backend(b, &authService{})
	cfg := forwardConfig(authSrv.URL)
	cfg.Timeout = config.Duration(5 * time.Second)
	f, err := newForward(cfg, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	h := &forwardHandler{fwd: f, next: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	req, _ := http.NewRequest("GET", "http://example.com/allow", nil)
	req.RequestURI = "/allow"
	req.RemoteAddr = "127.0.0.1:1234"
	w := discardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
		if req.Header["X-Auth-User"] == nil {
			b.Fatal("refused")
		}
	}
}

// TestForwardUnderscoreSpellingRemoved guards the bug where a client's
// X_Auth_User passed beside the X-Auth-User copied from the auth service;
// CGI-style backends read both as HTTP_X_AUTH_USER.
func TestForwardUnderscoreSpellingRemoved(t *testing.T) {
	authSrv := testenv.Backend(t, &authService{})
	srv, backend := front(t, config.Auth{Forward: ptr(forwardConfig(authSrv.URL + "/verify"))}, nil)
	req, _ := http.NewRequest("GET", srv.URL+"/allow", nil)
	req.Header["X_Auth_User"] = []string{"mallory"}
	req.Header["x_auth-groups"] = []string{"root"}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /allow = %d, want 200", resp.StatusCode)
	}
	got, _ := backend.last()
	for name, v := range got {
		if (httpsyntax.EqualFoldUnderscore(name, "X-Auth-User") || httpsyntax.EqualFoldUnderscore(name, "X-Auth-Groups")) && strings.IndexByte(name, '_') >= 0 {
			t.Errorf("backend got the client's %s: %q", name, v)
		}
	}
	if got.Get("X-Auth-User") != "alice" {
		t.Errorf("backend got X-Auth-User %q, want alice", got.Get("X-Auth-User"))
	}
}

// TestForwardRelayDropsConnectionFields guards the bug where a refusal was
// relayed with the fields its Connection header named (RFC 9110 §7.6.1:
// they belong to the connection to the auth service) and with its
// Proxy-Authenticate, both of which a proxy must not pass on.
func TestForwardRelayDropsConnectionFields(t *testing.T) {
	authSrv := testenv.Backend(t, &authService{})
	srv, _ := front(t, config.Auth{Forward: ptr(forwardConfig(authSrv.URL + "/verify"))}, nil)
	status, _, hdr := do(t, srv.Client(), "GET", srv.URL+"/conn", nil)
	if status != 403 {
		t.Fatalf("GET /conn = %d, want the auth service's 403", status)
	}
	for _, name := range []string{"X-Internal-Hop", "Proxy-Authenticate"} {
		if v := hdr.Get(name); v != "" {
			t.Errorf("client got %s %q, want it dropped", name, v)
		}
	}
}

// TestForwardExchangedAuthorization guards the bug where an Authorization
// copied from the auth service's 2xx (response_headers: [Authorization], a
// token exchange) was deleted with the client's credentials right after.
func TestForwardExchangedAuthorization(t *testing.T) {
	authSrv := testenv.Backend(t, &authService{})
	cfg := forwardConfig(authSrv.URL + "/verify")
	cfg.ResponseHeaders = append(cfg.ResponseHeaders, "Authorization")
	srv, backend := front(t, config.Auth{Forward: &cfg}, nil)
	status, _, _ := do(t, srv.Client(), "GET", srv.URL+"/exchange", map[string]string{"Authorization": "Basic Y2xpZW50OnNlY3JldA=="})
	if status != 200 {
		t.Fatalf("GET /exchange = %d, want 200", status)
	}
	got, _ := backend.last()
	if v := got.Values("Authorization"); len(v) != 1 || v[0] != "Bearer internal-token" {
		t.Errorf("backend got Authorization %q, want only the auth service's [Bearer internal-token]", v)
	}
}
