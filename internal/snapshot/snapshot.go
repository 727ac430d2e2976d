package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"time"

	"palisade/internal/auth"
	"palisade/internal/cache"
	"palisade/internal/compress"
	"palisade/internal/config"
	"palisade/internal/ipfilter"
	"palisade/internal/lb"
	"palisade/internal/middleware"
	"palisade/internal/obs"
	"palisade/internal/proxy"
	"palisade/internal/ratelimit"
	"palisade/internal/route"
	"palisade/internal/server"
	"palisade/internal/tlsconf"
	"palisade/internal/upstream"
)

// Snapshot is one compiled config. It is immutable once built: requests load
// it (through a Listener) once and keep it to the end.
type Snapshot struct {
	Config *config.Config
	// Listeners by address, the stable identity of an open socket.
	Listeners map[string]*Listener
	// Upstreams are the compiled upstreams by name.
	Upstreams map[string]*Upstream
	// Transports are the upstream transports in use, by TransportKey.
	Transports map[string]proxy.Transport
	// AccessLog is nil when logging is off.
	AccessLog *obs.AccessLog

	// reconfigure are the settings of reused transports, applied by
	// Commit, so that a build that is not applied changes nothing live.
	reconfigure []reconfiguration
}

// Upstream is one compiled upstream: its config, its long-lived pool and
// the plan that gives the pool this config's settings and backends.
type Upstream struct {
	Config config.Upstream
	Pool   *upstream.Pool
	Target *proxy.Target
	// TTL is how long the addresses resolved for its host names hold; 0
	// when every backend address is an IP.
	TTL  time.Duration
	plan *upstream.Plan
}

type reconfiguration struct {
	t   proxy.Reconfigurable
	cfg config.Upstream
}

// Commit applies what the snapshot sets on long-lived shared state: the
// pools' settings and backends, the transports' timeouts. The gateway
// calls it when it makes the snapshot live. It returns, by upstream name,
// the backends that now drain: those the snapshot removed from their pools
// and those it marks drain. Their idle connections should close.
func (s *Snapshot) Commit() (draining map[string][]*upstream.Backend) {
	for name, u := range s.Upstreams {
		gone := u.plan.Commit()
		for _, b := range u.plan.Backends() {
			if b.Draining() {
				gone = append(gone, b)
			}
		}
		if len(gone) > 0 {
			if draining == nil {
				draining = make(map[string][]*upstream.Backend)
			}
			draining[name] = gone
		}
	}
	for _, rc := range s.reconfigure {
		rc.t.Reconfigure(rc.cfg)
	}
	return draining
}

// Listener is what a request accepted on one listener needs.
type Listener struct {
	Name    string
	Address string
	Table   *route.Table
	Trusted []netip.Prefix
	// Filter decides at accept which TCP peers may connect; nil lets
	// every peer in.
	Filter   *ipfilter.Matcher
	Options  server.Options
	Snapshot *Snapshot
	// TLS is the configuration of this config's handshakes, its
	// certificate files read by this build; nil for a plain listener. The
	// gateway stores it in the listener's tlsconf.Listener.
	TLS *tls.Config
}

// Deps are the long-lived parts a build borrows from the gateway. Each
// returns the value kept under the same identity when there is one, so a
// reload keeps its state.
type Deps struct {
	Log *slog.Logger
	// Pool returns the pool of the upstream name.
	Pool func(name string) (*upstream.Pool, error)
	// Policy returns the balancing policy of an upstream kept under key
	// (PolicyKey): the same one while the upstream's name and balancing
	// settings stay, so round-robin positions and counters survive a
	// reload.
	Policy func(key string, u config.Upstream) (lb.Policy, error)
	// HealthCheck takes the active health checker of an upstream with a
	// health_check, on pool; nil when there is nothing to check.
	HealthCheck func(u config.Upstream, pool *upstream.Pool) error
	// StickyKey signs the cookies of sticky upstreams without a secret.
	// The gateway draws it once per process, so that a reload keeps every
	// pin; nil draws a key per build.
	StickyKey []byte
	// Resolve returns the addresses of a backend host name and how long
	// the answer holds (0: unknown).
	Resolve func(ctx context.Context, u config.Upstream, host string) ([]netip.Addr, time.Duration, error)
	// Transport returns the transport for an upstream, reusing the one kept
	// under the same key.
	Transport func(key string, cfg config.Upstream) (proxy.Transport, error)
	// AccessLog returns the access log for its settings, reusing an open
	// one with the same settings.
	AccessLog func(cfg config.AccessLog) (*obs.AccessLog, error)
	// CacheZone returns the cache zone name of cache_zones, the same one
	// while the zone's settings stay, so stored responses survive a
	// reload and every route naming it shares one store.
	CacheZone func(name string) (*cache.Zone, error)
	// RateLimitZone returns the store of the rate-limit zone name of
	// ratelimit_zones, or, for a name RouteLimiterZone made, the memory
	// store of one route's own limit: the same one across reloads, so
	// limits survive them and every route naming a zone shares it.
	RateLimitZone func(name string) (ratelimit.Store, error)
}

