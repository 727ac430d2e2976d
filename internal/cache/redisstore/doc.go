// Package redisstore is a cache.Store in Redis, so that a fleet of Palisade
// instances shares one cache: a response stored through one is a hit on the
// others.
//
// It keeps bytes by key and makes no RFC 9111 decision. An entry is one
// Redis string in a compact, versioned binary encoding (encoding.go) that
// expires in Redis at Entry.Expires; a tag is a Redis set of entry keys.
// What shapes the package is failure: a cache in front of an upstream must
// never turn a Redis outage into slow or failed requests, so every command
// is bounded by the zone's timeout, the pool is bounded, nothing is
// retried, and a failure takes the store "down" (health.go): for a backoff
// of 100ms doubling to 1s it answers every call at once with
// ErrUnavailable, which the cache treats as a miss, while one background
// PING at a time probes Redis. It logs one line when Redis goes down, with
// the error, and one when it is back. Redis 7.0 or newer is required (SET
// PXAT, PEXPIREAT NX and GT).
package redisstore
