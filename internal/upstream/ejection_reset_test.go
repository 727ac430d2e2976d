package upstream

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestEjectionLengthResets is a regression test for ejections in a row
// never starting over: the count that lengthens each ejection was never
// reset, so once a backend had been ejected a few times in its life every
// later ejection lasted max_eject_time. An ejection right after the last
// one ended is longer; one after the backend served a full window
// without being ejected is back to eject_time.
func TestEjectionLengthResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const eject, window = 10 * time.Second, 30 * time.Second
		p := NewPool("app", nil)
		set := Settings{Passive: PassiveSettings{Enabled: true, ConsecutiveFailures: 1,
			Window: window, EjectTime: eject, MaxEjectTime: time.Hour, MaxEjected: 0.5}}
		p.Plan(set, []Member{{Addr: "127.0.0.1:1", Weight: 1}, {Addr: "127.0.0.1:2", Weight: 1}}).Commit()
		b := p.Primaries()[0]
		fail := func() time.Duration {
			t.Helper()
			b.Acquire()(0, errors.New("connection reset"))
			ej, until := b.Ejected()
			if !ej {
				t.Fatal("a failure did not eject the backend")
			}
			return until.Sub(time.Now())
		}
		for _, tc := range []struct {
			name  string
			after time.Duration // since the previous ejection ended
			want  time.Duration
		}{
			{"first ejection", 0, eject},
			{"again right after it ended", time.Second, 2 * eject},
			{"again after a full window without ejection", window + time.Second, eject},
		} {
			if tc.after > 0 {
				_, until := b.Ejected()
				time.Sleep(until.Sub(time.Now()) + tc.after)
				if !b.Available() {
					t.Fatalf("%s: backend still unavailable after its ejection ended", tc.name)
				}
			}
			if got := fail(); got != tc.want {
				t.Errorf("%s: ejected for %v, want %v", tc.name, got, tc.want)
			}
		}
	})
}
