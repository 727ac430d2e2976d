package lb

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// Policy chooses a backend for one request. Pick returns nil when no backend
// in pool is available. pool is only read, and Pick returns one of its
// elements; a retry passes the pool minus the backends already tried, in
// the same order. key is what the caller hashed for the hash policies (see
// HashString and HashAddr); the others ignore it. Pick may be called
// concurrently and allocates nothing.
//
// A policy may remember facts about the last pool it saw (weights, address
// hashes, a hash ring), keyed by the slice's identity: the caller passes
// the same slice for one generation of an upstream's members and a new
// slice when they change, as upstream.Pool.Primaries does.
type Policy interface {
	Pick(pool []*upstream.Backend, key uint64) *upstream.Backend
}

// New returns a fresh policy for the upstream cfg, which has been
// validated: every upstream gets its own, so that round-robin positions,
// caches and rings are not shared. New fails on an unknown policy name and
// on a balance_factor that is not above 1 (0 means the default, 1.25).
func New(cfg config.Upstream) (Policy, error) {
	switch cfg.Policy {
	case "", "round_robin":
		return &RoundRobin{}, nil
	case "least_conn":
		return &LeastConn{}, nil
	case "p2c":
		return &P2C{}, nil
	case "random":
		return &Random{}, nil
	case "ip_hash":
		return &IPHash{}, nil
	case "hash":
		return &Hash{}, nil
	case "consistent_hash":
		f := float64(cfg.BalanceFactor)
		if f == 0 {
			f = DefaultBalanceFactor
		}
		if !(f > 1) {
			return nil, fmt.Errorf("balance_factor must be above 1, got %v", f)
		}
		return &ConsistentHash{BalanceFactor: f}, nil
	case "ewma":
		return &EWMA{}, nil
	}
	return nil, fmt.Errorf("unknown balancing policy %q", cfg.Policy)
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// HashString returns the key of s for Pick: FNV-1a followed by a 64-bit
// finaliser, so that every bit of the result depends on every byte. It is
// stable across processes and machines (no per-process seed), so every
// instance of a fleet maps a key to the same backend. It allocates nothing.
func HashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix64(h)
}

// HashBytes is HashString for a byte slice: HashBytes([]byte(s)) ==
// HashString(s).
func HashBytes(p []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range p {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix64(h)
}

// HashAddr returns the key of a client address for Pick. An IPv4 address
// and its IPv4-mapped IPv6 form hash alike, and the zone is ignored, so a
// dual-stack listener does not split one client in two.
func HashAddr(a netip.Addr) uint64 {
	b := a.As16()
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
		uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	return mix64(mix64(hi^fnvOffset) ^ lo)
}

// mix64 is SplitMix64's finaliser: a bijection on uint64 whose output bits
// each depend on every input bit. Keys and address hashes pass through it
// before they are compared, so that nearby keys (0, 1, 2...) spread.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	return z ^ z>>31
}

// below returns a value uniform in [0, n) from the random r (Lemire's
// multiply-shift; the bias is below n/2^64).
func below(r, n uint64) uint64 {
	hi, _ := bits.Mul64(r, n)
	return hi
}

// fastRand is a small generator for the loops that need a random number
// per backend (tie breaks): seeded once per Pick from the runtime's
// generator, then a few instructions per number (wyrand). It lives on the
// stack of one Pick.
type fastRand struct{ s uint64 }

func newFastRand() fastRand { return fastRand{rand.Uint64()} }

func (r *fastRand) next() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// fullWeight is b's effective weight when slow start does not hold it back.
func fullWeight(b *upstream.Backend) int64 { return int64(b.Weight()) * 256 }

// scanWeighted returns an available backend of pool other than skip (nil:
// none skipped) chosen with probability proportional to its effective
// weight, or nil when there is none. It reads every backend twice: the
// slow path of the sampling policies.
func scanWeighted(pool []*upstream.Backend, skip *upstream.Backend) *upstream.Backend {
	var total uint64
	for _, b := range pool {
		if b != skip && b.Available() {
			total += uint64(b.EffectiveWeight())
		}
	}
	if total == 0 {
		return nil
	}
	t := below(rand.Uint64(), total)
	var last *upstream.Backend
	for _, b := range pool {
		if b == skip || !b.Available() {
			continue
		}
		last = b
		w := uint64(b.EffectiveWeight())
		if t < w {
			return b
		}
		t -= w
	}
	// Weights or availability changed between the passes.
	return last
}
