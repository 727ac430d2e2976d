package upstream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Settings are the parts of an upstream's config its Pool and backends
// apply. A Plan carries new ones; Commit makes them live.
type Settings struct {
	// SlowStart is the ramp-up window of an added or recovered backend;
	// 0 is off.
	SlowStart time.Duration
	Passive   PassiveSettings
	// MaxRequests bounds the requests in flight per backend (0: none).
	MaxRequests int64
	// MaxPending bounds the requests waiting in Queue (0: none wait);
	// QueueTimeout bounds a wait.
	MaxPending   int
	QueueTimeout time.Duration
	// RetryBudget is the share of requests that may be retries, on top
	// of RetryMinPerSecond.
	RetryBudget       float64
	RetryMinPerSecond int
	// TrackLatency feeds the peak-EWMA estimate (the ewma policy reads
	// it); EWMADecay is its time constant.
	TrackLatency bool
	EWMADecay    time.Duration
}

// PassiveSettings are outlier detection's rules (see config.PassiveHealth).
type PassiveSettings struct {
	Enabled             bool
	ConsecutiveFailures int
	ErrorRatio          float64
	MinRequests         int
	Window              time.Duration
	EjectTime           time.Duration
	MaxEjectTime        time.Duration
	MaxEjected          float64
}

// Member is one backend as a config (or a name resolution) lists it.
type Member struct {
	Addr   string
	Weight int
	Backup bool
	Drain  bool
}

// Errors of Queue.
var (
	ErrQueueFull    = errors.New("upstream queue is full")
	ErrQueueTimeout = errors.New("no backend freed within the queue timeout")
)

// members is one generation of a pool's backends.
type members struct {
	primary, backup []*Backend
}

// Pool is one upstream's backends and the state they share: settings,
// the ejected count, the queue of requests waiting for a backend below its
// limits, and the retry budget. A Pool is kept across reloads by upstream
// name, and hands out the same Backend for the same address, so a reload
// keeps health, ejections, in-flight counts, latency and slow-start clocks.
// The request path reads it through atomics; its mutex serialises changes
// of membership, which happen only on reloads and name resolutions.
type Pool struct {
	Name string
	log  *slog.Logger

	settings atomic.Pointer[Settings]
	members  atomic.Pointer[members]
	ejected  atomic.Int32
	ejectMu  sync.Mutex // serialises ejection decisions

	waiters atomic.Int32
	wakeMu  sync.Mutex
	wakeC   chan struct{} // closed when a request slot frees up

	watchMu sync.Mutex
	watchC  chan struct{} // closed when membership or health changes

	budget retryBudget

	mu sync.Mutex // guards the fields below
	// byAddr holds every backend of the committed members.
	byAddr    map[string]*Backend
	committed bool
	// refusedLogged is set once an ejection was refused for the max
	// share, so the refusal is logged once per state change.
	refusedLogged atomic.Bool
}

// NewPool returns an empty pool for the upstream name; log receives one
// line per ejection and return. Until a Plan is committed it has no
// backends and default settings.
func NewPool(name string, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{Name: name, log: log, byAddr: make(map[string]*Backend),
		wakeC: make(chan struct{}), watchC: make(chan struct{})}
	p.settings.Store(&Settings{})
	p.members.Store(&members{})
	return p
}

// Primaries returns the primary backends, in config order. The slice is
// shared: do not modify it.
func (p *Pool) Primaries() []*Backend { return p.members.Load().primary }

// Backups returns the backup backends, used when no primary is available.
func (p *Pool) Backups() []*Backend { return p.members.Load().backup }

// Settings returns the live settings.
func (p *Pool) Settings() *Settings { return p.settings.Load() }

func (p *Pool) size() int {
	m := p.members.Load()
	return len(m.primary) + len(m.backup)
}

// Watch returns a channel closed at the next change of the pool's
// membership or of a backend's health. Health checkers select on it to
// follow membership.
func (p *Pool) Watch() <-chan struct{} {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	return p.watchC
}

func (p *Pool) changed() {
	if p == nil {
		return
	}
	p.watchMu.Lock()
	close(p.watchC)
	p.watchC = make(chan struct{})
	p.watchMu.Unlock()
}

// Plan is a pending change of a pool: new settings and members, built
// during a config build and applied by Commit when the build goes live. A
// Plan that is not committed changes nothing.
type Plan struct {
	p       *Pool
	set     Settings
	specs   []Member
	backend []*Backend // by spec index
}

// Plan prepares the pool to have settings set and the backends of specs,
// reusing the Backend of every address it has. Plans are made and
// committed one at a time (the gateway's Apply is serialised).
func (p *Pool) Plan(set Settings, specs []Member) *Plan {
	pl := &Plan{p: p, set: set, specs: specs, backend: make([]*Backend, len(specs))}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range specs {
		b := p.byAddr[s.Addr]
		if b == nil {
			b = NewBackend(p.Name, s.Addr)
			b.pool = p
		}
		pl.backend[i] = b
	}
	return pl
}

