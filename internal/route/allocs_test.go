//go:build !race

// The allocation checks run without the race detector (scripts/test runs
// them so): under it sync.Pool drops items at random, so regexp's pooled
// matchers allocate.

package route

import "testing"

// TestLookupAllocs guards the hot-path rule: matching allocates nothing.
func TestLookupAllocs(t *testing.T) {
	tbl := mustBuild(t, benchSpecs())
	for _, bc := range benchRequests() {
		t.Run(bc.name, func(t *testing.T) {
			r := bc.req.build()
			if got := lookupName(t, tbl, r); got != bc.want {
				t.Fatalf("Lookup(%s %q %q) = %q, want %q", r.Method, r.Host, r.URL, got, bc.want)
			}
			if n := testing.AllocsPerRun(100, func() { tbl.Lookup(r) }); n != 0 {
				t.Errorf("Lookup(%s %q %q) allocates %v times per run, want 0", r.Method, r.Host, r.URL, n)
			}
		})
	}
}
