//go:build !race

// The allocation checks run without the race detector (scripts/test runs
// them so): under it sync.Pool drops a random share of Puts.

package compress

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"palisade/internal/config"
)

// TestWriterAllocs bounds the per-request cost of the middleware once the
// pools are warm: the Content-Encoding and Vary values. The handler's own
// three (two header values and the length's string) are counted too.
func TestWriterAllocs(t *testing.T) {
	mw, err := New(config.DefaultCompress(), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := jsonBody(16 << 10)
	h := mw(serveBody("application/json", body))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip, br, zstd")
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // warm the pools
	allocs := testing.AllocsPerRun(50, func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	})
	if allocs > 5 {
		t.Errorf("a compressed response allocates %v times, want at most 5", allocs)
	}
}

// TestChooserAllocs guards the cache's variant key: the negotiation
// allocates nothing.
func TestChooserAllocs(t *testing.T) {
	choose := Chooser(config.DefaultCompress())
	if n := testing.AllocsPerRun(100, func() { choose("gzip, deflate, br, zstd") }); n != 0 {
		t.Errorf("Chooser(...)(ae) allocates %v times per run, want 0", n)
	}
}
