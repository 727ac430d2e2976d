package snapshot

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"palisade/internal/config"
	"palisade/internal/lb"
	"palisade/internal/proxy"
	"palisade/internal/upstream"
)

// resolveTimeout bounds the resolution of one backend host name during a
// build.
const resolveTimeout = 5 * time.Second

// memberError is a backend address that could not be resolved.
type memberError struct {
	index int
	err   error
}

func (e *memberError) Error() string { return e.err.Error() }
func (e *memberError) Unwrap() error { return e.err }

// Members returns the pool members of u: one per backend written as an IP
// address, one per address of a backend written as a host name, with the
// shortest TTL of those answers (0 when u names no host). A name whose
// answer has no TTL counts as resolve.interval. resolve nil uses the
// system resolver, whose answers carry no TTL.
func Members(ctx context.Context, u config.Upstream, resolve func(context.Context, config.Upstream, string) ([]netip.Addr, time.Duration, error)) ([]upstream.Member, time.Duration, error) {
	members := make([]upstream.Member, 0, len(u.Backends))
	seen := make(map[string]bool, len(u.Backends))
	var ttl time.Duration
	for i, bc := range u.Backends {
		host, port, err := net.SplitHostPort(bc.Address)
		if err != nil {
			return nil, 0, &memberError{i, err}
		}
		m := upstream.Member{Weight: bc.Weight, Backup: bc.Backup, Drain: bc.Drain}
		if a, err := netip.ParseAddr(host); err == nil {
			m.Addr = netip.AddrPortFrom(a.Unmap(), mustPort(port)).String()
			if !seen[m.Addr] {
				seen[m.Addr] = true
				members = append(members, m)
			}
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		addrs, t, err := lookup(rctx, u, host, resolve)
		cancel()
		if err != nil {
			return nil, 0, &memberError{i, fmt.Errorf("resolving %q: %w", host, err)}
		}
		if len(addrs) == 0 {
			return nil, 0, &memberError{i, fmt.Errorf("resolving %q: no addresses", host)}
		}
		if t <= 0 {
			t = u.Resolve.Interval.D() // a name without a TTL: refreshed on the interval
		}
		if ttl == 0 || t < ttl {
			ttl = t
		}
		for _, a := range addrs {
			mm := m
			mm.Addr = netip.AddrPortFrom(a.Unmap(), mustPort(port)).String()
			if !seen[mm.Addr] {
				seen[mm.Addr] = true
				members = append(members, mm)
			}
		}
	}
	return members, ttl, nil
}

func lookup(ctx context.Context, u config.Upstream, host string, resolve func(context.Context, config.Upstream, string) ([]netip.Addr, time.Duration, error)) ([]netip.Addr, time.Duration, error) {
	if resolve != nil {
		return resolve(ctx, u, host)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	return addrs, 0, err
}

// HasHostNames reports whether u writes a backend as a host name.
func HasHostNames(u config.Upstream) bool {
	for _, bc := range u.Backends {
		host, _, err := net.SplitHostPort(bc.Address)
		if err != nil {
			continue
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return true
		}
	}
	return false
}

func mustPort(s string) uint16 {
	n, _ := strconv.ParseUint(s, 10, 16)
	return uint16(n)
}

// PoolSettings returns the settings a pool takes from u.
func PoolSettings(u config.Upstream) upstream.Settings {
	ph := u.PassiveHealth
	return upstream.Settings{
		SlowStart: u.SlowStart.D(),
		Passive: upstream.PassiveSettings{
			Enabled:             ph.Enabled,
			ConsecutiveFailures: ph.ConsecutiveFailures,
			ErrorRatio:          float64(ph.ErrorRatio),
			MinRequests:         ph.MinRequests,
			Window:              ph.Window.D(),
			EjectTime:           ph.EjectTime.D(),
			MaxEjectTime:        ph.MaxEjectTime.D(),
			MaxEjected:          float64(ph.MaxEjected),
		},
		MaxRequests:       int64(u.Limits.MaxRequests),
		MaxPending:        u.Limits.MaxPending,
		QueueTimeout:      u.Limits.QueueTimeout.D(),
		RetryBudget:       float64(u.Retries.Budget),
		RetryMinPerSecond: u.Retries.MinPerSecond,
		TrackLatency:      u.Policy == "ewma",
		EWMADecay:         u.EWMADecay.D(),
	}
}

// PolicyKey identifies an upstream's policy: a reload that keeps it keeps
// the policy's state (round-robin positions, smooth-weighted counters,
// hash rings).
func PolicyKey(u config.Upstream) string {
	return fmt.Sprintf("%s|%s|%v", u.Name, u.Policy, float64(u.BalanceFactor))
}

// NewPolicy is lb.New, for a Deps.Policy that keeps nothing.
func NewPolicy(_ string, u config.Upstream) (lb.Policy, error) { return lb.New(u) }

func keySource(u config.Upstream) proxy.KeySource {
	switch u.Policy {
	case "hash", "consistent_hash":
		return proxy.ParseKeySource(u.HashKey)
	case "ip_hash":
		return proxy.KeySource{Kind: proxy.KeyClientIP}
	}
	return proxy.KeySource{Kind: proxy.KeyNone}
}

func retryPolicy(r config.Retries) proxy.RetryPolicy {
	rp := proxy.RetryPolicy{
		Attempts:      r.Attempts,
		PerTryTimeout: r.PerTryTimeout.D(),
		NonIdempotent: r.NonIdempotent,
		BodyBuffer:    int64(r.BodyBuffer),
	}
	for _, s := range r.OnStatus {
		rp.OnStatus.Add(s)
	}
	return rp
}
