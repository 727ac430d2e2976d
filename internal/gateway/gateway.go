package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"palisade/internal/cache"
	"palisade/internal/cache/memstore"
	"palisade/internal/cache/redisstore"
	"palisade/internal/config"
	"palisade/internal/health"
	"palisade/internal/lb"
	"palisade/internal/lifecycle"
	"palisade/internal/obs"
	"palisade/internal/proxy"
	"palisade/internal/ratelimit"
	"palisade/internal/resolve"
	"palisade/internal/server"
	"palisade/internal/snapshot"
	"palisade/internal/tlsconf"
	"palisade/internal/upstream"
)

// Gateway runs listeners on the live config. Apply, Shutdown and the
// accessors are safe for concurrent use; Apply calls are serialised.
type Gateway struct {
	log  *slog.Logger
	live atomic.Pointer[snapshot.Snapshot]

	// The long-lived state, each kind a lifecycle.Set keyed by stable
	// identity: a reload takes what it needs, commits at the swap and so
	// releases what no live config references. The sets are touched only
	// under mu.
	pools      *lifecycle.Set[string, *upstream.Pool]
	policies   *lifecycle.Set[string, lb.Policy]
	transports *lifecycle.Set[string, proxy.Transport]
	checkers   *lifecycle.Set[string, Checker]
	accessLogs *lifecycle.Set[string, *obs.AccessLog]
	resolvers  *lifecycle.Set[string, *refresher]
	// zones are the cache zones by ZoneKey: a reload that keeps a
	// zone's settings keeps its stored responses.
	zones *lifecycle.Set[string, *cache.Zone]
	// limiters are the rate-limit stores by LimiterKey: a reload that
	// keeps a zone's settings (or a route's own limit) keeps every key's
	// allowance.
	limiters *lifecycle.Set[string, ratelimit.Store]
	// NewChecker makes the active health checker of an upstream
	// (health.New by default); nil leaves health checks off. Set before
	// the first Apply.
	NewChecker func(cfg config.HealthCheck, pool *upstream.Pool, log *slog.Logger) (Checker, error)
	// Resolve resolves backend host names for builds and refreshes. New
	// sets it to a resolve.Resolver asking u's resolve.nameserver, or the
	// system's nameservers, for answers with their TTL; nil uses the
	// system resolver, without TTL. Set before the first Apply.
	Resolve func(ctx context.Context, u config.Upstream, host string) ([]netip.Addr, time.Duration, error)
	// stickyKey signs the cookies of sticky upstreams without a secret:
	// one per process, so that pins survive reloads (see snapshot.Deps).
	stickyKey []byte
	// refreshing counts the running refreshers' goroutines; Shutdown waits
	// for them without holding mu, which they take to commit.
	refreshing sync.WaitGroup

	mu        sync.Mutex // serialises Apply and Shutdown; guards the fields below
	listeners map[string]*openListener
	// tls holds the TLS side of the listeners that terminate TLS, by
	// address like listeners: the socket keeps its tlsconf.Listener across
	// reloads and each reload stores the certificates it read.
	tls    map[string]*tlsconf.Listener
	closed bool
	// retireAfter is how long released state waits for the requests of
	// the previous config, set by each Apply before its commit.
	retireAfter time.Duration
	// closingC is closed by Shutdown, cutting short delayed releases.
	closingC chan struct{}
	drains   sync.WaitGroup
}

// Checker is an upstream's active health checker, started when the config
// that made it goes live and stopped when no live config uses it.
type Checker interface {
	Start()
	Stop()
}

// openListener is one socket and its server. rt is the listener's part of the
// live snapshot, swapped on reload; each request loads it once.
type openListener struct {
	addr string
	ln   net.Listener
	srv  *server.Server
	rt   atomic.Pointer[snapshot.Listener]
	done chan struct{} // closed when Serve returns
	// denied counts the connections closed at accept by the listener's
	// ip_filter.
	denied atomic.Uint64
}