// Backends returns the plan's backends in spec order.
func (pl *Plan) Backends() []*Backend { return pl.backend }

// Pool returns the pool the plan changes.
func (pl *Plan) Pool() *Pool { return pl.p }

// Commit makes the plan live: settings, weights, drain flags and members.
// It returns the backends the plan removed, now draining: the caller
// closes their connections once their requests have finished. New
// backends of a pool that already had members start under slow start.
func (pl *Plan) Commit() (removed []*Backend) {
	p := pl.p
	p.settings.Store(&pl.set)
	p.mu.Lock()
	defer p.mu.Unlock()
	next := &members{}
	keep := make(map[string]*Backend, len(pl.specs))
	for i, s := range pl.specs {
		b := pl.backend[i]
		b.SetWeight(s.Weight)
		b.maxInflight.Store(pl.set.MaxRequests)
		b.trackLatency.Store(pl.set.TrackLatency)
		b.latency.setDecay(pl.set.EWMADecay)
		_, known := p.byAddr[s.Addr]
		if s.Drain {
			b.SetDraining(true)
		} else if b.Draining() {
			b.SetDraining(false)
		}
		if !known && p.committed {
			b.startRamp()
		}
		keep[s.Addr] = b
		if s.Backup {
			next.backup = append(next.backup, b)
		} else {
			next.primary = append(next.primary, b)
		}
	}
	// Removals take ejectMu: an ejection decided at the same time must
	// either count before the removal clears it or see the backend
	// draining.
	p.ejectMu.Lock()
	defer p.ejectMu.Unlock()
	for addr, b := range p.byAddr {
		if keep[addr] == nil {
			b.SetDraining(true)
			// One step: an ejection ending at the same time must not
			// count it down too.
			if b.state.And(^stateEjected)&stateEjected != 0 {
				p.ejected.Add(-1)
			}
			removed = append(removed, b)
		}
	}
	p.byAddr = keep
	p.committed = true
	p.members.Store(next)
	p.changed()
	return removed
}

// Queue waits for pick to return a backend: it calls pick, and while pick
// returns nil waits until a request to a backend of p ends, up to the
// queue timeout. It fails with ErrQueueFull at once when max_pending
// requests already wait (or none may), with ErrQueueTimeout when the
// timeout passes, and with ctx's error when ctx ends. It is the overload
// path: a waiting request holds a timer.
func (p *Pool) Queue(ctx context.Context, pick func() *Backend) (*Backend, error) {
	set := p.settings.Load()
	if set.MaxPending <= 0 {
		return nil, ErrQueueFull
	}
	if p.waiters.Add(1) > int32(set.MaxPending) {
		p.waiters.Add(-1)
		return nil, ErrQueueFull
	}
	defer p.waiters.Add(-1)
	timer := time.NewTimer(set.QueueTimeout)
	defer timer.Stop()
	for {
		p.wakeMu.Lock()
		c := p.wakeC
		p.wakeMu.Unlock()
		if b := pick(); b != nil {
			return b, nil
		}
		select {
		case <-c:
		case <-timer.C:
			return nil, ErrQueueTimeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Waiting returns the number of requests waiting in Queue.
func (p *Pool) Waiting() int { return int(p.waiters.Load()) }

func (p *Pool) wake() {
	p.wakeMu.Lock()
	close(p.wakeC)
	p.wakeC = make(chan struct{})
	p.wakeMu.Unlock()
}

// TryRetry reports whether the retry budget allows one more retry now, and
// if so spends it.
func (p *Pool) TryRetry() bool {
	set := p.settings.Load()
	return p.budget.take(time.Now().UnixNano(), p.requestTotal(), set.RetryBudget, set.RetryMinPerSecond)
}

// requestTotal sums the requests ever sent to the pool's backends.
func (p *Pool) requestTotal() uint64 {
	m := p.members.Load()
	var n uint64
	for _, b := range m.primary {
		n += b.Requests()
	}
	for _, b := range m.backup {
		n += b.Requests()
	}
	return n
}

func (p *Pool) logEjection(b *Backend, why string, d time.Duration) {
	p.log.Warn("backend ejected", "upstream", p.Name, "backend", b.Addr, "reason", why, "for", d.String())
}

func (p *Pool) logReturn(b *Backend, stillDown bool) {
	p.refusedLogged.Store(false)
	if stillDown {
		p.log.Info("backend ejection ended; it stays out until its health check passes", "upstream", p.Name, "backend", b.Addr)
		return
	}
	p.log.Info("backend ejection ended", "upstream", p.Name, "backend", b.Addr)
}

func (p *Pool) noteEjectionRefused(b *Backend, why string) {
	if p.refusedLogged.CompareAndSwap(false, true) {
		p.log.Warn("backend not ejected: the upstream has its most ejected backends", "upstream", p.Name, "backend", b.Addr, "reason", why)
	}
}
