package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"palisade/internal/httpsyntax"
)

// framingGap is the room left between a response head and a buffered body
// while the framing is not decided yet: the Content-Length or
// Transfer-Encoding line, the Connection line, the empty line and a chunk
// size line fit in it.
const framingGap = 96

// response is the http.ResponseWriter of one request. It frames the
// response itself (Content-Length when the handler set it or finished
// within one buffer, chunked otherwise, close-delimited for HTTP/1.0),
// writes the head at WriteHeader (so the header is frozen then, trailers
// aside), and buffers at most one write buffer of body.
//
// Like net/http's, it must not be used after ServeHTTP returns, nor from two
// goroutines at once; reading the request body while writing is allowed.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header
	status int
	http10 bool
	isHEAD bool

	wroteHeader bool // the final status is chosen and the head serialized
	framed      bool // the framing is decided; body bytes go out as written
	handlerDone bool
	hijacked    bool
	bodyRefused bool // 204 and 304: writes fail with ErrBodyNotAllowed

	declared int64 // Content-Length sent, -1 if none
	written  int64 // body bytes accepted from the handler
	chunked  bool
	headEnd  int // end of the serialized head in c.wbuf while not framed
	gapEnd   int // start of the buffered body while not framed
	trailers []string
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

// reset prepares w for request r.
func (w *response) reset(r *http.Request, f *framing) {
	h := w.header
	if h == nil || len(h) > 32 {
		h = make(http.Header)
	} else {
		clear(h)
	}
	*w = response{c: w.c, req: r, header: h, http10: f.http10, isHEAD: r.Method == http.MethodHead, declared: -1}
}

// Header returns the response header. It is reused for the next request
// on the connection, so it must not be kept after ServeHTTP returns.
func (w *response) Header() http.Header { return w.header }

// WriteHeader sends an informational status (1xx but 101) at once with the
// current header, as often as called, or chooses the final status and
// freezes the header. Like net/http, it panics on a code outside 100-999.
func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.hijacked || w.wroteHeader {
		return
	}
	c := w.c
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	c.declineContinue()
	w.status, w.wroteHeader = code, true
	c.acquireWrite()
	if c.werr != nil {
		// Nothing more reaches the client; keep the writer consistent.
		w.framed = true
		return
	}
	w.writeHead()
}

// writeInformational sends a 1xx response. RFC 9110 §15.2: none is sent to
// an HTTP/1.0 client.
func (w *response) writeInformational(code int) {
	c := w.c
	if code == http.StatusContinue {
		if c.expect.Load() != expectPending {
			return
		}
		c.expectMu.Lock()
		c.expect.Store(expectSent)
		c.expectMu.Unlock()
	}
	if w.http10 || c.werr != nil {
		return
	}
	c.acquireWrite()
	b := appendStatusLine(c.wbuf, false, code)
	for k, vv := range w.header {
		if k == "Content-Length" || k == "Transfer-Encoding" || !httpsyntax.IsToken(k) {
			continue
		}
		b = appendField(b, k, vv)
	}
	c.wbuf = append(b, "\r\n"...)
	c.flush()
}

