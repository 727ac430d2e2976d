//go:build !race

// The allocation checks run without the race detector, as in the other
// packages.

package httpsyntax

import "testing"

// TestSplitFieldAllocs guards the hot-path rule: splitting and checking a
// field line allocates nothing, its results being substrings of the line.
func TestSplitFieldAllocs(t *testing.T) {
	for _, line := range []string{"Content-Type: text/html", "x-a:", " folded", "X(A): a", "X-A: a\rb"} {
		if n := testing.AllocsPerRun(100, func() { SplitField(line) }); n != 0 {
			t.Errorf("SplitField(%q) allocates %v times per run, want 0", line, n)
		}
	}
}
