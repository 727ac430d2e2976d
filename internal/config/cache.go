package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// CacheZone is a named cache store that routes share (cache_zones). Every
// route naming a zone uses one store, however many listeners serve it.
type CacheZone struct {
	Name string `yaml:"name"`
	// Store is memory (default) or redis.
	Store string `yaml:"store"`
	// MaxSize bounds a memory zone's total bytes, bodies and headers
	// (default 256MiB).
	MaxSize Size `yaml:"max_size"`
	// MaxObjectSize bounds one stored response (default 8MiB); a larger
	// one is passed through and not stored, even when it grows past the
	// limit in the middle of its body.
	MaxObjectSize Size `yaml:"max_object_size"`
	// Redis configures a redis zone.
	Redis *CacheRedis `yaml:"redis"`
}

// CacheRedis is a zone stored in Redis, shared by a fleet.
type CacheRedis struct {
	// Address is host:port of the Redis server (required).
	Address  string `yaml:"address"`
	Username string `yaml:"username"`
	// Password; write it as ${ENV}.
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// KeyPrefix begins every key the zone writes (default "palisade:cache:").
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds every Redis command (default 100ms); an outage
	// turns into misses, never slow requests.
	Timeout Duration `yaml:"timeout"`
	// MaxObjectSize bounds what the zone stores in Redis (default 1MiB).
	MaxObjectSize Size `yaml:"max_object_size"`
}

// Cache is a route's HTTP cache (kind: cache), an RFC 9111 shared cache
// in front of the route's upstream. docs/cache.md describes every key.
type Cache struct {
	// Zone names the cache_zones entry that stores this route's
	// responses (required).
	Zone string `yaml:"zone"`
	// Key lists the parts of the cache key, in order, from method,
	// scheme, host, path, query, header:NAME, cookie:NAME (default
	// [method, scheme, host, path, query]).
	Key []string `yaml:"key"`
	// IgnoreClientDirectives ignores the request's Cache-Control and
	// Pragma, as nginx does (default false: they are honoured).
	IgnoreClientDirectives bool `yaml:"ignore_client_directives"`
	// StoreSetCookie stores responses carrying Set-Cookie (default
	// false).
	StoreSetCookie bool `yaml:"store_set_cookie"`
	// Heuristic freshness for responses with Last-Modified and no
	// explicit lifetime (RFC 9111 §4.2.2): Fraction of the age since
	// Last-Modified (default 10%), at most HeuristicMax (default 24h).
	HeuristicFraction Ratio    `yaml:"heuristic_fraction"`
	HeuristicMax      Duration `yaml:"heuristic_max"`
	// DefaultTTL gives responses without any freshness information a
	// lifetime (default 0: not stored unless the RFC makes them fresh).
	DefaultTTL Duration `yaml:"default_ttl"`
	// StaleWhileRevalidate and StaleIfError bound the stale windows of
	// RFC 5861 that responses ask for (defaults 1m and 1h); a response's
	// own directive wins when shorter. The route may grant them to
	// responses that do not ask by writing ForceStale.
	StaleWhileRevalidate Duration `yaml:"stale_while_revalidate"`
	StaleIfError         Duration `yaml:"stale_if_error"`
	ForceStale           bool     `yaml:"force_stale"`
	// TargetedField is this cache's own targeted Cache-Control field
	// (RFC 9213), which wins over CDN-Cache-Control and Cache-Control and
	// is removed before the response leaves (default
	// Palisade-Cache-Control; "" turns it off). CDN-Cache-Control is
	// honoured unless CDNCacheControl is false (default true).
	TargetedField   string `yaml:"targeted_field"`
	CDNCacheControl bool   `yaml:"cdn_cache_control"`
	// TagHeaders name the response fields whose values tag a response
	// for purge by tag (default [Surrogate-Key, Cache-Tag]).
	TagHeaders []string `yaml:"tag_headers"`
	// Bypass sends matching requests to the upstream without looking in
	// the cache or storing.
	Bypass CacheBypass `yaml:"bypass"`
	// Purge allows PURGE requests from these client addresses (default:
	// none; the admin API purges too).
	Purge CachePurge `yaml:"purge"`
	// LockTimeout bounds how long a request waits for a concurrent miss
	// of the same key to fill it (default 5s); then it goes to the
	// upstream itself.
	LockTimeout Duration `yaml:"lock_timeout"`
	// Status adds the Cache-Status field (RFC 9211) to responses (default
	// true), named Name (default Palisade).
	Status     bool   `yaml:"status"`
	StatusName string `yaml:"status_name"`
}

// CacheBypass says which requests skip the cache.
type CacheBypass struct {
	Headers []string `yaml:"headers"`
	Cookies []string `yaml:"cookies"`
	Methods []string `yaml:"methods"`
}

// CachePurge says who may send PURGE requests.
type CachePurge struct {
	Allow []netip.Prefix `yaml:"allow"`
}

var _ middlewareBody = (*Cache)(nil)

func (c *Cache) setDefaults() {
	c.Key = []string{"method", "scheme", "host", "path", "query"}
	c.HeuristicFraction = 0.1
	c.HeuristicMax = Duration(24 * time.Hour)
	c.StaleWhileRevalidate = Duration(time.Minute)
	c.StaleIfError = Duration(time.Hour)
	c.TargetedField = "Palisade-Cache-Control"
	c.CDNCacheControl = true
	c.TagHeaders = []string{"Surrogate-Key", "Cache-Tag"}
	c.LockTimeout = Duration(5 * time.Second)
	c.Status = true
	c.StatusName = "Palisade"
}

func (z *CacheZone) setDefaults() {
	z.Store = "memory"
	z.MaxSize = 256 << 20
	z.MaxObjectSize = 8 << 20
}