// writeHead serializes the status line and the header into the write
// buffer and, when the framing is already known, the framing lines.
func (w *response) writeHead() {
	c, h := w.c, w.header
	code := w.status
	if vv := h["Content-Length"]; len(vv) > 0 && code != http.StatusNoContent {
		w.declared = parseContentLength(httpsyntax.TrimOWS(vv[0]))
	}
	if code != http.StatusSwitchingProtocols {
		for _, v := range h["Connection"] {
			if hasToken(v, "close") {
				c.closeAfter.Store(true)
			}
		}
	}
	w.bodyRefused = code == http.StatusNoContent || code == http.StatusNotModified
	trailersAllowed := !w.http10 && !w.bodyRefused && w.declared < 0 && code != http.StatusSwitchingProtocols
	if trailersAllowed {
		w.trailers = h["Trailer"]
	}

	b := appendStatusLine(c.wbuf, w.http10, code)
	for k, vv := range h {
		switch k {
		case "Content-Length", "Transfer-Encoding":
			// Framing is ours.
			continue
		case "Connection":
			if code != http.StatusSwitchingProtocols {
				continue
			}
		case "Trailer":
			if !trailersAllowed {
				continue
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpsyntax.IsToken(k) {
			continue
		}
		b = appendField(b, k, vv)
	}
	if _, ok := h["Date"]; !ok {
		b = append(b, c.srv.dateFor(time.Now())...)
	}
	c.wbuf = b

	switch {
	case code == http.StatusSwitchingProtocols, w.bodyRefused, w.declared >= 0, len(w.trailers) > 0,
		len(c.wbuf)+framingGap+2*framingGap > cap(c.wbuf):
		// The framing is known, or a huge head leaves no room to buffer
		// a body: stream.
		c.wbuf = w.appendFraming(c.wbuf, false)
		w.framed = true
	default:
		w.headEnd = len(c.wbuf)
		w.gapEnd = w.headEnd + framingGap
		c.wbuf = c.wbuf[:w.gapEnd]
	}
}

// appendFraming decides how the body is delimited and appends the framing
// lines and the empty line ending the head. final reports that the handler
// has returned, so a buffered body is the whole body.
func (w *response) appendFraming(b []byte, final bool) []byte {
	c := w.c
	switch {
	case w.status == http.StatusSwitchingProtocols:
		// The connection now speaks another protocol; it ends with this
		// response unless hijacked.
		c.closeAfter.Store(true)
		return append(b, "\r\n"...)
	case w.bodyRefused:
		if w.status == http.StatusNotModified && w.declared >= 0 {
			b = appendContentLength(b, w.declared)
		}
	case w.declared >= 0:
		b = appendContentLength(b, w.declared)
	case w.isHEAD:
		// net/http: a HEAD handler that wrote a body and returned gets
		// its length announced.
		if final && w.written > 0 {
			b = appendContentLength(b, w.written)
		}
	case final && len(w.trailers) == 0 && !w.hasTrailerPrefix():
		w.declared = w.written
		b = appendContentLength(b, w.declared)
	case !w.http10:
		w.chunked = true
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	default:
		// HTTP/1.0 has no chunking: the body ends with the connection.
		c.closeAfter.Store(true)
	}
	if final && c.x.body.unreadLeft() {
		c.closeAfter.Store(true)
	}
	switch {
	case c.closeAfter.Load() || c.srv.inShutdown.Load():
		c.closeAfter.Store(true)
		b = append(b, "Connection: close\r\n"...)
	case w.http10:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, "\r\n"...)
}

func (w *response) hasTrailerPrefix() bool {
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// frame decides the framing of a response whose head waits in the write
// buffer with the body after it: the framing lines go into the gap
// between them and the head moves up against them.
func (w *response) frame(final bool) {
	c := w.c
	w.framed = true
	var tmp [framingGap]byte
	lines := w.appendFraming(tmp[:0], final)
	staged := len(c.wbuf) - w.gapEnd
	if w.chunked && staged > 0 {
		lines = strconv.AppendInt(lines, int64(staged), 16)
		lines = append(lines, "\r\n"...)
		c.wbuf = append(c.wbuf, "\r\n"...)
	}
	start := w.gapEnd - len(lines)
	copy(c.wbuf[start:], lines)
	copy(c.wbuf[start-w.headEnd:], c.wbuf[:w.headEnd])
	c.wstart = start - w.headEnd
}

// Write writes body bytes, sending WriteHeader(http.StatusOK) first if
// needed. It fails with http.ErrBodyNotAllowed for 204 and 304, with
// http.ErrContentLength past a declared Content-Length, and with an error
// wrapping middleware.ErrClientGone once a write to the client failed.
// Writes to a HEAD response are counted and discarded.
func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	c := w.c
	switch {
	case w.bodyRefused:
		return 0, http.ErrBodyNotAllowed
	case w.declared >= 0 && w.written+int64(len(p)) > w.declared:
		return 0, http.ErrContentLength
	case c.werr != nil:
		return 0, c.werr
	}
	w.written += int64(len(p))
	if w.isHEAD {
		return len(p), nil
	}
	if !w.framed {
		if len(c.wbuf)+len(p)+2 <= cap(c.wbuf) {
			c.wbuf = append(c.wbuf, p...)
			return len(p), nil
		}
		w.frame(false)
	}
	var err error
	if w.chunked {
		err = w.writeChunk(p)
	} else {
		err = w.writeRaw(p)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString is Write without the conversion when s fits in the buffer.
func (w *response) WriteString(s string) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	c := w.c
	if w.hijacked || w.bodyRefused || w.isHEAD || w.chunked || c.werr != nil ||
		w.declared >= 0 && w.written+int64(len(s)) > w.declared ||
		len(c.wbuf)+len(s)+2 > cap(c.wbuf) {
		return w.Write([]byte(s))
	}
	w.written += int64(len(s))
	c.wbuf = append(c.wbuf, s...)
	return len(s), nil
}

func (w *response) writeRaw(p []byte) error {
	c := w.c
	if len(c.wbuf)+len(p) <= cap(c.wbuf) {
		c.wbuf = append(c.wbuf, p...)
		return nil
	}
	if len(p) < cap(c.wbuf)/2 {
		if err := c.flush(); err != nil {
			return err
		}
		c.wbuf = append(c.wbuf, p...)
		return nil
	}
	return c.flushWith(p)
}

// writeChunk sends p as one chunk: small ones are buffered, large ones go
// out with the buffered bytes in one writev.
func (w *response) writeChunk(p []byte) error {
	c := w.c
	if len(p) == 0 {
		return nil
	}
	const maxChunkHeader = 16 + 2
	if len(p) <= cap(c.wbuf)/2 {
		if len(c.wbuf)+maxChunkHeader+len(p)+2 > cap(c.wbuf) {
			if err := c.flush(); err != nil {
				return err
			}
		}
		c.wbuf = strconv.AppendInt(c.wbuf, int64(len(p)), 16)
		c.wbuf = append(c.wbuf, "\r\n"...)
		c.wbuf = append(c.wbuf, p...)
		c.wbuf = append(c.wbuf, "\r\n"...)
		return nil
	}
	if len(c.wbuf)+maxChunkHeader > cap(c.wbuf) {
		if err := c.flush(); err != nil {
			return err
		}
	}
	c.wbuf = strconv.AppendInt(c.wbuf, int64(len(p)), 16)
	c.wbuf = append(c.wbuf, "\r\n"...)
	if err := c.flushWith(p); err != nil {
		return err
	}
	c.wbuf = append(c.wbuf, "\r\n"...)
	return nil
}

// Flush sends the head and buffered body now. Without a Content-Length the
// response becomes chunked (close-delimited for HTTP/1.0).
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush reporting the write error, for
// http.ResponseController.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.framed {
		w.frame(false)
	}
	return w.c.flush()
}

// finish completes the response after the handler returned.
func (w *response) finish() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.handlerDone = true
	c := w.c
	if c.werr != nil {
		return
	}
	if !w.framed {
		w.frame(true)
	}
	if w.chunked && !w.isHEAD {
		c.wbuf = append(c.wbuf, "0\r\n"...)
		c.wbuf = w.appendTrailers(c.wbuf)
		c.wbuf = append(c.wbuf, "\r\n"...)
	}
	if w.declared >= 0 && w.written < w.declared && !w.isHEAD && !w.bodyRefused {
		// The client waits for bytes that will not come; only closing
		// tells it the body is over.
		c.closeAfter.Store(true)
	}
	c.flush()
}

