package middleware

import "context"

// ServerConn is what a server connection serving one request at a time
// (Palisade's HTTP/1.1 server) offers the request's handler through the
// request context (see WithServerConn).
type ServerConn interface {
	ClientWatcher
	InterruptSlot
}

// InterruptSlot lets a handler register one function that the server calls
// when the request's context ends, right after it ends, from the goroutine
// that ends it: context.AfterFunc without its allocations and goroutine.
// The function must be quick and must not block (closing or moving the
// deadline of a socket).
type InterruptSlot interface {
	// Done is the Done channel of the context the server cancels. A
	// request context with another one (a handler's WithTimeout) ends
	// without the server knowing: use context.AfterFunc for it.
	Done() <-chan struct{}
	// SetInterrupt registers f. It reports false when another function
	// is registered or the context has ended; the caller then uses
	// context.AfterFunc.
	SetInterrupt(f *func()) bool
	// ClearInterrupt unregisters f and reports whether it was still
	// registered: false means f has run or is running, as the stop
	// function of context.AfterFunc reports.
	ClearInterrupt(f *func()) bool
}

// ClientWatcher is what a server that can tell when a client closes its
// connection offers (see ServerConn).
type ClientWatcher interface {
	// WatchClient asks the server to cancel the request's context if the
	// client closes its connection (or its sending half) before the
	// response is complete, as nginx does while it waits on an upstream.
	// It costs a system call: call it once a request has waited a while
	// on its backend, or when a long stream starts, not on every request.
	WatchClient()
}

type serverConnKey struct{}

// WithServerConn returns ctx carrying c.
func WithServerConn(ctx context.Context, c ServerConn) context.Context {
	return context.WithValue(ctx, serverConnKey{}, c)
}

// ServerConnFrom returns the ServerConn in ctx, nil when the connection
// offers none (HTTP/2, which sees stream resets itself, or another
// server).
func ServerConnFrom(ctx context.Context) ServerConn {
	c, _ := ctx.Value(serverConnKey{}).(ServerConn)
	return c
}

// ClientWatcherFrom returns the ClientWatcher in ctx, nil when the
// connection cannot be watched.
func ClientWatcherFrom(ctx context.Context) ClientWatcher {
	if c := ServerConnFrom(ctx); c != nil {
		return c
	}
	return nil
}
