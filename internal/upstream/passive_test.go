package upstream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

func TestConsecutiveFailures(t *testing.T) {
	deadline := fmt.Errorf("read response: %w", context.DeadlineExceeded)
	for _, tc := range []struct {
		name         string
		outcomes     []error
		wantEjected  bool
		wantFailures uint64
	}{
		{"connect failures reach the threshold", []error{errConnect, errConnect, errConnect}, true, 3},
		{"one short of the threshold", []error{errConnect, errConnect}, false, 2},
		{"a success breaks the row", []error{errConnect, errConnect, nil, errConnect, errConnect}, false, 4},
		{"any other error is a failure", []error{deadline, deadline, deadline}, true, 3},
		{"5xx answers are not failures in a row", []error{errStatus, errStatus, errStatus, errStatus, errStatus}, false, 5},
		{"the client's failures count nowhere", []error{errClient, errClient, errClient, errClient}, false, 0},
		{"the client's failures do not break the row", []error{errConnect, errClient, errConnect, errClient, errConnect}, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, log := newTestPool(t, passiveSettings(3, 0, 1), testMembers(4)...)
				b := p.Primaries()[0]
				exchanges(b, tc.outcomes...)
				if ej, until := b.Ejected(); ej != tc.wantEjected {
					t.Errorf("after %v: Ejected() = %v, want %v", tc.outcomes, ej, tc.wantEjected)
				} else if ej && !until.Equal(time.Now().Add(30*time.Second)) {
					t.Errorf("Ejected() until %v, want %v (eject_time from now)", until, time.Now().Add(30*time.Second))
				}
				if got := b.Available(); got == tc.wantEjected {
					t.Errorf("after %v: Available() = %v, want %v", tc.outcomes, got, !tc.wantEjected)
				}
				if got := b.Failures(); got != tc.wantFailures {
					t.Errorf("after %v: Failures() = %d, want %d", tc.outcomes, got, tc.wantFailures)
				}
				want := 0
				if tc.wantEjected {
					want = 1
				}
				if got := log.count(msgEjected); got != want {
					t.Errorf("%q logged %d times, want %d; log:\n%s", msgEjected, got, want, log)
				}
				if got := int(p.ejected.Load()); got != want {
					t.Errorf("pool ejected count = %d, want %d", got, want)
				}
			})
		})
	}
}

func TestErrorRatio(t *testing.T) {
	for _, tc := range []struct {
		name        string
		outcomes    []error
		wantEjected bool
	}{
		{"5xx answers reach the ratio", []error{errStatus, errStatus, errStatus, errStatus}, true},
		{"below min_requests", []error{errStatus, errStatus, errStatus}, false},
		{"half of the window's requests", []error{errStatus, nil, errStatus, nil, errStatus}, true},
		{"under half", []error{errStatus, nil, nil, nil, errStatus, nil, nil, errStatus}, false},
		{"connect failures count too", []error{errConnect, nil, errStatus, errConnect}, true},
		{"the client's failures count nowhere", []error{errClient, errClient, errClient, errClient, errClient, nil, errStatus, nil}, false},
		{"successes before the window opens do not count", []error{nil, nil, nil, nil, nil, nil, errStatus, errStatus, errStatus, errStatus}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// consecutive_failures off: only the ratio ejects.
				p, _ := newTestPool(t, passiveSettings(0, 0.5, 4), testMembers(4)...)
				b := p.Primaries()[0]
				exchanges(b, tc.outcomes...)
				if got, _ := b.Ejected(); got != tc.wantEjected {
					t.Errorf("after %v: Ejected() = %v, want %v", tc.outcomes, got, tc.wantEjected)
				}
			})
		})
	}
}

func TestErrorRatioWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, passiveSettings(0, 0.5, 4), testMembers(4)...)
		b := p.Primaries()[0]
		exchanges(b, errStatus, errStatus, errStatus)
		time.Sleep(10*time.Second + time.Nanosecond)
		exchange(b, errStatus)
		if ej, _ := b.Ejected(); ej {
			t.Fatalf("4 errors over two windows: Ejected() = true, want false")
		}
		exchanges(b, errStatus, errStatus)
		time.Sleep(10 * time.Second)
		exchange(b, errStatus)
		if ej, _ := b.Ejected(); !ej {
			t.Errorf("4 errors within one window: Ejected() = false, want true")
		}
	})
}

