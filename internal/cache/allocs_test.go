//go:build !race

// The allocation checks run without the race detector, as in the other
// packages: go test -run Allocs.

package cache

import (
	"net/http"
	"testing"
	"time"
)

// TestParseCacheControlAllocs guards the hit path: the directives of a
// typical response parse without allocating.
func TestParseCacheControlAllocs(t *testing.T) {
	for _, fields := range [][]string{
		{"public, max-age=60"},
		{"max-age=60", "must-revalidate, stale-while-revalidate=30"},
		{`no-cache, s-maxage="10", x-ext="a, b"`},
	} {
		if n := testing.AllocsPerRun(100, func() { parseCacheControl(fields) }); n != 0 {
			t.Errorf("parseCacheControl(%q) allocates %v times per run, want 0", fields, n)
		}
	}
}

// TestFreshnessAllocs guards the hit path: judging freshness and age reads
// the stored header without allocating.
func TestFreshnessAllocs(t *testing.T) {
	h := http.Header{
		"Date":          {httpDate(t0)},
		"Expires":       {httpDate(t0.Add(time.Hour))},
		"Last-Modified": {httpDate(t0.Add(-time.Hour))},
		"Age":           {"5"},
	}
	d := noDirectives()
	if n := testing.AllocsPerRun(100, func() { freshnessLifetime(d, h, t0, 0.1, time.Hour) }); n != 0 {
		t.Errorf("freshnessLifetime allocates %v times per run, want 0", n)
	}
	delete(h, "Expires")
	if n := testing.AllocsPerRun(100, func() { freshnessLifetime(d, h, t0, 0.1, time.Hour) }); n != 0 {
		t.Errorf("freshnessLifetime (heuristic) allocates %v times per run, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { currentAge(h, t0, t0, t0.Add(time.Minute)) }); n != 0 {
		t.Errorf("currentAge allocates %v times per run, want 0", n)
	}
}

// TestCacheStatusAllocs guards the hit path: the Cache-Status field is
// appended to a caller's buffer without allocating.
func TestCacheStatusAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	s := cacheStatus{hit: true, ttl: 30 * time.Second, hasTTL: true, key: "GET http://a/b"}
	if n := testing.AllocsPerRun(100, func() { buf = s.appendTo(buf[:0], "Palisade") }); n != 0 {
		t.Errorf("cacheStatus.appendTo allocates %v times per run, want 0", n)
	}
}

// TestTargetedAllocs guards the fill path: a targeted field without
// qualified field names parses without allocating.
func TestTargetedAllocs(t *testing.T) {
	h := http.Header{"Palisade-Cache-Control": {"max-age=60, stale-while-revalidate=30"}, "Cache-Control": {"max-age=10"}}
	if n := testing.AllocsPerRun(100, func() { targetedDirectives(h, "Palisade-Cache-Control", true) }); n != 0 {
		t.Errorf("targetedDirectives allocates %v times per run, want 0", n)
	}
}
