package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"palisade/internal/middleware"
)

// bufferedReader is implemented by response bodies that can tell whether
// the next Read returns without waiting for the network (h1Body).
type bufferedReader interface{ hasBuffered() bool }

// respond writes the backend's response to the client: status, header
// fields minus hop-by-hop ones, Via, the body, then the trailers. A failure
// after the head was written aborts the client connection, so that a
// truncated body is never taken for a complete one.
func (ex *exchange) respond(resp *http.Response) {
	w := ex.w
	h := w.Header()
	copyResponseHeader(h, resp.Header)
	addVia(h, resp.ProtoMajor, resp.ProtoMinor)
	if ex.stick != nil {
		ex.h.t.Sticky.setCookie(h, ex.stick)
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		// The transport moved the Trailer field into resp.Trailer's keys;
		// announce them again so that the client expects them.
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = append(h["Trailer"], strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)

	bp := ex.h.bufs.Get().(*[]byte)
	err := ex.copyBody(resp, *bp)
	ex.h.bufs.Put(bp)
	resp.Body.Close()
	if err != nil {
		err = ex.blame(err)
		ex.release(ex.rtt, ex.outcome(err))
		ex.st.Err = err
		ex.h.logFailure(ex, middleware.StatusFor(err), err)
		panic(http.ErrAbortHandler)
	}
	ex.release(ex.rtt, ex.outcome(nil))

	if len(resp.Trailer) == 0 {
		return
	}
	// Flushing before the trailers makes net/http send a chunked body even
	// when it could have computed a Content-Length, which trailers need.
	ex.flush()
	if len(resp.Trailer) == announced {
		for k, vv := range resp.Trailer {
			h[k] = vv
		}
		return
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
}

// errClientWrite marks a failure to write to the client.
var errClientWrite = errors.New("writing response")

// copyBody streams the body to the client through buf. After writing what
// a read returned it flushes whenever the backend has nothing more ready,
// that is before the next read would wait for the network: an event or a
// chunk reaches the client at once, while a large body still goes out in
// pieces of up to len(buf). Bodies that cannot tell what is buffered
// (http.Transport's) count a read that did not fill buf as the backend
// having nothing more. Server-sent events and gRPC flush after every read.
func (ex *exchange) copyBody(resp *http.Response, buf []byte) error {
	body := resp.Body
	streaming := isStreamingType(resp.Header["Content-Type"])
	if streaming {
		// A stream may stay silent for long: a client that leaves in the
		// meantime should end it, not the next event's write.
		if w := middleware.ClientWatcherFrom(ex.in.Context()); w != nil {
			w.WatchClient()
		}
	}
	if b, ok := body.(*h1Body); ok && !streaming {
		if done, err := ex.spliceBody(b, buf); done {
			return err
		}
	}
	br, exact := body.(bufferedReader)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := ex.w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("%w: %w: %w", middleware.ErrClientGone, errClientWrite, werr)
			}
			drained := n < len(buf)
			if exact {
				drained = !br.hasBuffered()
			}
			if rerr == nil && (streaming || drained) {
				ex.flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// spliceMin is the least body left after the buffered part for which
// splicing pays: below it, copying through the buffer costs less than the
// pipe's extra system calls.
const spliceMin = 32 << 10

// spliceBody sends the rest of a Content-Length body from a TCP backend to
// the client through the kernel (middleware.Splicer), after writing what
// is already buffered. done false means it did not splice, possibly after
// writing the buffered bytes: the copy loop carries on with the body.
// Splice waits under the backend connection's read deadline, so the read
// timeout applies as to the body's reads: a splice that meets it after
// moving bytes is resumed under a new deadline (h1Body.progressed).
func (ex *exchange) spliceBody(b *h1Body, buf []byte) (done bool, err error) {
	s, ok := ex.w.(middleware.Splicer)
	if !ok || b.mode != bodyLength || b.c.rc == nil || b.done || b.err != nil ||
		b.remaining-int64(b.br.Buffered()) < spliceMin {
		return false, nil
	}
	for b.br.Buffered() > 0 {
		n, _ := b.Read(buf[:min(len(buf), b.br.Buffered())])
		if _, werr := ex.w.Write(buf[:n]); werr != nil {
			return true, fmt.Errorf("%w: %w: %w", middleware.ErrClientGone, errClientWrite, werr)
		}
	}
	for {
		written, ok, err := s.Splice(b.c.rc, b.remaining)
		if !ok {
			return false, nil
		}
		b.remaining -= written
		b.c.got += written
		switch {
		case err == nil && b.remaining == 0:
			b.finish()
			return true, nil
		case errors.Is(err, middleware.ErrClientGone):
			b.fail(err)
			return true, fmt.Errorf("%w: %w", errClientWrite, err)
		case err == nil:
			err = io.ErrUnexpectedEOF
		case b.progressed(err):
			continue
		}
		return true, b.fail(err)
	}
}

// flush sends what the client-facing server buffered.
func (ex *exchange) flush() {
	if f, ok := ex.w.(http.Flusher); ok {
		f.Flush()
		return
	}
	http.NewResponseController(ex.w).Flush()
}