// appendTrailers appends the trailer fields: those announced in the Trailer
// header before WriteHeader, and those set with http.TrailerPrefix.
func (w *response) appendTrailers(b []byte) []byte {
	for _, list := range w.trailers {
		for more := true; more; {
			var name string
			name, list, more = nextListItem(list)
			if !httpsyntax.IsToken(name) {
				continue
			}
			key := http.CanonicalHeaderKey(name)
			if forbiddenTrailer(key) {
				continue
			}
			if vv := w.header[key]; len(vv) > 0 {
				b = appendField(b, key, vv)
			}
		}
	}
	for k, vv := range w.header {
		if !strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		name := k[len(http.TrailerPrefix):]
		if !httpsyntax.IsToken(name) || forbiddenTrailer(http.CanonicalHeaderKey(name)) {
			continue
		}
		b = appendField(b, name, vv)
	}
	return b
}

// Hijack hands the connection to the caller, with the bytes already read
// from the client in the returned reader. Anything written before is sent
// first; deadlines are cleared. The Server forgets the connection: neither
// Shutdown nor Close touch it.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if w.wroteHeader && !w.framed {
		w.frame(false)
	}
	if c.wbuf != nil {
		if err := c.flush(); err != nil {
			return nil, nil, err
		}
	}
	w.hijacked = true
	c.hijacked = true
	// While the socket is surely ours: the hijacker may close it, and its
	// number be reused, before the handler returns.
	c.leaveEpoll()
	c.declineContinue()
	c.nc.SetDeadline(time.Time{})
	c.rdl, c.wdl = time.Time{}, time.Time{}
	var br *bufio.Reader
	if left := c.rbuf[c.rpos:c.rend]; len(left) > 0 {
		left = bytes.Clone(left)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(left), c.nc), max(4096, len(left)))
		// Make the buffered bytes visible through Buffered(), as net/http
		// does: ReverseProxy forwards them before copying the raw conn.
		br.Peek(len(left))
	} else {
		br = bufio.NewReader(c.nc)
	}
	c.rpos = c.rend
	// The connection stays tracked until its handler returns, so that
	// Shutdown and Close can end a tunnel (a WebSocket) that outlives the
	// grace period by closing the socket under the hijacker.
	return c.nc, bufio.NewReadWriter(br, bufio.NewWriter(c.nc)), nil
}

