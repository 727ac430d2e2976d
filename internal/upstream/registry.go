package upstream

import "sync"

type key struct{ upstream, addr string }

// Registry hands out Backends by identity (upstream name and address) so
// that a reload reusing an identity reuses its live state. It is safe for
// concurrent use; it is touched only while building a snapshot, never per
// request.
type Registry struct {
	mu       sync.Mutex
	backends map[key]*Backend
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{backends: make(map[key]*Backend)}
}

// Backend returns the backend for upstreamName and addr, creating it on
// first use.
func (r *Registry) Backend(upstreamName, addr string) *Backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{upstreamName, addr}
	b := r.backends[k]
	if b == nil {
		b = NewBackend(upstreamName, addr)
		r.backends[k] = b
	}
	return b
}

// Retain drops every backend not in keep, after a reload has committed.
func (r *Registry) Retain(keep []*Backend) {
	live := make(map[*Backend]bool, len(keep))
	for _, b := range keep {
		live[b] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, b := range r.backends {
		if !live[b] {
			delete(r.backends, k)
		}
	}
}

// Len returns the number of backends held.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.backends)
}
