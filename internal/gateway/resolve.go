package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

	"palisade/internal/snapshot"
	"palisade/internal/upstream"
)

// refresher re-resolves the backend host names of one upstream and gives
// its pool the new addresses: an address that appears becomes a backend
// (under slow start), one that goes away drains. It waits the answer's TTL
// (at least a second) but never longer than resolve.interval. A failed
// resolution keeps the addresses it had and is logged once per change
// between failing and succeeding.
//
// A refresher commits to the pool under g.mu, and is stopped under g.mu
// (by the reload that replaces it, or by Shutdown), so stop only asks its
// goroutine to end and never waits for it: the goroutine may itself be
// waiting for g.mu. Shutdown waits for g.refreshing after letting go of
// g.mu.
type refresher struct {
	g    *Gateway
	u    *snapshot.Upstream
	once sync.Once
	// ctx ends when the refresher is stopped, cutting short a lookup in
	// flight; apply checks it under g.mu.
	ctx    context.Context
	cancel context.CancelFunc
}

func (g *Gateway) newRefresher(u *snapshot.Upstream) *refresher {
	ctx, cancel := context.WithCancel(context.Background())
	return &refresher{g: g, u: u, ctx: ctx, cancel: cancel}
}

// minRefresh is the shortest wait between two resolutions of a name.
const minRefresh = time.Second

// refreshTimeout bounds one refresh, every name of the upstream included.
const refreshTimeout = 5 * time.Second

// start runs the refresher's goroutine, once.
func (r *refresher) start() {
	r.once.Do(func() {
		r.g.refreshing.Add(1)
		go r.run()
	})
}

// stop ends the refresher without waiting for its goroutine. A refresher
// stopped before it started never starts.
func (r *refresher) stop() {
	r.once.Do(func() {})
	r.cancel()
}

func (r *refresher) run() {
	defer r.g.refreshing.Done()
	cfg := r.u.Config
	wait := r.u.TTL
	failing := false
	for {
		timer := time.NewTimer(min(max(wait, minRefresh), cfg.Resolve.Interval.D()))
		select {
		case <-r.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(r.ctx, refreshTimeout)
		members, ttl, err := snapshot.Members(ctx, cfg, r.g.Resolve)
		cancel()
		if r.ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				r.g.log.Warn("resolving backends failed; keeping the addresses resolved before", "upstream", cfg.Name, "error", err)
				failing = true
			}
			wait = cfg.Resolve.Interval.D()
			continue
		}
		if failing {
			r.g.log.Info("resolving backends works again", "upstream", cfg.Name)
			failing = false
		}
		wait = ttl
		r.apply(members)
	}
}

// apply gives the pool members, unless a reload replaced this refresher
// or the pool already has exactly these addresses. It compares with the
// pool rather than with its own last answer because a reload that keeps
// the refresher resolves the names anew and may have changed the pool.
func (r *refresher) apply(members []upstream.Member) {
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.ctx.Err() != nil || g.closed {
		return
	}
	snap := g.live.Load()
	cur := snap.Upstreams[r.u.Config.Name]
	if cur == nil || cur.Pool != r.u.Pool {
		return
	}
	before := addrs(cur.Pool)
	want := make([]string, 0, len(members))
	for _, m := range members {
		want = append(want, m.Addr)
	}
	slices.Sort(want)
	if slices.Equal(sorted(before), want) {
		return
	}
	removed := cur.Pool.Plan(snapshot.PoolSettings(cur.Config), members).Commit()
	g.log.Info("backends resolved anew", "upstream", cur.Config.Name, "backends", addrs(cur.Pool))
	if len(removed) > 0 {
		g.forgetBackends(snap, map[string][]*upstream.Backend{cur.Config.Name: removed})
	}
}

func addrs(p *upstream.Pool) []string {
	var out []string
	for _, b := range p.Primaries() {
		out = append(out, b.Addr)
	}
	for _, b := range p.Backups() {
		out = append(out, b.Addr)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
