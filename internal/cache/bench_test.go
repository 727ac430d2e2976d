package cache_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"palisade/internal/cache"
	"palisade/internal/cache/memstore"
	"palisade/internal/config"
	"palisade/internal/middleware"
)

// hitWriter is the cheapest ResponseWriter: it keeps its header map
// between requests and counts the body.
type hitWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *hitWriter) Header() http.Header         { return w.h }
func (w *hitWriter) WriteHeader(s int)           { w.status = s }
func (w *hitWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func defaultCacheConfig(t testing.TB) config.Cache {
	t.Helper()
	cfg, err := config.Parse("bench.yaml", []byte(`
listeners: [{name: web, address: "127.0.0.1:0"}]
cache_zones: [{name: z}]
routes: [{name: r, match: {path_prefix: /}, middlewares: [{kind: cache, zone: z}], upstream: u}]
upstreams: [{name: u, backends: [{address: "127.0.0.1:1"}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	return *cfg.Routes[0].Middlewares[0].Cache
}

// BenchmarkHit measures a fresh hit from the memory store: the middleware
// alone, no network, the writer reused.
func BenchmarkHit(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			body := strings.Repeat("x", size)
			origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=3600")
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("ETag", `"v1"`)
				w.Write([]byte(body))
			})
			store := memstore.New(64 << 20)
			defer store.Close()
			zone := cache.NewZone("z", store, 8<<20)
			mw, err := cache.New(defaultCacheConfig(b), zone, cache.Options{})
			if err != nil {
				b.Fatal(err)
			}
			h := mw(origin)
			st := &middleware.State{}
			req, _ := http.NewRequestWithContext(middleware.WithState(context.Background(), st), "GET", "http://example.com/obj?v=1", nil)
			req.Header.Set("Accept", "*/*")
			w := &hitWriter{h: make(http.Header)}
			h.ServeHTTP(w, req)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				w.n = 0
				h.ServeHTTP(w, req)
			}
			b.StopTimer()
			if w.status != 200 || w.n != size || zone.Hits.Load() == 0 {
				b.Fatalf("last response %d with %d bytes, %d hits; want hits of 200 with %d bytes", w.status, w.n, zone.Hits.Load(), size)
			}
		})
	}
}
