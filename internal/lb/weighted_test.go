package lb

import (
	"strings"
	"testing"

	"palisade/internal/upstream"
)

func TestRoundRobinSmoothWeighted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		down    string
		want    string
	}{
		{"nginx's example", []int{5, 1, 1}, "", "aabacaa" + "aabacaa"},
		{"two to one", []int{2, 1}, "", "aba" + "aba"},
		{"down backend skipped", []int{5, 1, 1}, "b", "aaacaa" + "aaacaa"},
		{"equal weights stay plain round robin", []int{1, 1, 1}, "", "abcabc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pool []*upstream.Backend
			for i, w := range tc.weights {
				b := upstream.NewBackend("u", string(rune('a'+i)))
				b.SetWeight(w)
				if b.Addr == tc.down {
					b.SetHealthy(false, "test")
				}
				pool = append(pool, b)
			}
			p := &RoundRobin{}
			var got strings.Builder
			for range len(tc.want) {
				got.WriteString(p.Pick(pool, 0).Addr)
			}
			if got.String() != tc.want {
				t.Errorf("picks = %s, want %s", got.String(), tc.want)
			}
		})
	}
}