func TestPassiveDisabled(t *testing.T) {
	set := passiveSettings(1, 0.5, 1)
	set.Passive.Enabled = false
	p, _ := newTestPool(t, set, testMembers(4)...)
	b := p.Primaries()[0]
	exchanges(b, errConnect, errConnect, errStatus, errStatus)
	if ej, _ := b.Ejected(); ej || !b.Available() {
		t.Errorf("passive health off: Ejected, Available = %v, %v; want false, true", ej, b.Available())
	}
	if got := b.Failures(); got != 4 {
		t.Errorf("passive health off: Failures() = %d, want 4", got)
	}
}

func TestEjectionGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := passiveSettings(1, 0, 1)
		set.Passive.EjectTime = 10 * time.Second
		set.Passive.MaxEjectTime = 25 * time.Second
		p, log := newTestPool(t, set, testMembers(4)...)
		b := p.Primaries()[0]
		for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second, 25 * time.Second} {
			exchange(b, errConnect)
			ej, until := b.Ejected()
			if got := until.Sub(time.Now()); !ej || got != want {
				t.Fatalf("ejection %d: Ejected() = %v for %v, want true for %v", i+1, ej, got, want)
			}
			time.Sleep(want - time.Nanosecond)
			if b.Available() {
				t.Fatalf("ejection %d: Available() = true 1ns before its end", i+1)
			}
			time.Sleep(time.Nanosecond)
			if !b.Available() {
				t.Fatalf("ejection %d: Available() = false at its end", i+1)
			}
		}
		if got := log.count(msgEjected); got != 4 {
			t.Errorf("%q logged %d times, want 4", msgEjected, got)
		}
		if got := log.count(msgReturn); got != 4 {
			t.Errorf("%q logged %d times, want 4", msgReturn, got)
		}
	})
}

func TestEjectionEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := newTestPool(t, passiveSettings(2, 0, 1), testMembers(4)...)
		b := p.Primaries()[0]
		exchanges(b, errConnect, errConnect)
		if b.Available() || b.Usable() {
			t.Fatalf("ejected: Available, Usable = %v, %v; want false, false", b.Available(), b.Usable())
		}
		if ok, reason := b.Healthy(); !ok || reason != "ejected: consecutive failures" {
			t.Errorf("ejected: Healthy() = %v, %q; want true, %q", ok, reason, "ejected: consecutive failures")
		}
		time.Sleep(30 * time.Second)
		for range 5 {
			if !b.Available() || !b.Usable() {
				t.Fatalf("after eject_time: Available, Usable = %v, %v; want true, true", b.Available(), b.Usable())
			}
			if ej, _ := b.Ejected(); ej {
				t.Fatalf("after eject_time: Ejected() = true, want false")
			}
		}
		if got := p.ejected.Load(); got != 0 {
			t.Errorf("after the ejection ended: pool ejected count = %d, want 0", got)
		}
		if e, r := log.count(msgEjected), log.count(msgReturn); e != 1 || r != 1 {
			t.Errorf("log lines: %d %q and %d %q, want one each; log:\n%s", e, msgEjected, r, msgReturn, log)
		}
		// The failures in a row started again from zero.
		exchange(b, errConnect)
		if !b.Available() {
			t.Errorf("one failure after the ejection: Available() = false, want true")
		}
	})
}

