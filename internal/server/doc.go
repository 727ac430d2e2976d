// Package server owns the client-facing HTTP server of a listener: a strict
// HTTP/1.1 parser and per-connection loop of our own, and HTTP/2 with prior
// knowledge (h2c) handed to net/http on the same port.
//
// Why our own HTTP/1.1 server: net/http normalises a request before a
// handler can see it (a request with both Content-Length and
// Transfer-Encoding, or an obs-folded header line, reaches the backend), and
// its per-request goroutines, maps and allocations cost most of our CPU per
// request. Here one goroutine serves one connection from accept to close:
// it parses a request head from a pooled buffer, builds an *http.Request,
// runs the handler with a ResponseWriter that frames the response itself,
// and loops for keep-alive. Nothing else runs per request: no goroutine, no
// timer, no per-request context; timeouts are connection deadlines.
//
// Every ambiguous input is refused before the handler runs, with a bare
// status and Connection: close. docs/hardening.md lists the rules.
//
// An idle keep-alive connection holds no buffer: read and write buffers come
// from pools owned by the Server and go back between requests, and the wait
// for the next request is done by the runtime poller without a buffer.
package server
