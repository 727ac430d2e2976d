// Package middleware owns the contract every request-path feature is written
// against: the Middleware type and Chain, the per-request State, the
// ResponseWriter wrapper that records status and bytes, client IP resolution
// through trusted proxies, and WriteError, the one place where a failure
// becomes a response.
//
// It imports no other internal package, so every feature may depend on it.
package middleware
