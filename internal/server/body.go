package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"palisade/internal/httpsyntax"
	"palisade/internal/middleware"
)

// States of the chunked decoder (RFC 9112 §7.1).
const (
	csSize         = iota // chunk-size hex digits
	csSizeExt             // after the size: BWS, ";" or CR
	csExtName0            // after ";": BWS, then a token
	csExtName             // in an extension name
	csExtAfterName        // BWS after the name: "=", ";" or CR
	csExtVal0             // after "=": BWS, then a token or a quoted-string
	csExtVal              // in a token value
	csExtQuoted           // in a quoted-string value
	csExtQuotedEsc        // after a backslash in a quoted-string
	csSizeLF              // after the CR ending the size line
	csData                // chunk data
	csDataCR              // the CR after chunk data
	csDataLF              // the LF after chunk data
	csTrailer             // trailer section lines
	csDone
)

const (
	maxChunkSizeDigits = 16
	maxChunkExtBytes   = 4 << 10
)

// errBodyClosed is returned by Read after the handler closed the body.
var errBodyClosed = errors.New("http: invalid Read on closed Body")

// requestBody is the body of a request with Content-Length > 0 or chunked
// transfer coding. It reads from the connection's buffer first, then from
// the socket with the ReadBodyTimeout deadline refreshed before each read.
// Every failure is sticky, makes the connection close after the response,
// and wraps middleware.ErrRequestBody (see Read).
type requestBody struct {
	c      *conn
	req    *http.Request
	o      *Options
	active bool

	chunked bool
	remain  int64 // bytes left: of the body, or of the current chunk
	total   int64 // chunk data delivered so far
	eof     bool
	closed  bool
	err     error

	// Chunked decoder state.
	state    int
	size     uint64
	digits   int
	extBytes int
	line     []byte // trailer line being assembled
	tbytes   int
	tlines   int
	trailer  http.Header
}

// reset prepares b for request r framed by f.
func (b *requestBody) reset(r *http.Request, f *framing, o *Options) {
	*b = requestBody{c: b.c, req: r, o: o, active: true, chunked: f.chunked, remain: f.contentLength}
	if f.chunked {
		b.remain = 0
	}
}

// Read reads the body. Errors other than io.EOF wrap
// middleware.ErrRequestBody and one of: os.ErrDeadlineExceeded when the
// client was too slow (ReadBodyTimeout), middleware.ErrClientGone when the
// connection was lost, or a description of the malformed chunked framing.
// A chunked body crossing MaxBodyBytes returns *http.MaxBytesError. With
// Expect: 100-continue, the first Read sends 100 Continue.
func (b *requestBody) Read(p []byte) (int, error) {
	switch {
	case b.err != nil:
		return 0, b.err
	case b.closed:
		return 0, errBodyClosed
	case b.eof:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	if b.c.expect.Load() == expectPending {
		if err := b.c.sendContinue(); err != nil {
			return 0, b.fail(err)
		}
	}
	return b.read(p)
}

func (b *requestBody) read(p []byte) (int, error) {
	if !b.chunked {
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err := b.c.readBody(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			b.eof = true
			return n, io.EOF
		}
		if err != nil {
			return n, b.fail(err)
		}
		return n, nil
	}
	for {
		switch b.state {
		case csDone:
			b.eof = true
			return 0, io.EOF
		case csData:
			if int64(len(p)) > b.remain {
				p = p[:b.remain]
			}
			n, err := b.c.readBody(p)
			b.remain -= int64(n)
			b.total += int64(n)
			if b.remain == 0 {
				b.state = csDataCR
				// Report EOF with the last data when the rest of the
				// body is already buffered, as net/http does, so that a
				// proxy can end its request at once.
				if err := b.advance(false); err != nil {
					return n, err
				}
				if b.state == csDone {
					b.eof = true
					return n, io.EOF
				}
			}
			if err != nil && n == 0 {
				return 0, b.fail(err)
			}
			return n, nil
		default:
			if err := b.advance(true); err != nil {
				return 0, err
			}
		}
	}
}

// Close marks the body closed: later reads fail. What the handler left
// unread is discarded by the connection after the response.
func (b *requestBody) Close() error {
	b.closed = true
	return nil
}

// fail records a read failure and returns the error Read reports.
func (b *requestBody) fail(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: %w", middleware.ErrRequestBody, err)
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("%w: %w: %w", middleware.ErrRequestBody, middleware.ErrClientGone, io.ErrUnexpectedEOF)
	default:
		err = fmt.Errorf("%w: %w: %w", middleware.ErrRequestBody, middleware.ErrClientGone, err)
	}
	b.failWith(err)
	if errors.Is(err, middleware.ErrClientGone) {
		// Last: the handler may return as soon as the context ends.
		b.c.cancelRequest()
	}
	return err
}

// malformed records a framing error in the chunked body.
func (b *requestBody) malformed(why string) error {
	return b.failWith(fmt.Errorf("%w: malformed chunked encoding: %s", middleware.ErrRequestBody, why))
}