func TestMaxEjected(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backups int
		total   int
		share   float64
		want    int
	}{
		{"the only backend stays", 0, 1, 0.5, 0},
		{"the only backend stays at 100%", 0, 1, 1, 0},
		{"half of two", 0, 2, 0.5, 1},
		{"half of three rounds down", 0, 3, 0.5, 1},
		{"half of four", 0, 4, 0.5, 2},
		{"one may always be ejected", 0, 4, 0, 1},
		{"one always stays", 0, 4, 1, 3},
		{"backups count", 2, 4, 0.5, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				set := passiveSettings(1, 0, 1)
				set.Passive.MaxEjected = tc.share
				specs := testMembers(tc.total)
				for i := range tc.backups {
					specs[i].Backup = true
				}
				p, log := newTestPool(t, set, specs...)
				all := append(p.Primaries(), p.Backups()...)
				for range 3 {
					for _, b := range all {
						exchange(b, errConnect)
					}
				}
				got := 0
				for _, b := range all {
					if !b.Available() {
						got++
					}
				}
				if got != tc.want || int(p.ejected.Load()) != tc.want {
					t.Errorf("%d backends failing, max_ejected %v: %d ejected (count %d), want %d", tc.total, tc.share, got, p.ejected.Load(), tc.want)
				}
				wantRefused := 0
				if tc.want < tc.total {
					wantRefused = 1
				}
				if n := log.count(msgRefused); n != wantRefused {
					t.Errorf("refusal logged %d times, want %d; log:\n%s", n, wantRefused, log)
				}
				if tc.want == 0 {
					return
				}
				// Once an ejection ends, another backend may take its place.
				time.Sleep(30 * time.Second)
				for _, b := range all {
					b.Available()
				}
				for _, b := range all {
					exchange(b, errConnect)
				}
				if got := int(p.ejected.Load()); got != tc.want {
					t.Errorf("second round: pool ejected count = %d, want %d", got, tc.want)
				}
			})
		})
	}
}

func TestDownAndEjected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, passiveSettings(1, 0, 1), testMembers(4)...)
		b := p.Primaries()[0]
		exchange(b, errConnect)
		if !b.SetHealthy(false, "status 503") {
			t.Errorf("SetHealthy(false) of an ejected backend = false, want true (the verdict changed)")
		}
		time.Sleep(time.Hour)
		if b.Available() || b.Usable() {
			t.Errorf("down, ejection time passed: Available, Usable = %v, %v; want false, false", b.Available(), b.Usable())
		}
		if ok, _ := b.Healthy(); ok {
			t.Errorf("down: Healthy() = true, want false")
		}
		if !b.SetHealthy(true, "probe passed") {
			t.Errorf("SetHealthy(true) of a down backend = false, want true")
		}
		if !b.Available() {
			t.Errorf("up again: Available() = false, want true")
		}
		if got := p.ejected.Load(); got != 0 {
			t.Errorf("up again: pool ejected count = %d, want 0", got)
		}
	})
}

func TestDownAndEjectedUpEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The active check has the last word: a backend coming up ends its
		// ejection before the ejection's time.
		p, _ := newTestPool(t, passiveSettings(1, 0, 1), testMembers(4)...)
		b := p.Primaries()[0]
		exchange(b, errConnect)
		b.SetHealthy(false, "status 503")
		b.SetHealthy(true, "probe passed")
		if ej, _ := b.Ejected(); ej || !b.Available() {
			t.Errorf("up before the ejection's end: Ejected, Available = %v, %v; want false, true", ej, b.Available())
		}
		if got := p.ejected.Load(); got != 0 {
			t.Errorf("pool ejected count = %d, want 0", got)
		}
	})
}

func TestSetHealthyChanged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls []bool
		want  []bool
	}{
		{"up while up", []bool{true}, []bool{false}},
		{"down", []bool{false}, []bool{true}},
		{"down twice", []bool{false, false}, []bool{true, false}},
		{"flap", []bool{false, true, false, true}, []bool{true, true, true, true}},
		{"up twice after down", []bool{false, true, true}, []bool{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTestPool(t, Settings{}, testMembers(2)...)
			b := p.Primaries()[0]
			for i, ok := range tc.calls {
				if got := b.SetHealthy(ok, fmt.Sprint("call ", i)); got != tc.want[i] {
					t.Errorf("call %d: SetHealthy(%v) = %v, want %v", i, ok, got, tc.want[i])
				}
				if got, _ := b.Healthy(); got != ok {
					t.Errorf("call %d: Healthy() = %v, want %v", i, got, ok)
				}
			}
		})
	}
}