// RouteLimiterZone is the zone name under which a route without a zone
// keeps its limit's state: RouteLimiterPrefix and the route's name. Zone
// names cannot hold a colon, so it names no zone of ratelimit_zones.
func RouteLimiterZone(route string) string { return RouteLimiterPrefix + route }

// RouteLimiterPrefix begins the zone names RouteLimiterZone makes.
const RouteLimiterPrefix = "route:"

// TransportKey identifies an upstream's transport: a reload that keeps the
// key keeps its connection pools. The HTTP/1.1 transport takes new
// timeouts and pool sizes in place (proxy.Reconfigurable), so its key is
// the name and protocol; http.Transport's settings cannot change under it,
// so for h2c they are part of the key.
func TransportKey(u config.Upstream) string {
	if u.Protocol == "http1" || u.Protocol == "" {
		return u.Name + "|http1"
	}
	t := u.Timeouts
	return fmt.Sprintf("%s|%s|%v|%v|%v|%v|%v|%d|%d|%v", u.Name, u.Protocol, t.Connect, t.ResponseHeader, t.Read, t.Write, t.Idle, u.MaxIdleConns, u.Limits.MaxConnections, u.Retries.PerTryTimeout)
}

// Build compiles cfg, which must have passed config validation. A failure
// (a route conflict, a value only the runtime can reject) is returned as
// config.Diagnostics positioned in cfg's file; nothing is changed in deps
// beyond registry entries and transports the gateway releases when the
// build is not applied.
func Build(cfg *config.Config, deps Deps) (*Snapshot, error) {
	s := &Snapshot{
		Config:     cfg,
		Listeners:  make(map[string]*Listener, len(cfg.Listeners)),
		Transports: make(map[string]proxy.Transport),
		Upstreams:  make(map[string]*Upstream, len(cfg.Upstreams)),
	}
	var diags config.Diagnostics
	report := func(path string, err error, hint string) {
		diags = append(diags, config.Diagnostic{File: cfg.File, Pos: cfg.Pos(path), Path: path, Message: err.Error(), Hint: hint})
	}

	al, err := deps.AccessLog(cfg.AccessLog)
	if err != nil {
		report("access_log.output", err, "the directory must exist and be writable by palisade; a relative path is resolved against the config file's directory")
	}
	s.AccessLog = al

	targets := make(map[string]*proxy.Target, len(cfg.Upstreams))
	for i, u := range cfg.Upstreams {
		path := fmt.Sprintf("upstreams[%d]", i)
		t, err := buildTarget(s, u, deps)
		if err != nil {
			var me *memberError
			if errors.As(err, &me) {
				report(fmt.Sprintf("%s.backends[%d].address", path, me.index), me.err, "check the name, or write an IP address")
				continue
			}
			report(path, err, "")
			continue
		}
		targets[u.Name] = t
	}

	for i, l := range cfg.Listeners {
		tlsConfig, tlsDiags := tlsconf.Load(cfg, i)
		diags = append(diags, tlsDiags...)
		specs := make([]route.Spec, 0, len(cfg.Routes))
		for j, rc := range cfg.Routes {
			if !routeOnListener(rc, l.Name) {
				continue
			}
			path := fmt.Sprintf("routes[%d]", j)
			h, err := buildRoute(rc, targets[rc.Upstream], deps)
			if err != nil {
				report(path, err, "")
				continue
			}
			specs = append(specs, routeSpec(cfg, path, rc, h))
		}
		table, err := route.Build(specs)
		if err != nil {
			diags = append(diags, routeDiagnostics(cfg, err)...)
			continue
		}
		s.Listeners[l.Address] = &Listener{
			Name:     l.Name,
			Address:  l.Address,
			Table:    table,
			Trusted:  unmapPrefixes(l.TrustedProxies),
			Filter:   listenerFilter(l),
			Options:  server.OptionsFrom(l),
			TLS:      tlsConfig,
			Snapshot: s,
		}
	}
	if len(diags) > 0 {
		sortDiagnostics(diags)
		return nil, dedupe(diags)
	}
	return s, nil
}

