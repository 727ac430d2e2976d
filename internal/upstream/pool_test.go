package upstream

import (
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestPlanReusesBackends(t *testing.T) {
	p, _ := newTestPool(t, Settings{}, testMembers(2)...)
	a, b := p.Primaries()[0], p.Primaries()[1]

	pl := p.Plan(Settings{}, []Member{{Addr: addr(1)}, {Addr: addr(2)}, {Addr: addr(0)}})
	got := pl.Backends()
	if got[0] != b || got[2] != a {
		t.Errorf("Plan: Backends() = %p, %p, %p; want the committed %p at 0 and %p at 2", got[0], got[1], got[2], b, a)
	}
	if got[1] == a || got[1] == b || got[1].Addr != addr(2) || got[1].Upstream != "app" {
		t.Errorf("Plan: new address %s got backend %p (%s/%s), want a new backend of app", addr(2), got[1], got[1].Upstream, got[1].Addr)
	}
	if pl.Pool() != p {
		t.Errorf("Plan.Pool() = %p, want %p", pl.Pool(), p)
	}
	// A second plan made before the first commits still reuses the live
	// backends.
	if again := p.Plan(Settings{}, []Member{{Addr: addr(0)}}).Backends()[0]; again != a {
		t.Errorf("second Plan: Backends()[0] = %p, want %p", again, a)
	}
	pl.Commit()
	if want := []*Backend{b, got[1], a}; !slices.Equal(p.Primaries(), want) {
		t.Errorf("after Commit: Primaries() = %v, want %v", p.Primaries(), want)
	}
	if again := p.Plan(Settings{}, []Member{{Addr: addr(2)}}).Backends()[0]; again != got[1] {
		t.Errorf("Plan after Commit: Backends()[0] = %p, want the committed %p", again, got[1])
	}
}

func TestPlanNotCommittedChangesNothing(t *testing.T) {
	set := Settings{MaxRequests: 0, SlowStart: 0}
	p, _ := newTestPool(t, set, testMembers(2)...)
	live := p.Settings()
	a := p.Primaries()[0]
	watch := p.Watch()

	p.Plan(Settings{MaxRequests: 1, SlowStart: time.Minute, MaxPending: 3, TrackLatency: true},
		[]Member{{Addr: addr(0), Weight: 7, Drain: true}, {Addr: addr(5), Backup: true}})

	if p.Settings() != live {
		t.Errorf("uncommitted Plan: Settings() = %+v, want the live %+v", *p.Settings(), *live)
	}
	if got := p.Primaries(); len(got) != 2 || got[0] != a {
		t.Errorf("uncommitted Plan: Primaries() = %v, want the 2 committed backends", got)
	}
	if got := p.Backups(); len(got) != 0 {
		t.Errorf("uncommitted Plan: Backups() = %v, want none", got)
	}
	if a.Weight() != 1 || a.Draining() || !a.Available() || a.trackLatency.Load() || a.maxInflight.Load() != 0 {
		t.Errorf("uncommitted Plan: backend weight %d, draining %v, available %v, latency %v, limit %d; want 1, false, true, false, 0",
			a.Weight(), a.Draining(), a.Available(), a.trackLatency.Load(), a.maxInflight.Load())
	}
	if closed(watch) {
		t.Errorf("uncommitted Plan: Watch() closed, want open")
	}
	// Nor does a later plan inherit the abandoned one's backend.
	if b := p.Plan(set, []Member{{Addr: addr(5)}}).Backends()[0]; b.Weight() != 1 {
		t.Errorf("Plan after an abandoned one: Weight() = %d, want 1", b.Weight())
	}
}

func TestCommitAppliesMembers(t *testing.T) {
	p, _ := newTestPool(t, Settings{}, testMembers(1)...)
	set := Settings{MaxRequests: 3, TrackLatency: true}
	p.Plan(set, []Member{
		{Addr: addr(0), Weight: 4},
		{Addr: addr(1), Weight: 2, Backup: true},
		{Addr: addr(2), Weight: 0},
		{Addr: addr(3), Backup: true, Drain: true},
	}).Commit()
	if got := *p.Settings(); got != set {
		t.Errorf("after Commit: Settings() = %+v, want %+v", got, set)
	}
	prim, back := p.Primaries(), p.Backups()
	var pa, ba []string
	for _, b := range prim {
		pa = append(pa, b.Addr)
	}
	for _, b := range back {
		ba = append(ba, b.Addr)
	}
	if want := []string{addr(0), addr(2)}; !slices.Equal(pa, want) {
		t.Errorf("Primaries() = %v, want %v", pa, want)
	}
	if want := []string{addr(1), addr(3)}; !slices.Equal(ba, want) {
		t.Errorf("Backups() = %v, want %v", ba, want)
	}
	for _, tc := range []struct {
		b        *Backend
		weight   int
		draining bool
	}{
		{prim[0], 4, false}, {prim[1], 1, false}, {back[0], 2, false}, {back[1], 1, true},
	} {
		if tc.b.Weight() != tc.weight || tc.b.Draining() != tc.draining || tc.b.maxInflight.Load() != 3 || !tc.b.trackLatency.Load() {
			t.Errorf("backend %s: Weight, Draining, limit, latency = %d, %v, %d, %v; want %d, %v, 3, true",
				tc.b.Addr, tc.b.Weight(), tc.b.Draining(), tc.b.maxInflight.Load(), tc.b.trackLatency.Load(), tc.weight, tc.draining)
		}
	}
	// Ending the drain in a later commit makes the backend available.
	p.Plan(set, []Member{{Addr: addr(3)}}).Commit()
	if b := back[1]; b.Draining() || !b.Available() {
		t.Errorf("after the drain ended: Draining, Available = %v, %v; want false, true", b.Draining(), b.Available())
	}
}

func TestCommitRemoved(t *testing.T) {
	p, _ := newTestPool(t, passiveSettings(1, 0, 1), testMembers(4)...)
	list := p.Primaries()
	exchange(list[0], errConnect)
	if got := p.ejected.Load(); got != 1 {
		t.Fatalf("after one ejection: ejected count = %d, want 1", got)
	}
	release := list[1].Acquire()

	removed := p.Plan(passiveSettings(1, 0, 1), []Member{{Addr: addr(2)}, {Addr: addr(3)}}).Commit()
	slices.SortFunc(removed, func(x, y *Backend) int { return cmpString(x.Addr, y.Addr) })
	if want := []*Backend{list[0], list[1]}; !slices.Equal(removed, want) {
		t.Fatalf("Commit() removed = %v, want %v", removed, want)
	}
	for _, b := range removed {
		if !b.Draining() || b.Available() {
			t.Errorf("removed %s: Draining, Available = %v, %v; want true, false", b.Addr, b.Draining(), b.Available())
		}
	}
	if got := p.ejected.Load(); got != 0 {
		t.Errorf("after the ejected backend was removed: ejected count = %d, want 0", got)
	}
	if got := list[1].InFlight(); got != 1 {
		t.Errorf("removed backend: InFlight() = %d, want 1 (its request goes on)", got)
	}
	release(time.Millisecond, nil)
	if got := list[1].InFlight(); got != 0 {
		t.Errorf("removed backend after release: InFlight() = %d, want 0", got)
	}
	// An address added again is a new backend: the removed one is the
	// caller's to close.
	if b := p.Plan(Settings{}, []Member{{Addr: addr(0)}}).Backends()[0]; b == list[0] {
		t.Errorf("Plan re-adding a removed address reused the removed backend")
	}
	if removed := p.Plan(Settings{}, nil).Commit(); len(removed) != 2 {
		t.Errorf("Commit of no members removed %d backends, want 2", len(removed))
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestWatch(t *testing.T) {
	down := func(p *Pool) { p.Primaries()[0].SetHealthy(false, "probe failed") }
	up := func(p *Pool) { p.Primaries()[0].SetHealthy(true, "probe passed") }
	for _, tc := range []struct {
		name          string
		before, event func(p *Pool)
		want          bool
	}{
		{"commit", nil, func(p *Pool) { p.Plan(passiveSettings(1, 0, 1), testMembers(5)).Commit() }, true},
		{"commit of the same members", nil, func(p *Pool) { p.Plan(passiveSettings(1, 0, 1), testMembers(4)).Commit() }, true},
		{"down", nil, down, true},
		{"down again", down, down, false},
		{"up", down, up, true},
		{"still up", nil, up, false},
		{"ejection", nil, func(p *Pool) { exchange(p.Primaries()[0], errConnect) }, true},
		{"plan not committed", nil, func(p *Pool) { p.Plan(Settings{}, nil) }, false},
		{"requests", nil, func(p *Pool) { exchanges(p.Primaries()[1], nil, errStatus, errClient) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTestPool(t, passiveSettings(1, 0, 1), testMembers(4)...)
			if tc.before != nil {
				tc.before(p)
			}
			w := p.Watch()
			tc.event(p)
			if got := closed(w); got != tc.want {
				t.Errorf("after %s: Watch() closed = %v, want %v", tc.name, got, tc.want)
			}
			if closed(p.Watch()) {
				t.Errorf("after %s: the next Watch() is closed already", tc.name)
			}
		})
	}
}

func TestWatchEjectionEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, passiveSettings(1, 0, 1), testMembers(4)...)
		b := p.Primaries()[0]
		exchange(b, errConnect)
		w := p.Watch()
		time.Sleep(30 * time.Second)
		if closed(w) {
			t.Errorf("Watch() closed before the ejection was seen to end")
		}
		b.Available()
		if !closed(w) {
			t.Errorf("after the ejection ended: Watch() open, want closed")
		}
	})
}

