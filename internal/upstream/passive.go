package upstream

import (
	"sync/atomic"
	"time"
)

// passiveState is a backend's outlier detection: failures in a row, and
// requests and errors over a window that starts with the first error
// after the previous window ended, so a success costs two atomic adds and
// no clock read.
type passiveState struct {
	consecutive atomic.Int64
	winStart    atomic.Int64 // Unix nanoseconds; 0 when no window is open
	winRequests atomic.Int64
	winErrors   atomic.Int64
	// ejections counts ejections in a row, lengthening each; it resets
	// when the backend serves a full window after its last ejection ended.
	ejections atomic.Int64
}

// success counts a successful exchange. It writes only when a rule has
// something to forget or count, so that the common case reads two words
// that stay shared in every core's cache.
func (ps *passiveState) success() {
	if ps.consecutive.Load() != 0 {
		ps.consecutive.Store(0)
	}
	if ps.winStart.Load() != 0 {
		ps.winRequests.Add(1)
	}
}

// failure counts a failed exchange of b (status: a 5xx answer) and ejects b
// when a rule trips.
func (ps *passiveState) failure(b *Backend, status bool) {
	set := b.pool.settings.Load()
	if !set.Passive.Enabled {
		return
	}
	now := time.Now().UnixNano()
	trip := ""
	if !status {
		if n := ps.consecutive.Add(1); set.Passive.ConsecutiveFailures > 0 && n >= int64(set.Passive.ConsecutiveFailures) {
			trip = "consecutive failures"
		}
	}
	if set.Passive.ErrorRatio > 0 {
		start := ps.winStart.Load()
		if start == 0 || now-start > int64(set.Passive.Window) {
			if ps.winStart.CompareAndSwap(start, now) {
				ps.winRequests.Store(0)
				ps.winErrors.Store(0)
			}
		}
		reqs := ps.winRequests.Add(1)
		errs := ps.winErrors.Add(1)
		if reqs >= int64(set.Passive.MinRequests) && float64(errs) >= set.Passive.ErrorRatio*float64(reqs) {
			trip = "error ratio"
		}
	}
	if trip != "" {
		b.eject(now, set, trip)
	}
}

// eject takes b out of rotation unless the upstream already has its
// largest share of backends ejected. Ejections are rare and decided under
// the pool's ejectMu, so that two backends failing at once cannot both
// pass the share check, nor two failures of one backend both lengthen its
// ejection.
func (b *Backend) eject(now int64, set *Settings, why string) {
	p := b.pool
	p.ejectMu.Lock()
	defer p.ejectMu.Unlock()
	// A draining backend, removed by a reload or configured to drain,
	// takes no new request: ejecting it would only hold a share of the
	// pool's ejections, for good once it left the pool, where nothing ends
	// its ejection.
	if b.state.Load()&(stateEjected|stateDraining) != 0 {
		return
	}
	// As nginx never marks the only server of a group down, at least one
	// backend always stays: ejecting the last would turn every request
	// into a 503 rather than a try.
	total := int64(p.size())
	maxEjected := int64(float64(total) * set.Passive.MaxEjected)
	maxEjected = min(max(maxEjected, 1), total-1)
	if int64(p.ejected.Load()) >= maxEjected {
		p.noteEjectionRefused(b, why)
		return
	}
	if last := b.ejectUntil.Load(); last != 0 && now-last >= int64(set.Passive.Window) {
		// A full window served since the last ejection ended: this one is
		// not in a row.
		b.passive.ejections.Store(0)
	}
	n := b.passive.ejections.Add(1)
	d := min(time.Duration(n)*set.Passive.EjectTime, set.Passive.MaxEjectTime)
	// The end time is stored before the bit is set: Available reads the
	// bit, then the time.
	// The count rises before the bit is set, as every count down follows
	// the bit's clearing: the count never falls below the ejected members.
	b.ejectUntil.Store(now + int64(d))
	p.ejected.Add(1)
	for {
		old := b.state.Load()
		if b.state.CompareAndSwap(old, old|stateEjected) {
			break
		}
	}
	b.passive.consecutive.Store(0)
	b.passive.winStart.Store(0)
	reason := "ejected: " + why
	b.reason.Store(&reason)
	p.logEjection(b, why, d)
	p.changed()
}

// ejectionOver ends an ejection whose time has come and reports whether b
// is no longer ejected. It runs on the request path only while b is
// ejected.
func (b *Backend) ejectionOver() bool {
	now := time.Now().UnixNano()
	for {
		old := b.state.Load()
		if old&stateEjected == 0 {
			return true
		}
		// The end is read after the state: eject stores it before it sets
		// the bit, so the end of the last ejection never ends a new one.
		if now < b.ejectUntil.Load() {
			return false
		}
		if b.state.CompareAndSwap(old, old&^stateEjected) {
			if b.pool != nil {
				b.pool.ejected.Add(-1)
				b.pool.logReturn(b, old&stateDown != 0)
				b.pool.changed()
			}
			if old&stateDown == 0 {
				b.startRamp()
			}
			return true
		}
	}
}