// New returns a gateway with nothing applied yet.
func New(log *slog.Logger) *Gateway {
	g := &Gateway{
		log:         log,
		listeners:   make(map[string]*openListener),
		tls:         make(map[string]*tlsconf.Listener),
		closingC:    make(chan struct{}),
		retireAfter: 30 * time.Second,
		stickyKey:   make([]byte, 32),
	}
	rand.Read(g.stickyKey)
	res := resolve.New(log)
	g.Resolve = func(ctx context.Context, u config.Upstream, host string) ([]netip.Addr, time.Duration, error) {
		return res.Lookup(ctx, u.Resolve.Nameserver, host)
	}
	g.pools = lifecycle.NewSet(func(_ string, p *upstream.Pool) {
		// A removed upstream: its backends take no new request, and its
		// transport, released beside it, closes their connections.
		for _, b := range p.Primaries() {
			b.SetDraining(true)
		}
		for _, b := range p.Backups() {
			b.SetDraining(true)
		}
	})
	g.policies = lifecycle.NewSet(func(string, lb.Policy) {})
	g.transports = lifecycle.NewSet(func(_ string, t proxy.Transport) { g.retire(t, g.retireAfter) })
	g.checkers = lifecycle.NewSet(func(_ string, c Checker) { c.Stop() })
	g.accessLogs = lifecycle.NewSet(func(_ string, l *obs.AccessLog) { g.retireLog(l, g.retireAfter) })
	g.resolvers = lifecycle.NewSet(func(_ string, r *refresher) { r.stop() })
	g.zones = lifecycle.NewSet(func(_ string, z *cache.Zone) {
		// Requests of the previous config may still read the store.
		g.releaseAfter(g.retireAfter, func() { z.Close() })
	})
	g.limiters = lifecycle.NewSet(func(_ string, st ratelimit.Store) {
		if c, ok := st.(io.Closer); ok {
			g.releaseAfter(g.retireAfter, func() { c.Close() })
		}
	})
	g.NewChecker = func(cfg config.HealthCheck, pool *upstream.Pool, log *slog.Logger) (Checker, error) {
		return health.New(cfg, pool, log)
	}
	return g
}

func (g *Gateway) closing() <-chan struct{} { return g.closingC }

// Snapshot returns the live snapshot, nil before the first Apply.
func (g *Gateway) Snapshot() *snapshot.Snapshot { return g.live.Load() }

// Addr returns the bound address of the listener configured with address,
// useful when the config asked for port 0.
func (g *Gateway) Addr(address string) net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ol := g.listeners[address]; ol != nil {
		return ol.ln.Addr()
	}
	return nil
}

// ErrClosed is returned by Apply after Shutdown.
var ErrClosed = errors.New("gateway is shut down")

// ApplyFile loads, validates and applies the config at path. On failure the
// running config keeps serving and the error (config.Diagnostics where the
// config was at fault) says why.
func (g *Gateway) ApplyFile(path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	return g.Apply(cfg)
}

// deps returns the Deps of a build in txn: every long-lived part comes from
// the gateway's sets.
func (g *Gateway) deps(txn *lifecycle.Txn, cfg *config.Config) snapshot.Deps {
	return snapshot.Deps{
		CacheZone: func(name string) (*cache.Zone, error) {
			for _, zc := range cfg.CacheZones {
				if zc.Name == name {
					return g.zones.Take(txn, ZoneKey(zc), func() (*cache.Zone, error) { return NewZone(zc, g.log) })
				}
			}
			return nil, fmt.Errorf("no cache zone %q", name)
		},
		RateLimitZone: func(name string) (ratelimit.Store, error) {
			zc, ok := LimiterZone(cfg, name)
			if !ok {
				return nil, fmt.Errorf("no rate-limit zone %q", name)
			}
			return g.limiters.Take(txn, LimiterKey(zc), func() (ratelimit.Store, error) { return NewLimiter(zc, g.log) })
		},
		Log:       g.log,
		Resolve:   g.Resolve,
		StickyKey: g.stickyKey,
		Pool: func(name string) (*upstream.Pool, error) {
			return g.pools.Take(txn, name, func() (*upstream.Pool, error) {
				return upstream.NewPool(name, g.log), nil
			})
		},
		Policy: func(key string, u config.Upstream) (lb.Policy, error) {
			return g.policies.Take(txn, key, func() (lb.Policy, error) { return lb.New(u) })
		},
		HealthCheck: func(u config.Upstream, pool *upstream.Pool) error {
			if g.NewChecker == nil {
				return nil
			}
			key := fmt.Sprintf("%s|%+v", u.Name, *u.HealthCheck)
			_, err := g.checkers.Take(txn, key, func() (Checker, error) {
				return g.NewChecker(*u.HealthCheck, pool, g.log)
			})
			return err
		},
		Transport: func(key string, u config.Upstream) (proxy.Transport, error) {
			return g.transports.Take(txn, key, func() (proxy.Transport, error) { return proxy.NewTransport(u, g.log) })
		},
		AccessLog: func(a config.AccessLog) (*obs.AccessLog, error) {
			key := fmt.Sprintf("%s|%d|%v", a.Output, a.Buffer, a.FlushInterval)
			return g.accessLogs.Take(txn, key, func() (*obs.AccessLog, error) {
				return obs.OpenAccessLog(a.Output, int(a.Buffer), a.FlushInterval.D())
			})
		},
	}
}

