package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// RateLimitZone is a named rate-limit store that routes share
// (ratelimit_zones). Every route naming a zone draws on one store, however
// many listeners serve it, so a key limited on one route is limited on all.
type RateLimitZone struct {
	Name string `yaml:"name"`
	// Store is memory (default) or redis.
	Store string `yaml:"store"`
	// MaxKeys bounds the keys a memory store holds (default 1,000,000);
	// the idle go first. A redis zone's local fallback has the same bound.
	MaxKeys int `yaml:"max_keys"`
	// OnFailure says what a redis zone does while Redis fails: local
	// (default: limit with a memory store of this process), open (allow)
	// or closed (refuse with 503).
	OnFailure string `yaml:"on_failure"`
	// Redis configures a redis zone.
	Redis *RateLimitRedis `yaml:"redis"`
}

// RateLimitRedis is a zone kept in Redis, shared by a fleet.
type RateLimitRedis struct {
	// Address is host:port of the Redis server (required).
	Address  string `yaml:"address"`
	Username string `yaml:"username"`
	// Password; write it as ${ENV}.
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// KeyPrefix begins every key the zone writes (default "palisade:rl:").
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds every Redis command (default 50ms): a Redis that
	// hangs costs a request at most this long.
	Timeout Duration `yaml:"timeout"`
}

// RateLimit is a route's rate limit (kind: ratelimit): GCRA, rate per
// period with a burst, for each key. docs/ratelimit.md describes every key.
type RateLimit struct {
	// Rate is the sustained rate, "100/s", "6000/m" or "10/h" (required).
	Rate Rate `yaml:"rate"`
	// Burst is how many requests a key may send at once after being idle
	// (default 0: the rate's count, so 100/s allows 100 at once).
	Burst int `yaml:"burst"`
	// Key lists the parts combined into the key the limit counts: client_ip,
	// route, header:NAME, cookie:NAME, jwt_claim:NAME (default [client_ip]).
	Key StringList `yaml:"key"`
	// Zone names the ratelimit_zones entry that holds the state (default:
	// a memory store of this route's own).
	Zone string `yaml:"zone"`
	// Status answers a request over the limit (default 429).
	Status int `yaml:"status"`
	// Headers says which responses carry the RateLimit and
	// RateLimit-Policy fields: denied (default), always or off.
	Headers string `yaml:"headers"`
}

// RateLimitDefaultMaxKeys bounds a zone's memory store unless max_keys says
// otherwise; RateLimitRouteMaxKeys bounds the store of a route without a
// zone.
const (
	RateLimitDefaultMaxKeys = 1_000_000
	RateLimitRouteMaxKeys   = 100_000
)

var _ middlewareBody = (*RateLimit)(nil)

func (r *RateLimit) setDefaults() {
	r.Key = StringList{"client_ip"}
	r.Status = 429
	r.Headers = "denied"
}

func (z *RateLimitZone) setDefaults() {
	z.Store = "memory"
	z.MaxKeys = RateLimitDefaultMaxKeys
	z.OnFailure = "local"
}

func (r *RateLimitRedis) setDefaults() {
	r.KeyPrefix = "palisade:rl:"
	r.Timeout = Duration(50 * time.Millisecond)
}

var (
	_ defaulter = (*RateLimitZone)(nil)
	_ defaulter = (*RateLimitRedis)(nil)
)

// EffectiveBurst returns the burst the limit uses: Burst, or the rate's
// count when Burst is 0.
func (r *RateLimit) EffectiveBurst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return int(r.Rate.Count)
}

func rateLimitKeyHint() string {
	return "write client_ip, route, header:NAME, cookie:NAME or jwt_claim:NAME"
}

func (r *RateLimit) check() []Problem {
	var ps []Problem
	if r.Rate.Count == 0 {
		ps = append(ps, Problem{Field: "rate", Message: "missing", Hint: "write a rate such as 100/s or 6000/m"})
	}
	if r.Burst < 0 {
		ps = append(ps, Problem{Field: "burst", Message: "must not be negative", Hint: "write 0 for the rate's count"})
	}
	if len(r.Key) == 0 {
		ps = append(ps, Problem{Field: "key", Message: "empty", Hint: "remove the key for the default client_ip"})
	}
	for i, k := range r.Key {
		src, name, hasName := strings.Cut(k, ":")
		switch {
		case !hasName && (k == "client_ip" || k == "route"):
		case hasName && (src == "header" || src == "cookie") && isToken(name):
		case hasName && src == "jwt_claim" && name != "":
		default:
			ps = append(ps, Problem{Field: fmt.Sprintf("key[%d]", i), Message: fmt.Sprintf("unknown key part %q", k), Hint: rateLimitKeyHint()})
		}
	}
	if r.Status < 400 || r.Status > 599 {
		ps = append(ps, Problem{Field: "status", Message: fmt.Sprintf("%d is not an error status", r.Status), Hint: "write 429 or 503"})
	}
	if !slices.Contains(rateLimitHeaders(), r.Headers) {
		ps = append(ps, Problem{Field: "headers", Message: fmt.Sprintf("unknown value %q", r.Headers), Hint: oneOfHint(r.Headers, "valid values", rateLimitHeaders())})
	}
	return ps
}

func rateLimitHeaders() []string  { return []string{"denied", "always", "off"} }
func rateLimitStores() []string   { return []string{"memory", "redis"} }
func rateLimitFailures() []string { return []string{"local", "open", "closed"} }

func (v *validator) rateLimitZones() []string {
	c := v.cfg
	names := make([]string, len(c.RateLimitZones))
	for i, z := range c.RateLimitZones {
		names[i] = z.Name
	}
	valid := v.names("ratelimit_zones", "rate-limit zone", "api", names)
	for i, z := range c.RateLimitZones {
		p := index("ratelimit_zones", i)
		if !slices.Contains(rateLimitStores(), z.Store) {
			v.report(p+".store", fmt.Sprintf("unknown store %q", z.Store), oneOfHint(z.Store, "known stores", rateLimitStores()))
		}
		if z.MaxKeys <= 0 {
			v.report(p+".max_keys", "must be positive", "write 1000000")
		}
		if !slices.Contains(rateLimitFailures(), z.OnFailure) {
			v.report(p+".on_failure", fmt.Sprintf("unknown policy %q", z.OnFailure), oneOfHint(z.OnFailure, "valid policies", rateLimitFailures()))
		}
		v.redisZone(p, z.Store, z.Redis != nil)
		if z.Redis != nil {
			v.redisServer(p+".redis", z.Redis.Address, z.Redis.Timeout, z.Redis.DB, "50ms")
		}
	}
	return valid
}

// rateLimitRoutes checks that every ratelimit middleware naming a zone
// names a defined one.
func (v *validator) rateLimitRoutes(zones []string) {
	for i, r := range v.cfg.Routes {
		for j, m := range r.Middlewares {
			if m.RateLimit == nil || m.RateLimit.Zone == "" {
				continue
			}
			if !slices.Contains(zones, m.RateLimit.Zone) {
				p := fmt.Sprintf("routes[%d].middlewares[%d].zone", i, j)
				v.report(p, fmt.Sprintf("unknown rate-limit zone %q (%s)", m.RateLimit.Zone, defined("rate-limit zones", zones)), didYouMean(m.RateLimit.Zone, zones))
			}
		}
	}
}
