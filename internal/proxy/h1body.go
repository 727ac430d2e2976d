package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"palisade/internal/middleware"
)

// bodyMode is how a response body is delimited (RFC 9112 §6.3).
type bodyMode uint8

const (
	bodyLength     bodyMode = iota // Delimited by Content-Length.
	bodyChunked                    // Transfer-Encoding: chunked.
	bodyUntilClose                 // Neither: the body ends with the connection.
)

// errBodyClosed is returned by Read after Close.
var errBodyClosed = errors.New("read on closed response body")

// h1Body reads one response body from a connection. When the body has been
// read to its end the connection is released at once (to the pool when
// reusable), before Read returns io.EOF, so a handler that streams the body
// to its client frees the connection as early as possible.
//
// With a read timeout, the connection's read deadline bounds each wait for
// body bytes; it is set once (see arm), not per read. A read that meets it
// after bytes arrived since it was set arms it again and carries on; one
// that meets it with none is a stall, which ends the body with an error
// wrapping middleware.ErrBackendTimeout. A stall is thus noticed between
// one and two timeouts after the last byte, and a body that keeps flowing
// costs a deadline update per timeout, not per read.
type h1Body struct {
	c    *h1Conn
	br   *bufio.Reader
	resp *http.Response
	ctx  context.Context
	mode bodyMode
	// remaining is what is left of the body (bodyLength) or of the current
	// chunk (bodyChunked).
	remaining int64
	// inChunk reports that a chunk's data has started, so a CRLF follows
	// it.
	inChunk bool
	// trailers reports that the last chunk was read and the trailer
	// section is next.
	trailers bool
	// reuse reports whether both sides allow another exchange on c.
	reuse bool
	done  bool
	err   error
}

var (
	_ io.ReadCloser  = (*h1Body)(nil)
	_ bufferedReader = (*h1Body)(nil)
)

// Read reads the body, releasing the connection at its end.
func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		var n int
		var err error
		switch b.mode {
		case bodyLength:
			n, err = b.readLength(p)
		case bodyChunked:
			n, err = b.readChunked(p)
		default:
			n, err = b.readUntilClose(p)
		}
		switch {
		case b.done:
			return n, io.EOF
		case err == nil:
			return n, nil
		case !b.progressed(err):
			return 0, b.fail(err)
		}
	}
}

// The read functions of each framing return an error only with no data,
// and leave the body as it was before the read that failed, so that Read
// can try again after a deadline that met a body still flowing. They call
// finish at the body's end.

func (b *h1Body) readLength(p []byte) (int, error) {
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.finish()
		return n, nil
	}
	if n == 0 && err != nil {
		return 0, err
	}
	// A read error that came with data comes back on the next Read.
	return n, nil
}

func (b *h1Body) readUntilClose(p []byte) (int, error) {
	n, err := b.br.Read(p)
	if n > 0 {
		return n, nil
	}
	if err == io.EOF {
		b.finish()
		return 0, nil
	}
	return 0, err
}

func (b *h1Body) readChunked(p []byte) (int, error) {
	for b.remaining == 0 {
		end, err := b.nextChunk()
		if err != nil {
			return 0, err
		}
		if end {
			b.finish()
			return 0, nil
		}
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if n == 0 && err != nil {
		return 0, err
	}
	if b.remaining == 0 && b.lookahead() {
		b.finish()
	}
	return n, nil
}

// nextChunk reads the CRLF ending the previous chunk's data, if any, and the
// next chunk-size line; for the last chunk it also reads the trailer
// section. It reports whether the body has ended. A failure leaves what
// was not read whole in the buffer, so that it can be called again.
func (b *h1Body) nextChunk() (end bool, err error) {
	if b.trailers {
		return true, b.readTrailers()
	}
	if b.inChunk {
		crlf, err := b.br.Peek(2)
		if err != nil {
			return false, err
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return false, badResponse("chunk data not followed by CRLF")
		}
		b.br.Discard(2)
		b.inChunk = false
	}
	line, err := peekLine(b.br)
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = badResponse("chunk-size line too long")
		}
		return false, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return false, badResponse("bare LF in chunked body")
	}
	size, err := parseChunkSize(line[:len(line)-2])
	if err != nil {
		return false, err
	}
	b.br.Discard(len(line))
	if size == 0 {
		b.trailers = true
		return true, b.readTrailers()
	}
	b.remaining = size
	b.inChunk = true
	return false, nil
}

