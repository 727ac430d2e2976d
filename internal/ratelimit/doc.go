// Package ratelimit is the rate-limit middleware and the stores that hold
// its state.
//
// Every limit is GCRA, the generic cell rate algorithm: a key's whole state
// is one number, its theoretical arrival time (TAT), the time at which the
// key would be back to an idle, full burst if it sent nothing more. A
// request costing n is allowed when TAT + n·T − τ ≤ now, where T is the
// emission interval (the period over the rate's count) and τ = T·burst the
// tolerance; allowing it moves TAT to max(TAT, now) + n·T. One number per
// key (no token count and refill time to keep consistent) is what makes
// the memory store small and the Redis store one short Lua script.
//
// A Store takes from a key's allowance: Memory (sharded, bounded, the
// default) or Redis (one script, one round trip, the server's clock, so a
// fleet agrees). The gateway owns the stores, by zone, across reloads; the
// middleware only computes the key, calls Take and answers.
//
// A Redis store that fails goes down for a short backoff and applies its
// zone's failure policy meanwhile (open, closed, or a local memory store),
// logging once per change of state rather than once per request; a Redis
// that hangs costs a request at most the zone's timeout.
package ratelimit
