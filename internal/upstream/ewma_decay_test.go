package upstream

import (
	"math"
	"testing"
)

// TestDecayFactor checks that the cheap form of e^-x used for small x
// agrees with math.Exp on both sides of its threshold.
func TestDecayFactor(t *testing.T) {
	for _, x := range []float64{0, 1e-9, 1e-6, 1e-4, 1.0 / 4097, 1.0 / 4096, 0.01, 0.5, 1, 5, 50} {
		if got, want := decayFactor(x), math.Exp(-x); math.Abs(got-want) > 1e-10 {
			t.Errorf("decayFactor(%g) = %.15f, want %.15f", x, got, want)
		}
	}
}