// Apply makes cfg, which has passed config validation, the running config.
func (g *Gateway) Apply(cfg *config.Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}

	txn := new(lifecycle.Txn)
	for _, join := range []func(*lifecycle.Txn) error{g.pools.Join, g.policies.Join, g.transports.Join, g.checkers.Join, g.accessLogs.Join, g.resolvers.Join, g.zones.Join, g.limiters.Join} {
		if err := join(txn); err != nil {
			txn.Abort()
			return err
		}
	}
	snap, err := snapshot.Build(cfg, g.deps(txn, cfg))
	if err != nil {
		txn.Abort()
		return err
	}
	for name, u := range snap.Upstreams {
		if !snapshot.HasHostNames(u.Config) {
			continue
		}
		key := fmt.Sprintf("%s|%+v|%+v", name, u.Config.Backends, u.Config.Resolve)
		if _, err := g.resolvers.Take(txn, key, func() (*refresher, error) { return g.newRefresher(u), nil }); err != nil {
			txn.Abort()
			return err
		}
	}

	// Open the listeners the new config adds before touching anything live.
	opened := make(map[string]*openListener)
	for addr, l := range snap.Listeners {
		if g.listeners[addr] != nil {
			continue
		}
		ln, err := listen(addr)
		if err != nil {
			for _, ol := range opened {
				ol.ln.Close()
			}
			txn.Abort()
			return config.Diagnostics{{
				File: cfg.File, Pos: cfg.Pos(listenerPath(cfg, addr)), Path: listenerPath(cfg, addr),
				Message: fmt.Sprintf("cannot listen on %s: %v", addr, unwrapOpError(err)),
				Hint:    "is another process using the port?",
			}}
		}
		ol := &openListener{addr: addr, ln: ln, done: make(chan struct{})}
		ol.srv = server.New(g.handler(ol), l.Options, g.log.With("listener", l.Name))
		ol.srv.SetConnContext(connContext)
		ol.srv.SetOnRefused(refused(ol))
		opened[addr] = ol
	}

	// Swap: the pools' members and settings, one atomic store per
	// listener, then the snapshot itself.
	draining := snap.Commit()
	for addr, l := range snap.Listeners {
		if ol := g.listeners[addr]; ol != nil {
			ol.srv.SetOptions(l.Options)
			g.setTLSLocked(ol, l)
			ol.rt.Store(l)
		}
	}
	for addr, ol := range opened {
		g.setTLSLocked(ol, snap.Listeners[addr])
		ol.rt.Store(snap.Listeners[addr])
		g.listeners[addr] = ol
		go func() {
			defer close(ol.done)
			fl := &filteredListener{Listener: ol.ln, rt: &ol.rt, denied: &ol.denied, log: g.log}
			if err := ol.srv.Serve(fl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("listener stopped", "address", ol.addr, "error", err)
			}
		}()
		g.log.Info("listening", "listener", snap.Listeners[addr].Name, "address", ol.ln.Addr().String(), "tls", snap.Listeners[addr].TLS != nil)
	}
	prev := g.live.Swap(snap)
	g.applyRuntime(cfg)

	// Release what the new snapshot no longer references.
	for addr, ol := range g.listeners {
		if snap.Listeners[addr] != nil {
			continue
		}
		delete(g.listeners, addr)
		delete(g.tls, addr)
		g.drain(ol, prevShutdown(prev, addr))
	}
	g.retireAfter = prevShutdown(prev, "")
	txn.Commit()
	g.forgetBackends(snap, draining)
	g.checkers.Each(func(_ string, c Checker) { c.Start() })
	g.resolvers.Each(func(_ string, r *refresher) { r.start() })
	return nil
}

