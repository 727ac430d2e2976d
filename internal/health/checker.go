package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// Checker runs an upstream's active health check: one goroutine per
// backend of its pool, primaries and backups, each probing on its own
// jittered schedule and writing the verdict into the backend with
// SetHealthy. It follows the pool's membership until Stop. Its methods may
// be called from any goroutine.
type Checker struct {
	pool  *upstream.Pool
	probe Probe
	log   *slog.Logger

	interval, timeout time.Duration
	rise, fall        int
	jitter            float64

	mu      sync.Mutex // guards started and stopped
	started bool
	stopped bool
	stopC   chan struct{} // closed by Stop

	// done counts the watcher and every prober.
	done sync.WaitGroup
}

// New returns the checker of pool for cfg, with the probe cfg.Type names.
// cfg has been validated; New fails only on values the runtime rejects.
// log receives one line per change of a backend's health. Nothing runs
// until Start.
func New(cfg config.HealthCheck, pool *upstream.Pool, log *slog.Logger) (*Checker, error) {
	probe, err := NewProbe(cfg)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", pool.Name, err)
	}
	return NewWithProbe(cfg, probe, pool, log)
}

// NewWithProbe is New with a probe of the caller's: cfg gives the schedule
// (interval, timeout, rise, fall, jitter) and its probe keys are ignored.
func NewWithProbe(cfg config.HealthCheck, probe Probe, pool *upstream.Pool, log *slog.Logger) (*Checker, error) {
	switch {
	case cfg.Interval <= 0:
		return nil, fmt.Errorf("upstream %q: health check interval %v is not positive", pool.Name, cfg.Interval)
	case cfg.Timeout <= 0:
		return nil, fmt.Errorf("upstream %q: health check timeout %v is not positive", pool.Name, cfg.Timeout)
	case cfg.Rise < 1 || cfg.Fall < 1:
		return nil, fmt.Errorf("upstream %q: health check rise %d and fall %d must be at least 1", pool.Name, cfg.Rise, cfg.Fall)
	case cfg.Jitter < 0 || cfg.Jitter > 0.5:
		return nil, fmt.Errorf("upstream %q: health check jitter %v is outside 0-50%%", pool.Name, float64(cfg.Jitter))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{
		pool: pool, probe: probe, log: log,
		interval: cfg.Interval.D(), timeout: cfg.Timeout.D(),
		rise: cfg.Rise, fall: cfg.Fall, jitter: float64(cfg.Jitter),
		stopC: make(chan struct{}),
	}, nil
}

// Start begins probing every backend of the pool. Calls after the first,
// and any call after Stop, do nothing.
func (c *Checker) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.stopped {
		return
	}
	c.started = true
	c.done.Go(c.watch)
}

// Stop ends every probe, an in-flight one included (its verdict is
// dropped), and returns when all of the checker's goroutines have. It may
// be called more than once; backends keep the health last written.
func (c *Checker) Stop() {
	c.mu.Lock()
	if !c.stopped {
		c.stopped = true
		close(c.stopC)
	}
	c.mu.Unlock()
	c.done.Wait()
}

// prober is the watcher's handle on one backend's goroutine.
type prober struct {
	cancel context.CancelFunc
	// seen is the generation of the last sync that found the backend a
	// member.
	seen uint64
}

// watch starts and stops probers as the pool's membership changes. It
// alone touches the prober map, so the map needs no lock.
func (c *Checker) watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := watcher{c: c, ctx: ctx, probers: make(map[*upstream.Backend]*prober)}
	for {
		// Watch before syncing, so a change during the sync is not missed.
		changed := c.pool.Watch()
		w.sync()
		select {
		case <-changed:
		case <-c.stopC:
			return
		}
	}
}

type watcher struct {
	c       *Checker
	ctx     context.Context
	probers map[*upstream.Backend]*prober
	gen     uint64
	// primary and backup are the member slices of the last sync.
	primary, backup []*upstream.Backend
}