func TestHealthyReason(t *testing.T) {
	b := NewBackend("app", addr(0))
	if ok, reason := b.Healthy(); !ok || reason != "" {
		t.Errorf("new backend: Healthy() = %v, %q; want true, \"\"", ok, reason)
	}
	b.SetHealthy(false, "status 503")
	if ok, reason := b.Healthy(); ok || reason != "status 503" {
		t.Errorf("after SetHealthy(false, %q): Healthy() = %v, %q; want false, %q", "status 503", ok, reason, "status 503")
	}
	b.SetHealthy(true, "probe passed")
	if ok, reason := b.Healthy(); !ok || reason != "probe passed" {
		t.Errorf("after SetHealthy(true, %q): Healthy() = %v, %q; want true, %q", "probe passed", ok, reason, "probe passed")
	}
}

// TestSetHealthyUpKeepsEjection guards a bug: SetHealthy(true) on a backend
// that was up but ejected ended the ejection and reported a change, so a
// health check calling it after every passing probe cut every passive
// ejection short to one probe interval and logged a transition that did
// not happen; and a verdict that did not change still replaced the reason
// of the last change (the ejection's, or the one the transition logged).
func TestSetHealthyUpKeepsEjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, passiveSettings(1, 0, 1), testMembers(4)...)
		b := p.Primaries()[0]
		exchange(b, errConnect)
		w := p.Watch()
		if b.SetHealthy(true, "probe passed") {
			t.Errorf("SetHealthy(true) of an up, ejected backend = true, want false")
		}
		if ej, _ := b.Ejected(); !ej || b.Available() {
			t.Errorf("after a passing probe: Ejected, Available = %v, %v; want true, false", ej, b.Available())
		}
		if got := p.ejected.Load(); got != 1 {
			t.Errorf("after a passing probe: pool ejected count = %d, want 1", got)
		}
		if ok, reason := b.Healthy(); !ok || reason != "ejected: consecutive failures" {
			t.Errorf("after a passing probe: Healthy() = %v, %q; want true, %q", ok, reason, "ejected: consecutive failures")
		}
		if closed(w) {
			t.Errorf("after a passing probe: Watch() closed, want open")
		}
		time.Sleep(30 * time.Second)
		if !b.Available() {
			t.Errorf("after eject_time: Available() = false, want true")
		}

		b.SetHealthy(false, "status 503")
		b.SetHealthy(false, "connect: connection refused")
		if ok, reason := b.Healthy(); ok || reason != "status 503" {
			t.Errorf("down twice: Healthy() = %v, %q; want false, %q (the reason of the change)", ok, reason, "status 503")
		}
	})
}

// TestEjectionTimeResets guards a bug: the count of ejections in a row
// never reset, though it is documented to once the backend serves a full
// window without being ejected again, so a backend ejected now and then
// over days was ejected for max_eject_time each time.
func TestEjectionTimeResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := passiveSettings(1, 0, 1)
		set.Passive.EjectTime = 10 * time.Second
		p, _ := newTestPool(t, set, testMembers(4)...)
		b := p.Primaries()[0]
		for i, step := range []struct {
			served time.Duration // since the previous ejection ended
			want   time.Duration
		}{
			{0, 10 * time.Second},
			{0, 20 * time.Second},
			{10*time.Second - time.Nanosecond, 30 * time.Second},
			{10 * time.Second, 10 * time.Second},
			{time.Hour, 10 * time.Second},
		} {
			time.Sleep(step.served)
			exchange(b, errConnect)
			ej, until := b.Ejected()
			if got := until.Sub(time.Now()); !ej || got != step.want {
				t.Fatalf("ejection %d, %v after the last one ended: Ejected() = %v for %v, want true for %v", i+1, step.served, ej, got, step.want)
			}
			time.Sleep(step.want)
			if !b.Available() {
				t.Fatalf("ejection %d: Available() = false at its end", i+1)
			}
		}
	})
}

