// Package cache is Palisade's RFC 9111 shared HTTP cache: a middleware that
// sits in front of a route's upstream (and outside compression, so that it
// stores encoded variants and a hit costs no compression), and a Store
// interface with a memory store (cache/memstore, byte-bounded, the default)
// and a Redis store (cache/redisstore) that a fleet shares. Every RFC 9111
// decision (storable, fresh, revalidate, Vary variant, stale-*, coalescing,
// purge) lives in this package; a store only keeps bytes by key.
package cache
