package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// serveDirect calls h for req with st in its context and returns the
// recorded response.
func serveDirect(h http.Handler, req *http.Request, st *middleware.State) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	if st != nil {
		req = req.WithContext(middleware.WithState(req.Context(), st))
	}
	h.ServeHTTP(rec, req)
	return rec
}

func TestRequestHeaders(t *testing.T) {
	be := newBackend(t, echo())
	plain := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
	fwdTarget := newTarget(t, config.Upstream{}, addr(be))
	fwdTarget.Forwarded = true
	withForwarded := New(fwdTarget, Options{}, nil)
	trustedPeer := middleware.State{PeerTrusted: true, Peer: netip.MustParseAddrPort("10.0.0.1:4321")}

	for _, tc := range []struct {
		name       string
		forwarded  bool
		st         middleware.State
		remoteAddr string
		host       string
		proto      string
		header     map[string]string
		// want maps a field to its expected value, all lines joined
		// with ", "; "" means absent.
		want     map[string]string
		wantHost string
	}{
		{
			name: "hop-by-hop fields and those named by Connection are removed",
			header: map[string]string{
				"Connection": "keep-alive, X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5",
				"Proxy-Connection": "keep-alive", "Proxy-Authorization": "Basic eDp5",
				"Te": "gzip", "Upgrade": "websocket", "Trailer": "X-T", "X-Keep": "yes",
				"Expect": "100-continue",
			},
			want: map[string]string{
				"Connection": "", "X-Hop": "", "Keep-Alive": "", "Proxy-Connection": "",
				"Proxy-Authorization": "", "Te": "", "Upgrade": "", "Trailer": "", "Expect": "",
				"X-Keep": "yes",
			},
		},
		{
			name:   "TE keeps only trailers",
			header: map[string]string{"Te": "deflate, trailers"},
			want:   map[string]string{"Te": "trailers"},
		},
		{
			name: "untrusted peer: spoofed forwarding fields are replaced",
			header: map[string]string{
				"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example",
				"X-Forwarded-Proto": "https", "Forwarded": "for=6.6.6.6",
			},
			want: map[string]string{
				"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Host": "app.example",
				"X-Forwarded-Proto": "http", "Forwarded": "",
			},
		},
		{
			name: "trusted peer: forwarding fields are kept and extended",
			st:   trustedPeer,
			header: map[string]string{
				"X-Forwarded-For": "6.6.6.6, 7.7.7.7", "X-Forwarded-Host": "edge.example",
				"X-Forwarded-Proto": "https",
			},
			want: map[string]string{
				"X-Forwarded-For": "6.6.6.6, 7.7.7.7, 10.0.0.1", "X-Forwarded-Host": "edge.example",
				"X-Forwarded-Proto": "https",
			},
		},
		{
			name: "trusted peer without forwarding fields",
			st:   trustedPeer,
			want: map[string]string{
				"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Host": "app.example", "X-Forwarded-Proto": "http",
			},
		},
		{
			name:      "Forwarded from an untrusted peer replaces the inbound one",
			forwarded: true,
			header:    map[string]string{"Forwarded": "for=6.6.6.6"},
			want:      map[string]string{"Forwarded": `for=192.0.2.1;host=app.example;proto=http`},
		},
		{
			name:      "Forwarded from a trusted peer is appended",
			forwarded: true,
			st:        trustedPeer,
			header:    map[string]string{"Forwarded": "for=192.0.2.60;proto=https"},
			want: map[string]string{
				"Forwarded": `for=192.0.2.60;proto=https, for=10.0.0.1;host=app.example;proto=http`,
			},
		},
		{
			name:       "Forwarded quotes IPv6 and a host with a port",
			forwarded:  true,
			remoteAddr: "[2001:db8::1]:443",
			host:       "app.example:8080",
			want: map[string]string{
				"Forwarded":       `for="[2001:db8::1]";host="app.example:8080";proto=http`,
				"X-Forwarded-For": "2001:db8::1",
			},
			wantHost: "app.example:8080",
		},
		{
			name:       "IPv4-mapped peer is written as IPv4",
			remoteAddr: "[::ffff:192.0.2.7]:80",
			want:       map[string]string{"X-Forwarded-For": "192.0.2.7"},
		},
		{
			name: "State peer wins over RemoteAddr",
			st:   middleware.State{Peer: netip.MustParseAddrPort("198.51.100.9:1000")},
			want: map[string]string{"X-Forwarded-For": "198.51.100.9"},
		},
		{
			name:   "Via is appended to the inbound one",
			header: map[string]string{"Via": "1.0 edge"},
			want:   map[string]string{"Via": "1.0 edge, 1.1 palisade"},
		},
		{
			name:  "Via names the client's protocol version",
			proto: "HTTP/1.0",
			want:  map[string]string{"Via": "1.0 palisade"},
		},
		{
			name:   "X-Request-Id comes from the State",
			st:     middleware.State{ID: "req-42"},
			header: map[string]string{"X-Request-Id": "spoofed"},
			want:   map[string]string{"X-Request-Id": "req-42"},
		},
		{
			name: "no User-Agent stays absent",
			want: map[string]string{"User-Agent": ""},
		},
		{
			name:   "User-Agent passes",
			header: map[string]string{"User-Agent": "curl/8"},
			want:   map[string]string{"User-Agent": "curl/8"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/path", nil)
			req.Host = "app.example"
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.remoteAddr != "" {
				req.RemoteAddr = tc.remoteAddr
			}
			if tc.proto != "" {
				req.Proto = tc.proto
				req.ProtoMajor, req.ProtoMinor, _ = http.ParseHTTPVersion(tc.proto)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			h := plain
			if tc.forwarded {
				h = withForwarded
			}
			st := tc.st
			rec := serveDirect(h, req, &st)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			s := decodeSeen(t, rec.Body)
			for k, want := range tc.want {
				if got := strings.Join(s.Header[k], ", "); got != want {
					t.Errorf("backend %s = %q, want %q", k, got, want)
				}
			}
			wantHost := tc.wantHost
			if wantHost == "" {
				wantHost = "app.example"
			}
			if s.Host != wantHost {
				t.Errorf("backend Host = %q, want %q", s.Host, wantHost)
			}
			// The inbound request is left as it was.
			for k, v := range tc.header {
				if got := req.Header.Get(k); got != v {
					t.Errorf("inbound %s changed to %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestResponseHeaders(t *testing.T) {
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Upgrade", "h2c")
		h.Set("Via", "1.1 backend")
		h.Set("X-Keep", "yes")
		w.Write([]byte("ok"))
	}))
	h := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
	rec := serveDirect(h, httptest.NewRequest("GET", "/", nil), nil)
	for k, want := range map[string]string{
		"Connection": "", "X-Hop": "", "Keep-Alive": "", "Proxy-Authenticate": "", "Upgrade": "",
		"Via": "1.1 backend, 1.1 palisade", "X-Keep": "yes", "Content-Length": "2",
	} {
		if got := strings.Join(rec.Header()[k], ", "); got != want {
			t.Errorf("response %s = %q, want %q", k, got, want)
		}
	}
}

// TestMatchesReverseProxy sends the same requests through our handler and
// through httputil.ReverseProxy with the equivalent Rewrite, and compares
// what the backend and the client see, apart from the fields only we add.
func TestMatchesReverseProxy(t *testing.T) {
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		w.Header().Set("Cache-Control", "no-cache")
		echo().ServeHTTP(w, r)
	}))
	ours := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
	rt := &http.Transport{DisableCompression: true}
	t.Cleanup(rt.CloseIdleConnections)
	target := &url.URL{Scheme: "http", Host: addr(be)}
	theirs := &httputil.ReverseProxy{Transport: rt, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
		pr.SetXForwarded()
	}}
	ignored := map[string]bool{"Via": true, "Date": true, "Content-Length": true}

	for _, tc := range []struct {
		name, method, target, body string
		header                     map[string]string
	}{
		{name: "plain GET", method: "GET", target: "/a/b?c=d"},
		{name: "hop-by-hop and spoofed forwarding", method: "GET", target: "/", header: map[string]string{
			"Connection": "X-Hop, keep-alive", "X-Hop": "1", "X-Forwarded-For": "6.6.6.6",
			"X-Forwarded-Host": "evil", "Te": "trailers, gzip", "Proxy-Authorization": "x",
			"Accept-Encoding": "br",
		}},
		{name: "POST with body", method: "POST", target: "/submit", body: "a=1&b=2",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results := make([]*httptest.ResponseRecorder, 2)
			for i, h := range []http.Handler{ours, theirs} {
				req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				req.Host = "app.example"
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				results[i] = serveDirect(h, req, &middleware.State{})
			}
			a, b := decodeSeen(t, results[0].Body), decodeSeen(t, results[1].Body)
			if a.URI != b.URI || a.Host != b.Host || a.Body != b.Body || a.Method != b.Method {
				t.Errorf("backend saw %s %s host %q body %q, ReverseProxy sent %s %s host %q body %q",
					a.Method, a.URI, a.Host, a.Body, b.Method, b.URI, b.Host, b.Body)
			}
			compareHeaders(t, "request", a.Header, b.Header, ignored)
			compareHeaders(t, "response", results[0].Header(), results[1].Header(), ignored)
		})
	}
}

func compareHeaders(t *testing.T, what string, ours, theirs http.Header, ignored map[string]bool) {
	t.Helper()
	for k := range ours {
		if !ignored[k] && strings.Join(ours[k], ", ") != strings.Join(theirs[k], ", ") {
			t.Errorf("%s %s = %q, ReverseProxy: %q", what, k, ours[k], theirs[k])
		}
	}
	for k := range theirs {
		if _, ok := ours[k]; !ok && !ignored[k] {
			t.Errorf("%s %s missing, ReverseProxy: %q", what, k, theirs[k])
		}
	}
}