func (b *requestBody) failWith(err error) error {
	b.err = err
	b.c.closeAfter.Store(true)
	return err
}

// advance runs the chunked decoder over buffered bytes until it reaches
// chunk data or the end of the body. With block set it reads from the
// connection when the buffer runs dry; without, it stops there.
func (b *requestBody) advance(block bool) error {
	c := b.c
	for b.state != csDone && !(b.state == csData && b.remain > 0) {
		if c.rpos == c.rend {
			if !block {
				return nil
			}
			if err := c.fillBody(); err != nil {
				return b.fail(err)
			}
		}
		if b.state == csTrailer {
			if err := b.trailerBytes(); err != nil {
				return err
			}
			continue
		}
		for c.rpos < c.rend && b.state != csTrailer && b.state != csData {
			if err := b.step(c.rbuf[c.rpos]); err != nil {
				return err
			}
			c.rpos++
		}
	}
	return nil
}

// step feeds one byte of chunk framing to the decoder.
func (b *requestBody) step(ch byte) error {
	ws := ch == ' ' || ch == '\t'
	if b.state >= csSizeExt && b.state <= csExtQuotedEsc {
		if b.extBytes++; b.extBytes > maxChunkExtBytes {
			return b.malformed("chunk extensions too long")
		}
	}
	switch b.state {
	case csSize:
		if v, ok := hexValue(ch); ok {
			if b.digits++; b.digits > maxChunkSizeDigits {
				return b.malformed("chunk size too long")
			}
			b.size = b.size<<4 | uint64(v)
			return nil
		}
		if b.digits == 0 {
			return b.malformed("missing chunk size")
		}
		if b.size > math.MaxInt64 {
			return b.malformed("chunk size overflow")
		}
		b.state = csSizeExt
		b.extBytes = 0
		return b.step(ch)
	case csSizeExt:
		if !ws {
			return b.extDelimiter(ch, "invalid chunk size line")
		}
	case csExtName0:
		switch {
		case ws:
		case httpsyntax.IsTchar(ch):
			b.state = csExtName
		default:
			return b.malformed("invalid chunk extension")
		}
	case csExtName, csExtAfterName:
		switch {
		case httpsyntax.IsTchar(ch) && b.state == csExtName:
		case ws:
			b.state = csExtAfterName
		case ch == '=':
			b.state = csExtVal0
		default:
			return b.extDelimiter(ch, "invalid chunk extension")
		}
	case csExtVal0:
		switch {
		case ws:
		case ch == '"':
			b.state = csExtQuoted
		case httpsyntax.IsTchar(ch):
			b.state = csExtVal
		default:
			return b.malformed("invalid chunk extension")
		}
	case csExtVal:
		switch {
		case httpsyntax.IsTchar(ch):
		case ws:
			b.state = csSizeExt
		default:
			return b.extDelimiter(ch, "invalid chunk extension")
		}
	case csExtQuoted:
		// RFC 9110 §5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
		switch {
		case ch == '"':
			b.state = csSizeExt
		case ch == '\\':
			b.state = csExtQuotedEsc
		case ch == '\t' || ch == ' ' || ch >= 0x21 && ch != 0x7f:
		default:
			return b.malformed("invalid chunk extension")
		}
	case csExtQuotedEsc:
		if ch != '\t' && ch < 0x20 || ch == 0x7f {
			return b.malformed("invalid chunk extension")
		}
		b.state = csExtQuoted
	case csSizeLF:
		if ch != '\n' {
			return b.malformed("chunk size line not ended by CRLF")
		}
		size := int64(b.size)
		b.size, b.digits = 0, 0
		if size == 0 {
			b.state = csTrailer
			b.tbytes, b.tlines = 0, 0
			return nil
		}
		if lim := b.o.MaxBodyBytes; lim > 0 && size > lim-b.total {
			return b.failWith(&http.MaxBytesError{Limit: lim})
		}
		b.state, b.remain = csData, size
	case csDataCR:
		if ch != '\r' {
			return b.malformed("chunk data not followed by CRLF")
		}
		b.state = csDataLF
	case csDataLF:
		if ch != '\n' {
			return b.malformed("chunk data not followed by CRLF")
		}
		b.state = csSize
	}
	return nil
}

// extDelimiter takes a byte that follows a chunk size, an extension name or
// an extension value and is neither part of it nor BWS: ";" starts another
// extension and CR ends the chunk-size line (RFC 9112 §7.1.1); anything else
// is refused, for the reason why.
func (b *requestBody) extDelimiter(ch byte, why string) error {
	switch ch {
	case ';':
		b.state = csExtName0
	case '\r':
		b.state = csSizeLF
	default:
		return b.malformed(why)
	}
	return nil
}

func hexValue(ch byte) (byte, bool) {
	switch {
	case '0' <= ch && ch <= '9':
		return ch - '0', true
	case 'a' <= ch && ch <= 'f':
		return ch - 'a' + 10, true
	case 'A' <= ch && ch <= 'F':
		return ch - 'A' + 10, true
	}
	return 0, false
}

