// Package snapshot compiles a validated config into the immutable runtime the
// request path reads: per listener a route table whose routes carry their
// middleware chains ending in the proxy, and per upstream a forwarding target.
//
// Build is the one place that knows every feature: it holds the only switch
// over middleware kinds. Long-lived state (backends, transports, the access
// log) is not created here but borrowed from Deps, which the gateway keeps
// across reloads, so a snapshot is cheap to build and to throw away.
package snapshot
