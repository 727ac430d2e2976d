package lb

import "palisade/internal/upstream"

// LeastConn sends a request to the available backend with the fewest
// requests in flight relative to its effective weight, ignoring key: it
// compares InFlight/EffectiveWeight, so a backend of weight 2 carries
// twice the requests of one of weight 1 before it is passed over. Among
// backends tied for the least load one is drawn at random in proportion to
// its effective weight, so idle backends share the traffic by weight
// rather than the first one taking it all, as nginx's least_conn does
// with its weighted round robin among ties. The zero value is ready to
// use.
//
// Pick reads every backend of the pool, O(n) with no lock: finding the
// least loaded backend needs every backend's load. P2C gets close to it in
// constant time.
type LeastConn struct{}

var _ Policy = (*LeastConn)(nil)

// Pick returns a least loaded available backend.
func (*LeastConn) Pick(pool []*upstream.Backend, _ uint64) *upstream.Backend {
	var (
		best       *upstream.Backend
		bestIn     int64
		bestW      int64
		tiedWeight uint64
		rng        fastRand
	)
	for _, b := range pool {
		if !b.Available() {
			continue
		}
		in, w := b.InFlight(), b.EffectiveWeight()
		if best != nil {
			// in/w against bestIn/bestW without a division; in-flight
			// counts and weights (at most 2^31 × 256) keep the products
			// far from overflow.
			l, r := in*bestW, bestIn*w
			if l > r {
				continue
			}
			if l == r {
				// Weighted reservoir sampling over the ties.
				if rng.s == 0 {
					rng = newFastRand()
				}
				tiedWeight += uint64(w)
				if below(rng.next(), tiedWeight) >= uint64(w) {
					continue
				}
				best, bestIn, bestW = b, in, w
				continue
			}
		}
		best, bestIn, bestW = b, in, w
		tiedWeight = uint64(w)
	}
	return best
}
