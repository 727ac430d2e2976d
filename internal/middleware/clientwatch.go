package middleware

import "context"

// ClientWatcher is what a server that can tell when a client closes its
// connection puts in the request context (see WithClientWatcher).
type ClientWatcher interface {
	// WatchClient asks the server to cancel the request's context if the
	// client closes its connection (or its sending half) before the
	// response is complete, as nginx does while it waits on an upstream.
	// It costs a system call: call it once a request has waited a while
	// on its backend, or when a long stream starts, not on every request.
	WatchClient()
}

type clientWatcherKey struct{}

// WithClientWatcher returns ctx carrying w.
func WithClientWatcher(ctx context.Context, w ClientWatcher) context.Context {
	return context.WithValue(ctx, clientWatcherKey{}, w)
}

// ClientWatcherFrom returns the ClientWatcher in ctx, nil when the
// connection cannot be watched (HTTP/2, which sees stream resets itself,
// TLS, or another server).
func ClientWatcherFrom(ctx context.Context) ClientWatcher {
	w, _ := ctx.Value(clientWatcherKey{}).(ClientWatcher)
	return w
}