// peekLine returns the next line of br, LF included, without consuming it
// (bufio.Reader.ReadSlice consumes what it read when it fails). A line
// longer than the buffer fails with bufio.ErrBufferFull.
func peekLine(br *bufio.Reader) ([]byte, error) {
	seen := 0 // Buffered bytes known to hold no LF.
	for {
		n := br.Buffered()
		buf, _ := br.Peek(n)
		if i := bytes.IndexByte(buf[seen:], '\n'); i >= 0 {
			return buf[:seen+i+1], nil
		}
		if n >= br.Size() {
			return nil, bufio.ErrBufferFull
		}
		seen = n
		if _, err := br.Peek(n + 1); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// readTrailers reads the trailer section after the last chunk into
// resp.Trailer. A failure to read it whole consumes nothing.
func (b *h1Body) readTrailers() error {
	block, err := peekBlock(b.br)
	if err != nil {
		return err
	}
	if len(block) > 2 {
		if b.resp.Trailer == nil {
			b.resp.Trailer = make(http.Header)
		}
		err = parseFields(string(block), b.resp.Trailer)
	}
	b.br.Discard(len(block))
	return err
}

// lookahead consumes, from what is already buffered and never waiting for
// more, the framing after a chunk's data: the end of the body when it is
// there without trailers, or the next chunk-size line. It reports whether
// the body has ended. It lets Read return io.EOF with the last data (the
// connection goes back to the pool sooner) and makes hasBuffered exact.
func (b *h1Body) lookahead() bool {
	buf, _ := b.br.Peek(b.br.Buffered())
	if len(buf) < 2 || buf[0] != '\r' || buf[1] != '\n' {
		return false
	}
	if len(buf) >= 7 && string(buf[2:7]) == "0\r\n\r\n" {
		b.br.Discard(7)
		b.inChunk = false
		return true
	}
	i := bytes.IndexByte(buf[2:], '\n')
	if i < 1 || buf[2+i-1] != '\r' {
		return false
	}
	size, err := parseChunkSize(buf[2 : 2+i-1])
	if err != nil || size == 0 {
		// Errors and trailers are for the next Read to handle.
		return false
	}
	b.br.Discard(2 + i + 1)
	b.remaining = size
	return false
}

// hasBuffered reports whether the next Read returns without waiting for the
// network: the copy loop flushes to the client before it would wait.
func (b *h1Body) hasBuffered() bool {
	if b.done {
		return true
	}
	if b.err != nil || (b.mode != bodyUntilClose && b.remaining == 0) {
		return false
	}
	return b.br.Buffered() > 0
}

// Close releases the connection. A body closed before its end is drained
// when what is left is small and already buffered, so the connection can be
// reused; otherwise the connection is closed, as waiting for the rest could
// take as long as the backend likes.
func (b *h1Body) Close() error {
	if b.done || b.err != nil {
		return nil
	}
	if b.reuse && b.drain() {
		return nil
	}
	b.err = errBodyClosed
	b.c.abort()
	return nil
}

// drain discards the rest of the body from the buffer only and finishes
// the body if that reaches its end.
func (b *h1Body) drain() bool {
	switch b.mode {
	case bodyLength:
		if b.remaining > maxDrain || int64(b.br.Buffered()) < b.remaining {
			return false
		}
		b.br.Discard(int(b.remaining))
		b.remaining = 0
		b.finish()
		return true
	case bodyChunked:
		// A deadline in the past makes any read beyond the buffer fail at
		// once instead of waiting; release clears it.
		b.c.nc.SetReadDeadline(aLongTimeAgo())
		b.c.readDeadline = true
		for total := int64(0); total <= maxDrain; {
			if b.remaining > 0 {
				d := min(b.remaining, int64(b.br.Buffered()))
				if d == 0 {
					return false
				}
				b.br.Discard(int(d))
				b.remaining -= d
				total += d
				continue
			}
			end, err := b.nextChunk()
			if err != nil {
				return false
			}
			if end {
				b.finish()
				return true
			}
		}
	}
	return false
}

// finish marks the body read to its end and releases the connection.
func (b *h1Body) finish() {
	b.done = true
	b.c.release(b.reuse)
}

// arm sets the read deadline for the body's next bytes, and returns the
// exchange's context error if it has ended (see h1Conn.setReadDeadline).
func (b *h1Body) arm() error {
	c := b.c
	c.mark = c.got
	c.readDeadline = true
	return c.setReadDeadline(time.Now().Add(c.bodyTimeout))
}

// progressed reports, for a read of the body that failed with err, that
// the read timeout's deadline passed while the body was still flowing:
// bytes arrived since it was set. The deadline is then set again and the
// read may be retried. A deadline that the client's going away moved (the
// exchange's interrupt) is never progress.
func (b *h1Body) progressed(err error) bool {
	if b.c.bodyTimeout <= 0 || !errors.Is(err, os.ErrDeadlineExceeded) || b.ctx.Err() != nil ||
		b.c.got == b.c.mark {
		return false
	}
	return b.arm() == nil
}

// fail records a read error, closes the connection and returns the error
// for Read. A failure caused by the client going away reports the
// context's error; a stall past the read timeout wraps
// middleware.ErrBackendTimeout.
func (b *h1Body) fail(err error) error {
	switch ctxErr := b.ctx.Err(); {
	case ctxErr != nil:
		err = ctxErr
	case b.c.bodyTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: no response body bytes for %v", middleware.ErrBackendTimeout, b.c.bodyTimeout)
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	b.err = fmt.Errorf("reading response body: %w", err)
	b.c.abort()
	return b.err
}
