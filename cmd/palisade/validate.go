package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"palisade/internal/cache"
	"palisade/internal/config"
	"palisade/internal/gateway"
	"palisade/internal/obs"
	"palisade/internal/proxy"
	"palisade/internal/ratelimit"
	"palisade/internal/resolve"
	"palisade/internal/snapshot"
	"palisade/internal/upstream"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate [-c palisade.yaml]", stdout, stderr)
	path := fs.String("c", "palisade.yaml", "config file")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	cfg, err := config.Load(*path)
	if err == nil {
		err = dryBuild(cfg)
	}
	if err != nil {
		printConfigError(stderr, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: ok (%d listeners, %d routes, %d upstreams)\n", *path, len(cfg.Listeners), len(cfg.Routes), len(cfg.Upstreams))
	return exitOK
}

// dryBuild compiles cfg as a reload would, without opening anything, so
// validate also reports what only the build can see (route conflicts, an
// access log file that could not be opened: checked, not created, a
// backend host name that does not resolve). Names are resolved as run
// resolves them, through each upstream's resolve.nameserver.
func dryBuild(cfg *config.Config) error {
	res := resolve.New(nil)
	var made []proxy.Transport
	var zones []*cache.Zone
	var limiters []ratelimit.Store
	defer func() {
		for _, t := range made {
			t.Close()
		}
		for _, z := range zones {
			z.Close()
		}
		for _, l := range limiters {
			if c, ok := l.(io.Closer); ok {
				c.Close()
			}
		}
	}()
	_, err := snapshot.Build(cfg, snapshot.Deps{
		Log: slog.New(slog.DiscardHandler),
		Pool: func(name string) (*upstream.Pool, error) {
			return upstream.NewPool(name, nil), nil
		},
		Policy: snapshot.NewPolicy,
		Resolve: func(ctx context.Context, u config.Upstream, host string) ([]netip.Addr, time.Duration, error) {
			return res.Lookup(ctx, u.Resolve.Nameserver, host)
		},
		Transport: func(_ string, u config.Upstream) (proxy.Transport, error) {
			t, err := proxy.NewTransport(u, slog.New(slog.DiscardHandler))
			if err == nil {
				made = append(made, t)
			}
			return t, err
		},
		AccessLog: func(c config.AccessLog) (*obs.AccessLog, error) { return nil, obs.CheckAccessLog(c.Output) },
		// Building the zone checks its store; it is closed after the
		// build.
		CacheZone: func(name string) (*cache.Zone, error) {
			for _, zc := range cfg.CacheZones {
				if zc.Name == name {
					z, err := gateway.NewZone(zc, slog.New(slog.DiscardHandler))
					if err == nil {
						zones = append(zones, z)
					}
					return z, err
				}
			}
			return nil, fmt.Errorf("no cache zone %q", name)
		},
		// A Redis zone does not connect until its first Take, so
		// building it checks its settings only.
		RateLimitZone: func(name string) (ratelimit.Store, error) {
			zc, ok := gateway.LimiterZone(cfg, name)
			if !ok {
				return nil, fmt.Errorf("no rate-limit zone %q", name)
			}
			l, err := gateway.NewLimiter(zc, slog.New(slog.DiscardHandler))
			if err == nil {
				limiters = append(limiters, l)
			}
			return l, err
		},
	})
	return err
}