// forgetBackends drops the connection pools of backends that drain: those
// a reload or a name refresh removed and those marked drain. Idle
// connections close now, busy ones when their exchange ends, so requests
// in flight finish. The transports of their upstreams in snap hold them.
func (g *Gateway) forgetBackends(snap *snapshot.Snapshot, draining map[string][]*upstream.Backend) {
	for name, bs := range draining {
		u := snap.Upstreams[name]
		if u == nil {
			continue
		}
		if f, ok := u.Target.Transport.(proxy.BackendForgetter); ok {
			for _, b := range bs {
				f.ForgetBackend(b)
			}
		}
	}
}

// setTLSLocked gives ol's server the TLS configuration of l: the certificates
// l's build read go to the listener's tlsconf.Listener, kept across
// reloads, so new handshakes use them while the socket and the connections
// already open stay. A listener that turns TLS on or off does so for the
// connections it accepts from then on. g.mu is held.
func (g *Gateway) setTLSLocked(ol *openListener, l *snapshot.Listener) {
	if l.TLS == nil {
		delete(g.tls, ol.addr)
		ol.srv.SetTLSConfig(nil)
		return
	}
	tl := g.tls[ol.addr]
	if tl == nil {
		tl = tlsconf.NewListener(l.TLS)
		g.tls[ol.addr] = tl
	} else {
		tl.Store(l.TLS)
	}
	ol.srv.SetTLSConfig(tl.Config())
}

// applyRuntime sets GC tuning from the config unless the environment sets it.
func (g *Gateway) applyRuntime(cfg *config.Config) {
	if _, ok := os.LookupEnv("GOGC"); !ok && cfg.Runtime.GOGC != 0 {
		debug.SetGCPercent(cfg.Runtime.GOGC)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		limit := int64(math.MaxInt64) // none, also when a reload removes one
		if cfg.Runtime.MemoryLimit > 0 {
			limit = int64(cfg.Runtime.MemoryLimit)
		}
		debug.SetMemoryLimit(limit)
	}
}

// prevShutdown returns how long requests on the previous config may take to
// drain: the shutdown timeout of the listener at addr, or the longest one.
func prevShutdown(prev *snapshot.Snapshot, addr string) time.Duration {
	d := 30 * time.Second
	if prev == nil {
		return d
	}
	if addr != "" {
		if l := prev.Listeners[addr]; l != nil {
			return shutdownOf(prev.Config, addr)
		}
	}
	longest := time.Duration(0)
	for a := range prev.Listeners {
		longest = max(longest, shutdownOf(prev.Config, a))
	}
	if longest == 0 {
		return d
	}
	return longest
}

func shutdownOf(cfg *config.Config, addr string) time.Duration {
	for _, l := range cfg.Listeners {
		if l.Address == addr {
			return l.Timeouts.Shutdown.D()
		}
	}
	return 0
}

func listenerPath(cfg *config.Config, addr string) string {
	for i, l := range cfg.Listeners {
		if l.Address == addr {
			return fmt.Sprintf("listeners[%d].address", i)
		}
	}
	return "listeners"
}

func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// drain stops ol accepting and lets its requests finish within timeout.
func (g *Gateway) drain(ol *openListener, timeout time.Duration) {
	g.drains.Add(1)
	go func() {
		defer g.drains.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := ol.srv.Shutdown(ctx); err != nil {
			g.log.Warn("listener drain cut short", "address", ol.addr, "error", err)
			ol.srv.Close()
		}
		<-ol.done
		g.log.Info("listener closed", "address", ol.addr)
	}()
}

// retire closes t once requests that may still use it have had time to end.
func (g *Gateway) retire(t proxy.Transport, after time.Duration) {
	t.CloseIdleConnections()
	g.releaseAfter(after, func() { t.Close() })
}

func (g *Gateway) retireLog(l *obs.AccessLog, after time.Duration) {
	if l != nil {
		g.releaseAfter(after, func() { l.Close() })
	}
}

// releaseAfter runs release after the delay, or at once when the gateway
// shuts down; one goroutine per released object per reload, none per
// request.
func (g *Gateway) releaseAfter(after time.Duration, release func()) {
	g.drains.Add(1)
	go func() {
		defer g.drains.Done()
		timer := time.NewTimer(after)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-g.closing():
		}
		release()
	}()
}