func (r *CacheRedis) setDefaults() {
	r.KeyPrefix = "palisade:cache:"
	r.Timeout = Duration(100 * time.Millisecond)
	r.MaxObjectSize = 1 << 20
}

var (
	_ defaulter = (*CacheZone)(nil)
	_ defaulter = (*CacheRedis)(nil)
)

func (c *Cache) check() []Problem {
	var ps []Problem
	if c.Zone == "" {
		ps = append(ps, Problem{Field: "zone", Message: "missing", Hint: "name a zone of cache_zones"})
	}
	if len(c.Key) == 0 {
		ps = append(ps, Problem{Field: "key", Message: "empty", Hint: "remove the key for the default [method, scheme, host, path, query]"})
	}
	for i, k := range c.Key {
		src, name, hasName := strings.Cut(k, ":")
		switch {
		case !hasName && slices.Contains([]string{"method", "scheme", "host", "path", "query"}, k):
		case hasName && (src == "header" || src == "cookie") && name != "" && isToken(name):
		default:
			ps = append(ps, Problem{Field: fmt.Sprintf("key[%d]", i), Message: fmt.Sprintf("unknown key part %q", k),
				Hint: "write method, scheme, host, path, query, header:NAME or cookie:NAME"})
		}
	}
	if c.HeuristicFraction > 1 {
		ps = append(ps, Problem{Field: "heuristic_fraction", Message: fmt.Sprintf("%v is more than 100%%", c.HeuristicFraction), Hint: "write 10%"})
	}
	if c.TargetedField != "" && !isToken(c.TargetedField) {
		ps = append(ps, Problem{Field: "targeted_field", Message: fmt.Sprintf("%q is not a header name", c.TargetedField)})
	}
	for i, h := range c.TagHeaders {
		if !isToken(h) {
			ps = append(ps, Problem{Field: fmt.Sprintf("tag_headers[%d]", i), Message: fmt.Sprintf("%q is not a header name", h)})
		}
	}
	for i, h := range c.Bypass.Headers {
		if !isToken(h) {
			ps = append(ps, Problem{Field: fmt.Sprintf("bypass.headers[%d]", i), Message: fmt.Sprintf("%q is not a header name", h)})
		}
	}
	if c.LockTimeout <= 0 {
		ps = append(ps, Problem{Field: "lock_timeout", Message: "must be positive", Hint: "write 5s"})
	}
	if c.Status && !isToken(c.StatusName) {
		ps = append(ps, Problem{Field: "status_name", Message: fmt.Sprintf("%q is not a token", c.StatusName), Hint: "write Palisade"})
	}
	return ps
}

// cacheStores are the values CacheZone.Store accepts.
func cacheStores() []string { return []string{"memory", "redis"} }

func (v *validator) cacheZones() []string {
	c := v.cfg
	names := make([]string, len(c.CacheZones))
	for i, z := range c.CacheZones {
		names[i] = z.Name
	}
	valid := v.names("cache_zones", "cache zone", "default", names)
	for i, z := range c.CacheZones {
		p := index("cache_zones", i)
		if !slices.Contains(cacheStores(), z.Store) {
			v.report(p+".store", fmt.Sprintf("unknown store %q", z.Store), oneOfHint(z.Store, "known stores", cacheStores()))
		}
		if z.MaxSize <= 0 {
			v.report(p+".max_size", "must be positive", "write 256MiB")
		}
		if z.MaxObjectSize <= 0 || (z.Store == "memory" && z.MaxObjectSize > z.MaxSize) {
			v.report(p+".max_object_size", "must be positive and at most max_size", "write 8MiB")
		}
		v.redisZone(p, z.Store, z.Redis != nil)
		if z.Redis != nil {
			v.redisServer(p+".redis", z.Redis.Address, z.Redis.Timeout, z.Redis.DB, "100ms")
		}
	}
	return valid
}

// cacheRoutes checks that every cache middleware names a defined zone.
func (v *validator) cacheRoutes(zones []string) {
	for i, r := range v.cfg.Routes {
		for j, m := range r.Middlewares {
			if m.Cache == nil || m.Cache.Zone == "" {
				continue
			}
			if !slices.Contains(zones, m.Cache.Zone) {
				p := fmt.Sprintf("routes[%d].middlewares[%d].zone", i, j)
				v.report(p, fmt.Sprintf("unknown cache zone %q (%s)", m.Cache.Zone, defined("cache zones", zones)), didYouMean(m.Cache.Zone, zones))
			}
		}
	}
}

// redisZone checks that a zone at p has a redis block exactly when its
// store is redis (cache and rate-limit zones alike).
func (v *validator) redisZone(p, store string, hasRedis bool) {
	switch {
	case store == "redis" && !hasRedis:
		v.report(p+".redis", "missing", "a redis zone needs redis: {address: 127.0.0.1:6379}")
	case store != "redis" && hasRedis:
		v.report(p+".redis", "set on a "+store+" zone", "remove it, or write store: redis")
	}
}

// redisServer checks the connection settings of a Redis block at rp;
// timeoutHint is the default timeout, offered as the fix.
func (v *validator) redisServer(rp, address string, timeout Duration, db int, timeoutHint string) {
	if address == "" {
		v.report(rp+".address", "missing", "write host:port, like 127.0.0.1:6379")
	} else if _, problem, hint := checkHostPort(address, false); problem != "" {
		v.report(rp+".address", fmt.Sprintf("%q %s", address, problem), hint)
	}
	if timeout <= 0 {
		v.report(rp+".timeout", "must be positive", "write "+timeoutHint)
	}
	if db < 0 {
		v.report(rp+".db", "must not be negative", "")
	}
}
