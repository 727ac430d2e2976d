package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"palisade/internal/middleware"
)

// upgradeLinger bounds how long a tunnel stays half open once one side has
// finished sending: a peer that never closes its side must not hold the
// tunnel, its goroutine and its backend connection forever.
const upgradeLinger = 30 * time.Second

// switchProtocols completes a protocol upgrade (RFC 9110 §7.8, WebSocket):
// when the backend switched to the protocol the client asked for, the
// client connection is hijacked, the 101 head written to it, and bytes are
// copied both ways until both sides have finished, each side's end
// propagated to the other as a half close. Any other 101 is a bad response
// (502).
func (ex *exchange) switchProtocols(resp *http.Response) {
	backend, ok := resp.Body.(io.ReadWriteCloser)
	var proto string
	if valuesHaveToken(resp.Header["Connection"], "upgrade") && len(resp.Header["Upgrade"]) > 0 {
		proto = resp.Header["Upgrade"][0]
	}
	if !ok || ex.upgrade == "" || !strings.EqualFold(proto, ex.upgrade) {
		resp.Body.Close()
		err := badResponse(fmt.Sprintf("switched to protocol %q when %q was asked for", proto, ex.upgrade))
		ex.release(ex.rtt, ex.outcome(err))
		ex.fail(err)
		return
	}

	h := ex.w.Header()
	copyResponseHeader(h, resp.Header)
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = []string{proto}
	addVia(h, resp.ProtoMajor, resp.ProtoMinor)
	conn, brw, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		backend.Close()
		ex.release(ex.rtt, ex.outcome(nil))
		ex.fail(fmt.Errorf("switching protocols: %w", err))
		return
	}
	defer conn.Close()
	// The server's read and write deadlines were for one request.
	conn.SetDeadline(time.Time{})
	if brw == nil {
		brw = bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn))
	}
	brw.Writer.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(brw.Writer)
	brw.Writer.WriteString("\r\n")
	if err := brw.Writer.Flush(); err != nil {
		backend.Close()
		err = fmt.Errorf("%w: %w", middleware.ErrClientGone, err)
		ex.release(ex.rtt, ex.outcome(err))
		ex.st.Err = err
		return
	}

	up := ex.h.bufs.Get().(*[]byte)
	down := ex.h.bufs.Get().(*[]byte)
	tunnel(conn, brw.Reader, backend, *up, *down)
	ex.h.bufs.Put(up)
	ex.h.bufs.Put(down)
	backend.Close()
	ex.release(ex.rtt, ex.outcome(nil))
}

// tunnel copies client to backend on a new goroutine and backend to client
// on the caller's, and returns when both copies have ended. clientR reads
// the client connection after the bytes the server had already buffered.
// A copy that ends cleanly half-closes its destination and gives the other
// direction upgradeLinger to end; one that fails closes both sides.
func tunnel(client net.Conn, clientR io.Reader, backend io.ReadWriteCloser, up, down []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := pipe(backend, clientR, up); err != nil {
			client.Close()
			backend.Close()
			return
		}
		if d, ok := backend.(interface{ SetReadDeadline(time.Time) error }); ok {
			d.SetReadDeadline(time.Now().Add(upgradeLinger))
		}
	}()
	if err := pipe(client, backend, down); err != nil {
		client.Close()
		backend.Close()
	} else {
		client.SetReadDeadline(time.Now().Add(upgradeLinger))
	}
	<-done
}

// pipe copies src to dst until src ends, then half-closes dst when it can.
func pipe(dst io.Writer, src io.Reader, buf []byte) error {
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if rerr == io.EOF {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				return cw.CloseWrite()
			}
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
