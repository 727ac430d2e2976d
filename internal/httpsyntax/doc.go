// Package httpsyntax owns the pieces of the HTTP grammar (RFC 9110 §5,
// RFC 9112 §5) that both of our HTTP/1.1 parsers need: the client-facing
// server reading requests and the backend transport reading responses. One
// definition keeps the two from drifting apart, which for a proxy would mean
// forwarding what it should have refused.
//
// It is shaped for the request path. Character classes are 128-bit sets held
// in constants, so that a membership test is a shift and a mask and the
// package holds no mutable state; the small checks inline into their callers
// and nothing allocates. It only judges bytes: it never says who sent them,
// so SplitField returns a short reason and each caller wraps it in its own
// error (400 for a client, 502 for a backend).
//
// It is a leaf: it imports only the standard library.
package httpsyntax