// unmapPrefixes writes IPv4-mapped IPv6 prefixes (::ffff:10.0.0.0/104) as
// the IPv4 prefixes they mean, because client addresses are compared
// unmapped.
// listenerFilter compiles l's ip_filter, or returns nil when it has none.
func listenerFilter(l config.Listener) *ipfilter.Matcher {
	if l.IPFilter == nil {
		return nil
	}
	return ipfilter.Compile(*l.IPFilter)
}

func unmapPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
		}
		out = append(out, p)
	}
	return out
}

func routeOnListener(rc config.Route, listener string) bool {
	if len(rc.Listeners) == 0 {
		return true
	}
	for _, n := range rc.Listeners {
		if n == listener {
			return true
		}
	}
	return false
}

func buildTarget(s *Snapshot, u config.Upstream, deps Deps) (*proxy.Target, error) {
	members, ttl, err := Members(context.Background(), u, deps.Resolve)
	if err != nil {
		return nil, err
	}
	pool, err := deps.Pool(u.Name)
	if err != nil {
		return nil, err
	}
	policy, err := deps.Policy(PolicyKey(u), u)
	if err != nil {
		return nil, err
	}
	// The backups get a policy of their own: a policy keeps its state for
	// one pool of backends at a time.
	var backupPolicy lb.Policy
	for _, bc := range u.Backends {
		if bc.Backup {
			if backupPolicy, err = deps.Policy(PolicyKey(u)+"|backup", u); err != nil {
				return nil, err
			}
			break
		}
	}
	key := TransportKey(u)
	tr, err := deps.Transport(key, u)
	if err != nil {
		return nil, err
	}
	s.Transports[key] = tr
	if r, ok := tr.(proxy.Reconfigurable); ok {
		s.reconfigure = append(s.reconfigure, reconfiguration{r, u})
	}
	if u.HealthCheck != nil && deps.HealthCheck != nil {
		if err := deps.HealthCheck(u, pool); err != nil {
			return nil, fmt.Errorf("health_check: %w", err)
		}
	}
	t := &proxy.Target{
		Name:                  u.Name,
		Pool:                  pool,
		Policy:                policy,
		BackupPolicy:          backupPolicy,
		Key:                   keySource(u),
		Transport:             tr,
		Forwarded:             u.Forwarded,
		ResponseHeaderTimeout: u.Timeouts.ResponseHeader.D(),
		Retry:                 retryPolicy(u.Retries),
	}
	if u.Sticky != nil {
		t.Sticky = proxy.NewSticky(*u.Sticky, deps.StickyKey)
	}
	s.Upstreams[u.Name] = &Upstream{
		Config: u,
		Pool:   pool,
		Target: t,
		TTL:    ttl,
		plan:   pool.Plan(PoolSettings(u), members),
	}
	return t, nil
}

// buildRoute returns the route's handler: its middlewares, in the fixed
// order of the request path, around the proxy.
func buildRoute(rc config.Route, t *proxy.Target, deps Deps) (http.Handler, error) {
	if t == nil {
		return nil, fmt.Errorf("upstream %q failed to build", rc.Upstream)
	}
	for _, mc := range rc.Middlewares {
		if !slices.Contains(chainOrder[:], mc.Kind) {
			// A kind the config knows but the chain order does not
			// would be dropped without a word.
			return nil, fmt.Errorf("middleware %s has no place in the chain order", mc.Kind)
		}
	}
	mws := make([]middleware.Middleware, 0, len(rc.Middlewares))
	for _, order := range chainOrder {
		for _, mc := range rc.Middlewares {
			if mc.Kind != order {
				continue
			}
			mw, err := newMiddleware(rc, mc, deps)
			if err != nil {
				return nil, fmt.Errorf("middleware %s: %w", mc.Kind, err)
			}
			mws = append(mws, mw)
		}
	}
	opts := proxy.Options{RetryNonIdempotent: rc.RetryNonIdempotent}
	return middleware.Chain(proxy.New(t, opts, deps.Log), mws...), nil
}

