// Package gateway owns the process: the open listeners, the live snapshot,
// and everything that must outlive a reload — backends (by upstream name and
// address), upstream transports and their connection pools (by upstream
// name and transport settings), the access log (by output), and the TLS
// side of listeners that terminate TLS (by address: each reload stores the
// certificates it read into the tlsconf.Listener the socket keeps).
//
// Apply is a transaction: build the new snapshot (reusing long-lived state by
// identity), open the listeners it adds, then swap every listener's runtime
// with one atomic store each, and only then release what nothing references:
// removed listeners drain, unused transports close their idle connections.
// A failure at any step before the swap changes nothing. Requests already in
// flight finish on the snapshot they started with.
package gateway
