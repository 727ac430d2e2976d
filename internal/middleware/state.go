package middleware

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"
)

// State is the one typed per-request record shared by the request path. The
// gateway creates it before route lookup and stores it in the request
// context; features fill in what they own and the access log reads it after
// the response is done. A State belongs to one request: it must not be
// retained after the handler returns, and only the request's goroutine may
// write it.
type State struct {
	// ID identifies the request in logs, in the X-Request-Id response header
	// and in the request sent to the backend.
	ID string
	// Start is when the request head had been read.
	Start time.Time
	// Listener is the name of the listener that accepted the request.
	Listener string
	// Peer is the address of the directly connected client.
	Peer netip.AddrPort
	// PeerTrusted reports whether Peer is one of the listener's trusted
	// proxies, whose forwarding headers may be believed and extended.
	PeerTrusted bool
	// ClientIP is the original client address: Peer, or the right-most
	// untrusted address of X-Forwarded-For when Peer is trusted.
	ClientIP netip.Addr

	// Route, Upstream and Backend name where the request went.
	Route    string
	Upstream string
	Backend  string
	// Attempts counts the backend round trips tried.
	Attempts int
	// CacheStatus is set by the cache middleware (HIT, MISS, STALE...).
	CacheStatus string
	// Authenticated is set by the auth middleware when it let the request
	// through on its credentials, which it may have removed: a shared
	// cache treats the request as one carrying Authorization (RFC 9111
	// §3.5), so a response meant for one user is not stored for all.
	Authenticated bool
	// Err is the failure that decided the response, if any. It is logged,
	// never sent to the client.
	Err error
}

type stateKey struct{}

// WithState returns ctx carrying st.
func WithState(ctx context.Context, st *State) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

// StateFrom returns the State stored in ctx. It returns a throwaway State
// (never nil) when ctx has none, so features work under plain tests.
func StateFrom(ctx context.Context) *State {
	if st, ok := ctx.Value(stateKey{}).(*State); ok {
		return st
	}
	return &State{}
}

const hexDigits = "0123456789abcdef"

// NewRequestID returns 16 random hexadecimal characters.
func NewRequestID() string {
	var b [16]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}