// chainOrder is the fixed order of the request path, outermost first
// (DESIGN.md): obs, ipfilter, ratelimit, auth, waf, rewrite, cache, compress.
var chainOrder = [...]string{"ipfilter", "ratelimit", "auth", "cache", "compress"}

// newMiddleware is the one switch over middleware kinds; mc is one of
// rc's middlewares.
func newMiddleware(rc config.Route, mc config.Middleware, deps Deps) (middleware.Middleware, error) {
	route := rc.Name
	switch {
	case mc.IPFilter != nil:
		return ipfilter.New(*mc.IPFilter, deps.Log)
	case mc.RateLimit != nil:
		if deps.RateLimitZone == nil {
			return nil, fmt.Errorf("no rate-limit zones in this build")
		}
		zone := mc.RateLimit.Zone
		if zone == "" {
			zone = RouteLimiterZone(route)
		}
		st, err := deps.RateLimitZone(zone)
		if err != nil {
			return nil, fmt.Errorf("rate-limit zone %q: %w", zone, err)
		}
		return ratelimit.New(*mc.RateLimit, st, route, deps.Log)
	case mc.Auth != nil:
		return auth.New(*mc.Auth, deps.Log)
	case mc.Cache != nil:
		if deps.CacheZone == nil {
			return nil, fmt.Errorf("no cache zones in this build")
		}
		z, err := deps.CacheZone(mc.Cache.Zone)
		if err != nil {
			return nil, fmt.Errorf("cache zone %q: %w", mc.Cache.Zone, err)
		}
		return cache.New(*mc.Cache, z, cache.Options{Log: deps.Log, NormalizeAcceptEncoding: acceptEncodingChooser(rc)})
	case mc.Compress != nil:
		return compress.New(*mc.Compress, deps.Log)
	}
	return nil, fmt.Errorf("kind %q has no implementation", mc.Kind)
}

// acceptEncodingChooser returns the coding negotiation of rc's compress
// middleware, which sits inside the cache (chainOrder): the cache keys the
// Accept-Encoding variants it stores by the coding the compressor chose.
// nil when the route does not compress.
func acceptEncodingChooser(rc config.Route) func(string) string {
	for _, mc := range rc.Middlewares {
		if mc.Compress != nil {
			return compress.Chooser(*mc.Compress)
		}
	}
	return nil
}

func routeSpec(cfg *config.Config, path string, rc config.Route, h http.Handler) route.Spec {
	m := rc.Match
	return route.Spec{
		Name:       rc.Name,
		Where:      where(cfg, path),
		Hosts:      m.Host,
		Path:       m.Path,
		PathPrefix: m.PathPrefix,
		PathRegex:  m.PathRegex,
		Methods:    m.Methods,
		Headers:    m.Headers,
		Query:      m.Query,
		Cookies:    m.Cookies,
		Priority:   rc.Priority,
		Handler:    h,
	}
}

func where(cfg *config.Config, path string) string {
	p := cfg.Pos(path)
	file := cfg.File
	if file == "" {
		file = "config"
	}
	return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Col)
}

func sortDiagnostics(ds config.Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// routeDiagnostics turns route build failures into diagnostics at the
// route concerned: for a conflict, the later route of the pair.
func routeDiagnostics(cfg *config.Config, err error) config.Diagnostics {
	var diags config.Diagnostics
	at := func(name string) (string, config.Pos) {
		for i, rc := range cfg.Routes {
			if rc.Name == name {
				path := fmt.Sprintf("routes[%d]", i)
				return path, cfg.Pos(path)
			}
		}
		return "routes", config.Pos{}
	}
	var ce *route.ConflictError
	if errors.As(err, &ce) {
		for _, c := range ce.Conflicts {
			path, pos := at(c.Name)
			diags = append(diags, config.Diagnostic{File: cfg.File, Pos: pos, Path: path, Message: c.Message(), Hint: c.Hint})
		}
		return diags
	}
	var joined interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &joined) {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var se *route.SpecError
		if errors.As(e, &se) {
			path, pos := at(se.Name)
			diags = append(diags, config.Diagnostic{File: cfg.File, Pos: pos, Path: path + ".match", Message: se.Err.Error()})
			continue
		}
		diags = append(diags, config.Diagnostic{File: cfg.File, Path: "routes", Message: e.Error()})
	}
	return diags
}

// dedupe drops repeated diagnostics (a route on several listeners is built
// once per listener).
func dedupe(ds config.Diagnostics) config.Diagnostics {
	seen := make(map[string]bool, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if k := d.String(); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}