func TestMaxRequests(t *testing.T) {
	p, _ := newTestPool(t, Settings{MaxRequests: 2}, testMembers(1)...)
	b := p.Primaries()[0]
	r1 := b.Acquire()
	if !b.Available() {
		t.Errorf("1 of 2 requests in flight: Available() = false, want true")
	}
	r2 := b.Acquire()
	if b.Available() || !b.Usable() {
		t.Errorf("2 of 2 requests in flight: Available, Usable = %v, %v; want false, true", b.Available(), b.Usable())
	}
	r1(time.Millisecond, errConnect)
	if !b.Available() {
		t.Errorf("after a release: Available() = false, want true")
	}
	r2(time.Millisecond, nil)
	// A reload that lifts the limit applies to the same backend.
	p.Plan(Settings{}, testMembers(1)).Commit()
	r1, r2, r3 := b.Acquire(), b.Acquire(), b.Acquire()
	if !b.Available() {
		t.Errorf("no limit, 3 in flight: Available() = false, want true")
	}
	r1(0, nil)
	r2(0, nil)
	r3(0, nil)
}

func TestSlowStart(t *testing.T) {
	const window = 10 * time.Second
	set := passiveSettings(1, 0, 1)
	set.SlowStart = window
	set.Passive.EjectTime = 5 * time.Second
	for _, tc := range []struct {
		name string
		// recover makes a backend of p start slow start now and returns it.
		recover func(t *testing.T, p *Pool, specs []Member) *Backend
	}{
		{"up after down", func(t *testing.T, p *Pool, specs []Member) *Backend {
			b := p.Primaries()[0]
			b.SetHealthy(false, "probe failed")
			time.Sleep(time.Minute)
			b.SetHealthy(true, "probe passed")
			return b
		}},
		{"ejection ended", func(t *testing.T, p *Pool, specs []Member) *Backend {
			b := p.Primaries()[0]
			exchange(b, errConnect)
			time.Sleep(5 * time.Second)
			if !b.Available() {
				t.Fatalf("after the ejection time: Available() = false, want true")
			}
			return b
		}},
		{"drain ended", func(t *testing.T, p *Pool, specs []Member) *Backend {
			specs[0].Drain = true
			p.Plan(set, specs).Commit()
			time.Sleep(time.Minute)
			specs[0].Drain = false
			p.Plan(set, specs).Commit()
			return p.Primaries()[0]
		}},
		{"added by a reload", func(t *testing.T, p *Pool, specs []Member) *Backend {
			specs = append(specs, Member{Addr: addr(9), Weight: 2})
			p.Plan(set, specs).Commit()
			return p.Primaries()[len(specs)-1]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				specs := testMembers(4)
				for i := range specs {
					specs[i].Weight = 2
				}
				p, _ := newTestPool(t, set, specs...)
				for _, b := range p.Primaries() {
					if got := b.EffectiveWeight(); got != 512 {
						t.Errorf("first commit: %s EffectiveWeight() = %d, want 512 (no slow start)", b.Addr, got)
					}
				}
				b := tc.recover(t, p, specs)
				start := time.Now()
				for _, step := range []struct {
					after time.Duration
					want  int64
				}{
					{0, 1}, {window / 4, 128}, {window / 2, 256}, {window * 3 / 4, 384},
					{window - time.Nanosecond, 511}, {window, 512}, {2 * window, 512},
				} {
					time.Sleep(step.after - time.Since(start))
					if got := b.EffectiveWeight(); got != step.want {
						t.Errorf("%v into slow start: EffectiveWeight() = %d, want %d", step.after, got, step.want)
					}
				}
				if got := p.Primaries()[1].EffectiveWeight(); got != 512 {
					t.Errorf("a backend that did not recover: EffectiveWeight() = %d, want 512", got)
				}
			})
		})
	}
}

func TestSlowStartOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, Settings{}, Member{Addr: addr(0), Weight: 3})
		b := p.Primaries()[0]
		b.SetHealthy(false, "probe failed")
		b.SetHealthy(true, "probe passed")
		p.Plan(Settings{}, []Member{{Addr: addr(0), Weight: 3}, {Addr: addr(1), Weight: 3}}).Commit()
		for _, b := range p.Primaries() {
			if got := b.EffectiveWeight(); got != 3*256 {
				t.Errorf("no slow start: %s EffectiveWeight() = %d, want %d", b.Addr, got, 3*256)
			}
		}
		if got := NewBackend("app", addr(0)).EffectiveWeight(); got != 256 {
			t.Errorf("NewBackend: EffectiveWeight() = %d, want 256", got)
		}
	})
}

// TestSlowStartLargeWeight guards a bug: EffectiveWeight multiplied the
// full weight by the nanoseconds elapsed in int64, which overflows for a
// large weight (a weight of 2^31-1, which SetWeight allows, after 17ms of
// ramp), so the ramp read 1 or a wrong weight.
func TestSlowStartLargeWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		set := Settings{SlowStart: 30 * time.Second}
		p, _ := newTestPool(t, set, testMembers(1)...)
		p.Plan(set, []Member{{Addr: addr(0)}, {Addr: addr(1), Weight: math.MaxInt32}}).Commit()
		b := p.Primaries()[1]
		full := int64(math.MaxInt32) * 256
		for _, step := range []struct {
			after time.Duration
			want  int64
		}{
			{time.Second, full / 30},
			{15 * time.Second, full / 2},
			{29 * time.Second, full * 29 / 30},
			{30 * time.Second, full},
		} {
			time.Sleep(step.after - time.Since(time.Unix(0, b.rampStart.Load())))
			if got := b.EffectiveWeight(); got != step.want {
				t.Errorf("weight 2^31-1, %v into a 30s slow start: EffectiveWeight() = %d, want %d", step.after, got, step.want)
			}
		}
	})
}