// ReopenLogs reopens every access log file (after log rotation renamed it).
func (g *Gateway) ReopenLogs() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	g.accessLogs.Each(func(_ string, l *obs.AccessLog) {
		if err := l.Reopen(); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

// Shutdown stops accepting on every listener, lets requests in flight finish
// until ctx ends, then closes everything. The gateway cannot be used again.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	listeners := g.listeners
	g.listeners = map[string]*openListener{}
	// Stop re-resolving now: the pools are about to go. The refreshers
	// may be waiting for mu, so they are waited for only once it is free.
	g.resolvers.Close()
	g.mu.Unlock()
	g.refreshing.Wait()

	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	for _, ol := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ol.srv.Shutdown(ctx); err != nil {
				ol.srv.Close()
				errMu.Lock()
				firstErr = cmpErr(firstErr, err)
				errMu.Unlock()
			}
			<-ol.done
		}()
	}
	wg.Wait()
	// Only now cut short the delayed releases (transports and logs retired
	// by earlier reloads): requests draining above may still use them.
	close(g.closingC)
	g.drains.Wait()

	g.mu.Lock()
	defer g.mu.Unlock()
	g.checkers.Close()
	g.transports.Close()
	g.accessLogs.Close()
	g.zones.Close()
	g.limiters.Close()
	g.policies.Close()
	g.pools.Close()
	g.drains.Wait()
	return firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// ZoneKey identifies a cache zone across reloads: its name and settings.
func ZoneKey(z config.CacheZone) string {
	if z.Redis != nil {
		// max_size bounds only memory zones: changing it must not
		// reconnect a Redis zone.
		return fmt.Sprintf("%s|%s|%d|%+v", z.Name, z.Store, z.MaxObjectSize, *z.Redis)
	}
	return fmt.Sprintf("%s|%s|%d|%d", z.Name, z.Store, z.MaxSize, z.MaxObjectSize)
}

// NewZone opens the store of a cache zone.
func NewZone(z config.CacheZone, log *slog.Logger) (*cache.Zone, error) {
	switch z.Store {
	case "memory":
		return cache.NewZone(z.Name, memstore.New(int64(z.MaxSize)), int64(z.MaxObjectSize)), nil
	case "redis":
		if z.Redis == nil {
			return nil, errors.New("a redis zone needs redis settings")
		}
		st, err := redisstore.New(*z.Redis, log.With("zone", z.Name))
		if err != nil {
			return nil, err
		}
		return cache.NewZone(z.Name, st, int64(z.MaxObjectSize)), nil
	}
	return nil, fmt.Errorf("unknown store %q", z.Store)
}

// LimiterZone returns the zone a rate-limit store name stands for: an
// entry of ratelimit_zones, or for a snapshot.RouteLimiterZone name the
// memory store of one route's limit.
func LimiterZone(cfg *config.Config, name string) (config.RateLimitZone, bool) {
	if strings.HasPrefix(name, snapshot.RouteLimiterPrefix) {
		return config.RateLimitZone{Name: name, Store: "memory", MaxKeys: config.RateLimitRouteMaxKeys}, true
	}
	for _, zc := range cfg.RateLimitZones {
		if zc.Name == name {
			return zc, true
		}
	}
	return config.RateLimitZone{}, false
}

// LimiterKey identifies a rate-limit store across reloads: its zone's name
// and settings.
func LimiterKey(z config.RateLimitZone) string {
	key := fmt.Sprintf("%s|%s|%d|%s", z.Name, z.Store, z.MaxKeys, z.OnFailure)
	if z.Redis != nil {
		key += fmt.Sprintf("|%+v", *z.Redis)
	}
	return key
}

// NewLimiter opens the store of a rate-limit zone: a memory store, or a
// Redis one with a memory store for its local failure policy.
func NewLimiter(z config.RateLimitZone, log *slog.Logger) (ratelimit.Store, error) {
	switch z.Store {
	case "memory":
		return ratelimit.NewMemory(z.MaxKeys), nil
	case "redis":
		if z.Redis == nil {
			return nil, errors.New("a redis zone needs redis settings")
		}
		policy, err := ratelimit.ParseFailurePolicy(z.OnFailure)
		if err != nil {
			return nil, err
		}
		var local ratelimit.Store
		if policy == ratelimit.FailLocal {
			local = ratelimit.NewMemory(z.MaxKeys)
		}
		return ratelimit.NewRedis(*z.Redis, policy, local, log.With("zone", z.Name))
	}
	return nil, fmt.Errorf("unknown store %q", z.Store)
}
