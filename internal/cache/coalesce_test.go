package cache

import (
	"fmt"
	"hash/maphash"
	"testing"
	"testing/synctest"
	"time"
)

// TestUnstorableHints guards the negative hints that let a Range miss
// pass its range: they expire after unstorableTTL and stay bounded
// however many keys are marked.
func TestUnstorableHints(t *testing.T) {
	t.Run("expire", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var ft fillTable
			ft.seed = maphash.MakeSeed()
			ft.markUnstorable("k", time.Now())
			if !ft.unstorable("k", time.Now()) || ft.unstorable("other", time.Now()) {
				t.Fatal("unstorable(k) = false or unstorable(other) = true just after marking k, want true and false")
			}
			time.Sleep(unstorableTTL - time.Second)
			if !ft.unstorable("k", time.Now()) {
				t.Errorf("unstorable(k) = false before unstorableTTL ran out, want true")
			}
			time.Sleep(time.Second)
			if ft.unstorable("k", time.Now()) {
				t.Errorf("unstorable(k) = true after unstorableTTL, want false")
			}
		})
	})
	t.Run("bounded", func(t *testing.T) {
		var ft fillTable
		ft.seed = maphash.MakeSeed()
		now := time.Now()
		for i := range 100_000 {
			ft.markUnstorable(fmt.Sprint("k", i), now)
		}
		n := 0
		for i := range ft.shards {
			n += len(ft.shards[i].unstorable)
		}
		if n > fillShards*maxUnstorablePerShard {
			t.Errorf("%d hints kept after marking 100000 keys, want at most %d", n, fillShards*maxUnstorablePerShard)
		}
		if !ft.unstorable("k99999", now) {
			t.Errorf("unstorable(k99999) = false for the last key marked, want true")
		}
	})
}