// TestDrainingNotEjected guards a bug: a request in flight to a backend a
// reload removed that then failed ejected the removed backend, and since
// nothing asks a backend outside the pool whether its ejection ended, the
// pool's ejected count kept it for good and refused the ejections of its
// members: here the one ejection 3 members allow.
func TestDrainingNotEjected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := passiveSettings(1, 0, 1)
		p, log := newTestPool(t, set, testMembers(4)...)
		list := p.Primaries()
		removed, drained := list[0], list[1]
		release := removed.Acquire()
		p.Plan(set, []Member{{Addr: addr(1), Drain: true}, {Addr: addr(2)}, {Addr: addr(3)}}).Commit()
		release(time.Millisecond, errConnect)
		exchange(drained, errConnect)
		for _, b := range []*Backend{removed, drained} {
			if ejectedBit(b) {
				t.Errorf("%s failed while draining: ejected, want not", b.Addr)
			}
		}
		if got := p.ejected.Load(); got != 0 {
			t.Fatalf("after failures of draining backends: pool ejected count = %d, want 0", got)
		}
		exchange(list[2], errConnect)
		if ej, _ := list[2].Ejected(); !ej {
			t.Errorf("a member failing: Ejected() = false, want true; log:\n%s", log)
		}
	})
}

// TestRemovedBackendHoldsNoEjection is a regression test for the ejected
// count drifting up: a request still in flight to a backend that a reload
// (or a name refresh) removed could eject it after the removal, and
// nothing ever ended that ejection, since nothing looks at a backend that
// left its pool. Each such race took one of the pool's ejections for good,
// until max_ejected refused every ejection. Commit also cleared the
// ejected bit with a load and an And, racing ejectionOver's CAS: both could
// count one ejection off, sending the count negative (a window too
// narrow to hit reliably here; clearEjection now uses a CAS).
func TestRemovedBackendHoldsNoEjection(t *testing.T) {
	p := NewPool("app", nil)
	set := Settings{Passive: PassiveSettings{Enabled: true, ConsecutiveFailures: 1,
		Window: time.Minute, EjectTime: time.Minute, MaxEjectTime: time.Hour, MaxEjected: 0.5}}
	all := []Member{{Addr: "127.0.0.1:1", Weight: 1}, {Addr: "127.0.0.1:2", Weight: 1},
		{Addr: "127.0.0.1:3", Weight: 1}, {Addr: "127.0.0.1:4", Weight: 1}}
	p.Plan(set, all).Commit()
	gone := p.Primaries()[3]
	release := gone.Acquire() // in flight across the reload
	p.Plan(set, all[:3]).Commit()
	release(0, errors.New("connection reset"))
	if ej, _ := gone.Ejected(); ej {
		t.Errorf("a removed backend was ejected by a request in flight")
	}
	if n := p.ejected.Load(); n != 0 {
		t.Fatalf("after a removed backend's failure the pool counts %d ejected, want 0", n)
	}
	// With 3 backends and max_ejected 50%, one may be ejected.
	b := p.Primaries()[0]
	b.Acquire()(0, errors.New("connection reset"))
	if ej, _ := b.Ejected(); !ej {
		t.Errorf("a failing member was not ejected: the removed backend holds the pool's only ejection")
	}
}

// TestDownBackendEjectionEnds is a regression test for an ejection that
// never ended while the active health check held the backend down:
// Available returned at the down bit before looking at the ejection, so
// the ejection's end was never noticed and the backend kept one of the
// pool's max_ejected slots until its health check passed. Meanwhile a
// second failing backend could not be ejected.
func TestDownBackendEjectionEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPool("app", nil)
		set := Settings{Passive: PassiveSettings{Enabled: true, ConsecutiveFailures: 1,
			Window: time.Minute, EjectTime: 10 * time.Second, MaxEjectTime: time.Hour, MaxEjected: 0.5}}
		p.Plan(set, []Member{{Addr: "127.0.0.1:1", Weight: 1}, {Addr: "127.0.0.1:2", Weight: 1},
			{Addr: "127.0.0.1:3", Weight: 1}}).Commit()
		dead, sick := p.Primaries()[0], p.Primaries()[1]
		dead.Acquire()(0, errors.New("connection refused"))
		dead.SetHealthy(false, "connect: connection refused")
		time.Sleep(11 * time.Second)
		for _, b := range p.Primaries() {
			b.Available() // as every pick does
		}
		if dead.Available() {
			t.Fatal("a backend the active check holds down is available")
		}
		sick.Acquire()(0, errors.New("connection reset"))
		if ej, _ := sick.Ejected(); !ej {
			t.Errorf("a failing backend was not ejected: the down backend's ended ejection still counts (pool counts %d ejected)", p.ejected.Load())
		}
	})
}
