package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkMiddlewareAllowed is the middleware's allowed path: the key
// from the client IP, a Take of a known key, the next handler.
func BenchmarkMiddlewareAllowed(b *testing.B) {
	for _, tc := range []struct{ name, headers string }{{"denied", "denied"}, {"always", "always"}} {
		b.Run("headers="+tc.name, func(b *testing.B) {
			cfg := config.RateLimit{Rate: config.Rate{Count: 1e9, Per: 1e9}, Key: config.StringList{"client_ip"}, Status: 429, Headers: tc.headers}
			mw, err := New(cfg, NewMemory(1000), "app", nil)
			if err != nil {
				b.Fatal(err)
			}
			h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r = r.WithContext(middleware.WithState(r.Context(), &middleware.State{ClientIP: netip.MustParseAddr("192.0.2.1")}))
			w := &nopWriter{h: make(http.Header)}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
