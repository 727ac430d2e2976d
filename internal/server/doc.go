// Package server owns the client-facing HTTP server of a listener: a strict
// HTTP/1.1 parser and per-connection loop of our own, and HTTP/2 with prior
// knowledge (h2c) handed to net/http on the same port. With a TLS
// configuration (SetTLSConfig) the same loop runs over *tls.Conn after a
// handshake on the connection's goroutine, and connections that
// negotiated h2 through ALPN go to the same net/http HTTP/2 server.
//
// Why our own HTTP/1.1 server: net/http normalises a request before a
// handler can see it (a request with both Content-Length and
// Transfer-Encoding, or an obs-folded header line, reaches the backend), and
// its per-request goroutines, maps and allocations cost most of our CPU per
// request. Here one goroutine at a time serves a connection: it parses a
// request head from a pooled buffer, builds an *http.Request, runs the
// handler with a ResponseWriter that frames the response itself, and loops
// for keep-alive. Nothing else runs per request: no timer, no per-request
// context; timeouts are connection deadlines.
//
// Every ambiguous input is refused before the handler runs, with a bare
// status and Connection: close. docs/hardening.md lists the rules.
//
// An idle keep-alive connection holds no buffer and no goroutine, so that
// it costs about its conn struct and socket (3.6 KiB measured, against
// 8.7 KiB when a goroutine waited with the stack the handler chain had
// grown). Read and write buffers come from pools owned by the Server and
// go back between requests; so does the exchange, the response writer and
// body reader of a request, which also keeps the response header map. On
// Linux a connection with nothing buffered after its response first waits
// on its goroutine in the runtime poller (the next request of a busy
// client comes within a moment, and this costs least), for up to a second
// and only while at most 128 connections per core do; then, or at once
// beyond that number, it is parked: its goroutine registers the socket
// with the Server's parker and ends.
// The parker is one goroutine with its own epoll instance (EPOLLONESHOT:
// one wake-up per park) whose descriptor the runtime poller waits for, so
// it blocks no thread; when a socket is readable it starts a new goroutine
// for that connection, and it closes the connections whose idle deadline
// passed, kept in a min-heap whose earliest entry is the epoll file's read
// deadline: no timer per connection. A parked connection is owned by the
// parker alone: not in Server.active, still counted in Server.connWG, and
// closed by the parker at once on Shutdown and Close. Elsewhere (or when
// epoll is unavailable) the connection's goroutine waits for the next
// request in the runtime poller, still without a buffer.
package server
