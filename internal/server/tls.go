package server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// SetTLSConfig makes the server terminate TLS with c on the connections it
// accepts from now on; nil serves plain HTTP/1.1 and h2c again.
// Connections already accepted keep what they started with. The server
// hands c to tls.Server and never modifies it; for certificates that change
// without a new c, c's GetConfigForClient returns the current ones (see
// package tlsconf).
//
// Over TLS, ALPN decides: a connection that negotiated h2 goes to the
// net/http HTTP/2 server that also serves h2c (same handler, same limits),
// any other to our HTTP/1.1 loop, with each Request's TLS set. HTTP/2
// with prior knowledge and Upgrade: h2c are refused there as on plain
// connections. A TLS connection has no descriptor the idle parker could
// wait on, so it waits for its next request on its own goroutine, still
// without a buffer.
func (s *Server) SetTLSConfig(c *tls.Config) { s.tlsConfig.Store(c) }

// serveTLS runs an accepted TLS connection on its own goroutine: the
// handshake, then HTTP/2 or HTTP/1.1 as ALPN chose.
func (c *conn) serveTLS(tc *tls.Conn) {
	if err := c.handshake(tc); err != nil {
		c.srv.log.Debug("TLS handshake failed", "remote", c.remote, "error", err)
		c.exit()
		return
	}
	if c.base.TLS.NegotiatedProtocol == "h2" {
		c.handoffH2()
		c.exit()
		return
	}
	c.serve()
}

// handshake completes the TLS handshake of tc, bounded by ReadHeaderTimeout
// from accept like the first request head, which then shares the
// deadline. On success every request on the connection carries the
// connection state.
func (c *conn) handshake(tc *tls.Conn) error {
	o := c.srv.opts.Load()
	c.opts = o
	if o.ReadHeaderTimeout > 0 {
		dl := c.accepted.Add(o.ReadHeaderTimeout)
		c.setReadDeadline(dl)
		c.setWriteDeadline(dl)
	}
	// A connection in its handshake has sent no request: Shutdown closes it
	// as idle, by moving its read deadline, which must be set first.
	c.state.Store(connIdle)
	if c.srv.inShutdown.Load() {
		return http.ErrServerClosed
	}
	err := tc.HandshakeContext(c.ctx)
	c.state.Store(connActive)
	if err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader) {
			c.refusePlainHTTP(rh.Conn)
			return errors.New("client sent a plain HTTP request to a TLS listener")
		}
		return err
	}
	if !c.wdl.IsZero() {
		// Writes get WriteTimeout each from here on.
		c.setWriteDeadline(time.Time{})
	}
	st := tc.ConnectionState()
	c.base.TLS = &st
	return nil
}

// looksLikeHTTP reports whether the first five bytes of a connection are
// the start of an HTTP/1.x request line ("GET /", "POST ") rather than a
// TLS record, whose first byte is a record type below 0x20.
func looksLikeHTTP(hdr [5]byte) bool {
	if hdr[0] < 'A' || hdr[0] > 'Z' {
		return false
	}
	for _, b := range hdr[1:] {
		if b < 0x20 || b > 0x7e {
			return false
		}
	}
	return true
}

// refusePlainHTTP answers a plain HTTP request on a TLS listener with 400,
// in the clear, as nginx does, then closes gently so that the answer is
// not lost to a reset by the request bytes left unread.
func (c *conn) refusePlainHTTP(raw net.Conn) {
	const msg = "Client sent a plain HTTP request to an HTTPS port.\n"
	resp := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(msg)) + "\r\n\r\n" + msg
	raw.SetWriteDeadline(time.Now().Add(lingerTimeout))
	if _, err := io.WriteString(raw, resp); err != nil {
		return
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	raw.SetReadDeadline(time.Now().Add(lingerTimeout))
	blk := c.srv.getBlock()
	for total := 0; total < maxDrain; {
		n, err := raw.Read(blk[:])
		total += n
		if err != nil {
			break
		}
	}
	c.srv.putBlock(blk)
}