// SetReadDeadline sets the connection's read deadline, for
// http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error {
	if w.hijacked {
		return http.ErrHijacked
	}
	return w.c.setReadDeadline(t)
}

// SetWriteDeadline sets the connection's write deadline, for
// http.ResponseController.
func (w *response) SetWriteDeadline(t time.Time) error {
	if w.hijacked {
		return http.ErrHijacked
	}
	return w.c.setWriteDeadline(t)
}

// EnableFullDuplex reports success: reading the request body while writing
// the response is always allowed.
func (w *response) EnableFullDuplex() error { return nil }

// appendStatusLine appends "HTTP/1.x code text\r\n". net/http's status text
// is used, "status code N" for codes it does not know.
func appendStatusLine(b []byte, http10 bool, code int) []byte {
	if http10 {
		b = append(b, "HTTP/1.0 "...)
	} else {
		b = append(b, "HTTP/1.1 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

func appendContentLength(b []byte, n int64) []byte {
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, "\r\n"...)
}

// appendField appends one line per value. Control bytes in a value (CR and
// LF above all, which would split the response) become spaces.
func appendField(b []byte, k string, vv []string) []byte {
	for _, v := range vv {
		b = append(b, k...)
		b = append(b, ": "...)
		if httpsyntax.ValidFieldValue(v) {
			b = append(b, v...)
		} else {
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c < 0x20 && c != '\t' || c == 0x7f {
					c = ' '
				}
				b = append(b, c)
			}
		}
		b = append(b, "\r\n"...)
	}
	return b
}
