// Package proxy owns the terminal handler of every route: it turns the
// client's request into a request to one backend of an upstream, runs the
// attempt loop (pick, acquire, round trip, release), and streams the answer
// back, with the semantics of httputil.ReverseProxy using Rewrite: inbound
// forwarding headers are dropped unless the peer is a trusted proxy,
// hop-by-hop headers are stripped both ways, 1xx responses, trailers and
// protocol upgrades are forwarded.
//
// It also owns the backend transports. HTTP/1.1 backends use H1Transport, a
// per-backend pool of keep-alive connections used synchronously by the
// request's goroutine: no read or write loop goroutines, no channels, pooled
// buffers, a strict response parser of our own. That is where the standard
// library's http.Transport spends most of its time per request, and where a
// proxy that aims at nginx and HAProxy cannot afford to. HTTP/2 cleartext
// (h2c) backends use http.Transport, whose multiplexing we do not redo.
//
// The handler and the transport talk through the Transport interface; the
// transport finds the handler's per-request hooks (1xx forwarding, the
// response header timeout) on the outbound request's context, which is the
// pooled exchange itself, so that the hot path allocates no context values.
package proxy
