package proxy

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"palisade/internal/config"
	"palisade/internal/lb"
	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// fixedResponse is what the benchmark backend answers: 100 bytes of body.
var fixedResponse = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100)

// serveFixed answers every request on c (no bodies) with fixedResponse,
// parsing no more than it must, so that a benchmark measures the proxy and
// not a backend.
func serveFixed(c net.Conn, br *bufio.Reader) {
	resp := []byte(fixedResponse)
	for {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if bytes.Equal(line, []byte("\r\n")) {
				break
			}
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// stdTransport adapts http.Transport to Transport, for comparison.
type stdTransport struct{ rt *http.Transport }

func (s stdTransport) RoundTrip(req *http.Request, b *upstream.Backend) (*http.Response, error) {
	return s.rt.RoundTrip(req)
}
func (s stdTransport) CloseIdleConnections() { s.rt.CloseIdleConnections() }
func (s stdTransport) Close() error          { s.rt.CloseIdleConnections(); return nil }

// discardWriter is a reusable ResponseWriter that drops the body.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) Flush()                      {}

// benchRequest is a typical browser-ish GET.
func benchRequest(ctx context.Context) *http.Request {
	req := httptest.NewRequest("GET", "http://bench.example/api/v1/items?id=42", nil)
	req.Header.Set("User-Agent", "bench/1.0")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "gzip, br")
	req.RemoteAddr = "192.0.2.10:54321"
	return req.WithContext(ctx)
}

// BenchmarkForward measures one proxied GET of a 100-byte response, with
// the handler called directly (no client-facing server): our H1Transport,
// http.Transport behind our handler, and httputil.ReverseProxy over
// http.Transport as the baseline.
func BenchmarkForward(b *testing.B) {
	fb := newRawBackend(b, serveFixed)
	run := func(b *testing.B, h http.Handler, st *middleware.State) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if st != nil {
			ctx = middleware.WithState(ctx, st)
		}
		req := benchRequest(ctx)
		w := &discardWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			if st != nil {
				st.Attempts = 0
			}
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	}
	st := &middleware.State{ID: "0123456789abcdef"}
	b.Run("H1Transport", func(b *testing.B) {
		tg := newTarget(b, config.Upstream{}, fb.addr())
		run(b, New(tg, Options{}, nil), st)
	})
	b.Run("http.Transport", func(b *testing.B) {
		rt := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		defer rt.CloseIdleConnections()
		tg := &Target{Name: "test", Policy: &lb.RoundRobin{}, Transport: stdTransport{rt},
			Pool: testPool("test", fb.addr())}
		run(b, New(tg, Options{}, nil), st)
	})
	b.Run("ReverseProxy", func(b *testing.B) {
		rt := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		defer rt.CloseIdleConnections()
		target := &url.URL{Scheme: "http", Host: fb.addr()}
		rp := &httputil.ReverseProxy{Transport: rt, Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		}}
		run(b, rp, nil)
	})
}

// BenchmarkRequestHeader measures building the outbound request of a
// typical browser request: hop-by-hop fields dropped, forwarding fields
// replaced (untrusted peer), Via and the request ID added. Run:
//
//	go test ./internal/proxy/ -run '^$' -bench BenchmarkRequestHeader -benchmem
func BenchmarkRequestHeader(b *testing.B) {
	tr, err := NewTransport(config.Upstream{Name: "bench", Protocol: "http1", MaxIdleConns: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	h := New(&Target{Name: "bench", Transport: tr}, Options{}, slog.New(slog.DiscardHandler)).(*handler)
	r := httptest.NewRequest("GET", "http://app.example/v1/items?page=2", nil)
	r.RemoteAddr = "192.0.2.1:5555"
	for k, v := range map[string]string{
		"User-Agent": "Mozilla/5.0", "Accept": "text/html,application/json", "Accept-Encoding": "gzip, br, zstd",
		"Accept-Language": "en", "Cookie": "session=abc; theme=dark", "Connection": "keep-alive",
		"X-Forwarded-For": "203.0.113.9", "Referer": "https://app.example/",
	} {
		r.Header.Set(k, v)
	}
	st := &middleware.State{ID: "0123456789abcdef", Peer: netip.MustParseAddrPort("192.0.2.1:5555"), ClientIP: netip.MustParseAddr("192.0.2.1")}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		ex := h.getExchange(w, r, st)
		if err := ex.prepare(); err != nil {
			b.Fatal(err)
		}
		h.putExchange(ex)
	}
}
