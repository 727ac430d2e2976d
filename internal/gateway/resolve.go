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
type refresher struct {
	g     *Gateway
	u     *snapshot.Upstream
	once  sync.Once
	stopC chan struct{}
	done  chan struct{}
}

func (g *Gateway) newRefresher(u *snapshot.Upstream) *refresher {
	return &refresher{g: g, u: u, stopC: make(chan struct{}), done: make(chan struct{})}
}

// minRefresh is the shortest wait between two resolutions of a name.
const minRefresh = time.Second

func (r *refresher) start() {
	r.once.Do(func() { go r.run() })
}

func (r *refresher) stop() {
	started := true
	r.once.Do(func() { started = false })
	close(r.stopC)
	if started {
		<-r.done
	}
}

func (r *refresher) run() {
	defer close(r.done)
	cfg := r.u.Config
	wait := r.u.TTL
	failing := false
	var last []upstream.Member
	for {
		wait = min(max(wait, minRefresh), cfg.Resolve.Interval.D())
		timer := time.NewTimer(wait)
		select {
		case <-r.stopC:
			timer.Stop()
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		members, ttl, err := snapshot.Members(ctx, cfg, r.g.Resolve)
		cancel()
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
		if slices.Equal(members, last) {
			continue
		}
		last = members
		r.apply(members)
	}
}

// apply gives the pool members, unless a reload replaced this refresher.
func (r *refresher) apply(members []upstream.Member) {
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-r.stopC:
		return
	default:
	}
	if g.closed {
		return
	}
	snap := g.live.Load()
	cur := snap.Upstreams[r.u.Config.Name]
	if cur == nil || cur.Pool != r.u.Pool {
		return
	}
	before := addrs(cur.Pool)
	removed := cur.Pool.Plan(snapshot.PoolSettings(cur.Config), members).Commit()
	if after := addrs(cur.Pool); !slices.Equal(before, after) {
		g.log.Info("backends resolved anew", "upstream", cur.Config.Name, "backends", after)
	}
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
