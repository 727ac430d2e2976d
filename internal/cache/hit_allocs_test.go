//go:build !race

package cache_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"palisade/internal/cache"
	"palisade/internal/cache/memstore"
	"palisade/internal/middleware"
)

// TestHitAllocs guards the hit path: a fresh hit from the memory store
// allocates once, for the Cache-Status value and its slice, whatever the
// body's size.
func TestHitAllocs(t *testing.T) {
	for _, size := range []int{1 << 10, 64 << 10} {
		body := strings.Repeat("x", size)
		origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=3600, stale-while-revalidate=60")
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("ETag", `"v1"`)
			w.Write([]byte(body))
		})
		store := memstore.New(64 << 20)
		defer store.Close()
		zone := cache.NewZone("z", store, 8<<20)
		mw, err := cache.New(defaultCacheConfig(t), zone, cache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h := mw(origin)
		req, _ := http.NewRequestWithContext(middleware.WithState(context.Background(), &middleware.State{}), "GET", "http://example.com/obj", nil)
		w := &hitWriter{h: make(http.Header)}
		h.ServeHTTP(w, req)
		n := testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, req)
		})
		if n > 1 || zone.Hits.Load() == 0 {
			t.Errorf("a hit of %d bytes allocates %v times, want at most 1 (%d hits)", size, n, zone.Hits.Load())
		}
	}
}
