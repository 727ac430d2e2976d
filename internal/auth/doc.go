// Package auth owns request authentication on a route: HTTP Basic against
// bcrypt hashes, signed JSON Web Tokens, and forward auth (a sub-request to
// an auth service, as nginx's auth_request and Traefik's forwardAuth).
//
// A route's auth middleware has exactly one mode, compiled by New from
// validated config: hashes and key files are read, keys parsed and
// algorithms fixed per key once, so a request does no setup. A refused
// request gets a bare 401 with the mode's WWW-Authenticate challenge
// (RFC 7617, RFC 6750) or whatever the auth service answered; the reason
// goes to the request's State and so to the access log, never to the
// client.
//
// The credentials a request carried (Authorization, the JWT cookie or
// header) are removed before the upstream sees the request unless the
// route keeps them, and so are the client's own copies of every header the
// middleware sets (forwarded claims, the auth service's response headers),
// so a client cannot claim to be someone by sending X-User itself.
//
// State that outlives one request lives in the middleware and is dropped
// with it on a reload: the Basic credential cache (sharded, bounded), the
// JWKS key set (an atomic pointer, refreshed under a mutex by the request
// that finds it stale, never by a goroutine of its own), and the forward
// auth transport with its idle connections.
package auth
