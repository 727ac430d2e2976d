package middleware

import "net/http"

// Middleware wraps the next handler with one request-path feature. A
// Middleware is built once per route from validated config and must do no
// setup per request.
type Middleware func(next http.Handler) http.Handler

// Chain returns h wrapped by mws, the first middleware outermost.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
