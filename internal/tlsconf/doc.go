// Package tlsconf turns the tls block of a listener into the crypto/tls
// configuration that terminates it: it reads the certificate files, picks
// the certificate for each handshake by SNI, and offers the ALPN protocols
// that choose between HTTP/2 and HTTP/1.1.
//
// Two things with different lifetimes are kept apart. Load reads the files
// on every config load and reload and returns a fresh *tls.Config, or
// diagnostics for every file that cannot be used, so that a broken
// certificate is refused like any other bad config. A Listener is what the
// socket keeps for its whole life: one *tls.Config whose
// GetConfigForClient hands each handshake the configuration stored last.
// A reload that re-reads replaced files therefore reaches new handshakes
// without closing the socket or the connections already open, and session
// tickets, whose keys the Listener's own config keeps, survive it.
//
// Misdirected is the other half of SNI selection: with HTTP/2 a client
// reuses one connection for every host its certificate covers, so the
// request path asks, per request on a TLS connection, whether the
// request's host would have selected the certificate the connection's
// server name did, and answers 421 when not. It lives here, beside the
// selection it mirrors.
//
// Cipher suites and curves are Go's server defaults. Certificates come
// from files only; ACME, mTLS and backend TLS are not here yet.
package tlsconf