// trailerBytes consumes buffered bytes of the trailer section, one line at
// a time. Trailer fields follow the header field rules, count against the
// head's byte and line limits, and may not be framing or routing fields.
func (b *requestBody) trailerBytes() error {
	c := b.c
	buf := c.rbuf[c.rpos:c.rend]
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		i = len(buf)
	} else {
		i++
	}
	b.tbytes += i
	if c.headBytes+b.tbytes > b.o.MaxHeaderBytes {
		return b.malformed("trailer section too large")
	}
	b.line = append(b.line, buf[:i]...)
	c.rpos += i
	if b.line[len(b.line)-1] != '\n' {
		return nil
	}
	line := b.line[:len(b.line)-1]
	b.line = b.line[:0]
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return b.malformed("bare LF in trailer section")
	}
	line = line[:len(line)-1]
	if len(line) == 0 {
		b.state = csDone
		if len(b.trailer) > 0 {
			if b.req.Trailer == nil {
				b.req.Trailer = make(http.Header, len(b.trailer))
			}
			for k, v := range b.trailer {
				b.req.Trailer[k] = v
			}
		}
		return nil
	}
	if b.tlines++; c.headLines+b.tlines > b.o.MaxHeaderCount {
		return b.malformed("too many trailer fields")
	}
	name, value, why := httpsyntax.SplitField(string(line))
	if why != "" {
		return b.malformed("invalid trailer field: " + why)
	}
	if strings.IndexByte(name, '_') >= 0 && b.o.Underscores != UnderscoresKeep {
		if b.o.Underscores == UnderscoresReject {
			return b.malformed("underscore in trailer field name")
		}
		return nil
	}
	key := canonicalKey(name)
	if forbiddenTrailer(key) {
		return b.malformed("forbidden trailer field " + key)
	}
	if b.trailer == nil {
		b.trailer = make(http.Header)
	}
	b.trailer[key] = append(b.trailer[key], value)
	return nil
}

// drain discards what the handler left unread, up to maxDrain bytes, and
// reports whether the connection may carry another request. A body whose
// 100-continue was never sent is not read: the client may be holding it
// back, so the connection closes instead.
func (b *requestBody) drain() bool {
	if !b.active {
		return true
	}
	b.active = false
	switch {
	case b.err != nil:
		return false
	case b.eof:
		return true
	case b.c.expect.Load() != expectNone && b.c.expect.Load() != expectSent:
		return false
	case !b.chunked && b.remain > maxDrain:
		return false
	}
	b.closed = false
	blk := b.c.srv.getBlock()
	defer b.c.srv.putBlock(blk)
	for total := 0; total <= maxDrain; {
		n, err := b.read(blk[:])
		total += n
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// unreadLeft reports whether the body will not be drained after the
// handler, so the response should announce Connection: close.
func (b *requestBody) unreadLeft() bool {
	if !b.active || b.eof {
		return false
	}
	if b.err != nil {
		return true
	}
	if e := b.c.expect.Load(); e != expectNone && e != expectSent {
		return true
	}
	return !b.chunked && b.remain > maxDrain
}

// readBody reads body bytes: buffered ones first, then from the socket,
// directly into p when p is large.
func (c *conn) readBody(p []byte) (int, error) {
	if c.rpos < c.rend {
		n := copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
		return n, nil
	}
	if len(p) >= len(c.rbuf) {
		c.setReadTimeout(c.opts.ReadBodyTimeout, time.Now())
		n, err := c.nc.Read(p)
		if n > 0 {
			return n, nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return 0, err
	}
	if err := c.fillBody(); err != nil {
		return 0, err
	}
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	return n, nil
}

// fillBody refills the empty read buffer from the socket.
func (c *conn) fillBody() error {
	c.rpos, c.rend = 0, 0
	c.setReadTimeout(c.opts.ReadBodyTimeout, time.Now())
	n, err := c.nc.Read(c.rbuf)
	c.rend = n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// sendContinue writes 100 Continue unless a final response started first.
func (c *conn) sendContinue() error {
	c.expectMu.Lock()
	defer c.expectMu.Unlock()
	if c.expect.Load() != expectPending {
		return nil
	}
	c.expect.Store(expectSent)
	n := copy(c.contLine[:], "HTTP/1.1 100 Continue\r\n\r\n")
	c.setWriteTimeout(c.opts.WriteTimeout, time.Now())
	if _, err := c.nc.Write(c.contLine[:n]); err != nil {
		return err
	}
	return nil
}

// declineContinue makes sure no 100 Continue follows a final response.
func (c *conn) declineContinue() {
	if c.expect.Load() != expectPending {
		return
	}
	c.expectMu.Lock()
	if c.expect.Load() == expectPending {
		c.expect.Store(expectDeclined)
	}
	c.expectMu.Unlock()
}