// sync makes the probers match the pool's members. Health changes wake the
// watcher far more often than membership changes, so the common case is
// one comparison: a Pool replaces its member slices on every commit and
// never modifies them, so the same slices mean the same members.
func (w *watcher) sync() {
	primary, backup := w.c.pool.Primaries(), w.c.pool.Backups()
	if same(primary, w.primary) && same(backup, w.backup) {
		return
	}
	w.primary, w.backup = primary, backup
	w.gen++
	for _, members := range [][]*upstream.Backend{primary, backup} {
		for _, b := range members {
			if p := w.probers[b]; p != nil {
				p.seen = w.gen
				continue
			}
			ctx, cancel := context.WithCancel(w.ctx)
			w.probers[b] = &prober{cancel: cancel, seen: w.gen}
			w.c.done.Go(func() { w.c.run(ctx, b) })
		}
	}
	for b, p := range w.probers {
		if p.seen != w.gen {
			p.cancel()
			delete(w.probers, b)
		}
	}
}

// same reports whether a and b are the same slice, not merely equal ones.
func same(a, b []*upstream.Backend) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// run probes b until ctx ends: the first probe after a random share of the
// interval, then every interval give or take the jitter, measured from the
// start of one probe to the next. Each backend has its own generator, so
// probers share no state and instances started together drift apart.
func (c *Checker) run(ctx context.Context, b *upstream.Backend) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	timer := time.NewTimer(time.Duration(rng.Int64N(int64(c.interval))))
	defer timer.Stop()
	var s streak
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := c.probeOnce(ctx, b)
		if ctx.Err() != nil {
			return // stopped or removed: the verdict of a cut probe means nothing
		}
		c.observe(b, &s, err)
		timer.Reset(c.next(rng) - time.Since(start))
	}
}

// next is the time from one probe's start to the next one's.
func (c *Checker) next(rng *rand.Rand) time.Duration {
	if c.jitter == 0 {
		return c.interval
	}
	spread := float64(c.interval) * c.jitter
	return c.interval + time.Duration((2*rng.Float64()-1)*spread)
}

// probeOnce runs one probe bounded by the timeout. Probe types bound
// themselves too; this bound also covers a ProbeFunc, and names the
// timeout whatever error the probe gave when it ran out.
func (c *Checker) probeOnce(ctx context.Context, b *upstream.Backend) error {
	pctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	err := c.probe.Probe(pctx, b)
	if err != nil && ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		return &failure{reason: fmt.Sprintf("timeout after %v", c.timeout), err: err}
	}
	return err
}

// streak is one backend's rise/fall counter: the verdict the checker
// holds, and how many probes in a row said otherwise.
type streak struct {
	known   bool
	up      bool
	against int
}

// observe counts one probe's result against b's health and writes a
// transition once rise passing or fall failing probes in a row call for
// it. The held verdict starts from, and follows, the backend's own: a
// backend kept across a reload, or marked down by an earlier checker of
// the same upstream, needs rise passes to come back.
func (c *Checker) observe(b *upstream.Backend, s *streak, err error) {
	if up, _ := b.Healthy(); !s.known || up != s.up {
		s.known, s.up, s.against = true, up, 0
	}
	if (err == nil) == s.up {
		s.against = 0
		return
	}
	s.against++
	need := c.fall
	if !s.up {
		need = c.rise
	}
	if s.against < need {
		return
	}
	s.up, s.against = !s.up, 0
	if s.up {
		reason := "probe passed"
		if c.rise > 1 {
			reason = fmt.Sprintf("%d probes passed in a row", c.rise)
		}
		if b.SetHealthy(true, reason) {
			c.log.Info("backend up", "upstream", c.pool.Name, "backend", b.Addr, "reason", reason)
		}
		return
	}
	reason := err.Error()
	if reason == "" {
		reason = "probe failed"
	}
	if b.SetHealthy(false, reason) {
		c.log.Warn("backend down", "upstream", c.pool.Name, "backend", b.Addr, "reason", reason)
	}
}
