package lb

import "palisade/internal/upstream"

// IPHash keeps each client on one backend, as nginx's ip_hash does: the
// caller passes HashAddr of the client address as key, whatever the
// upstream's hash_key says. It shares Hash's weighted rendezvous hashing,
// so the mapping is stable across processes and reloads, a backend gets
// clients in proportion to its effective weight, removing one of n
// backends moves only its own clients (about 1/n), and a client whose
// backend is unavailable goes to its next choice, the same one every
// time, until its backend returns. The zero value is ready to use; Pick is
// O(n), as Hash's.
type IPHash struct {
	idx indexCache
}

var _ Policy = (*IPHash)(nil)

// Pick returns the backend of the client whose address hashes to key.
func (p *IPHash) Pick(pool []*upstream.Backend, key uint64) *upstream.Backend {
	if len(pool) == 0 {
		return nil
	}
	ix := p.idx.exact(pool)
	if ix == nil {
		ix, _ = p.idx.resolve(pool, false)
	}
	return rendezvous(ix, pool, key)
}
