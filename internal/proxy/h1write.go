package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"palisade/internal/httpsyntax"
)

// errInvalidRequest is returned for an outbound request that cannot be
// written without letting a value break out of its field: a bug of the
// request path, never forwarded.
var errInvalidRequest = errors.New("invalid outbound request")

// writeRequest sends the head and body of req on c. It reports whether the
// request asked for the connection to be closed after the exchange and
// whether any byte of the body was consumed, which rules out sending the
// request again without GetBody. Failures to read the body are
// requestBodyErrors, failures to write are connWriteErrors. Writes go
// through c.Write, which bounds them by the write timeout past
// writeNoBlock; a write deadline set so is cleared before returning.
func (c *h1Conn) writeRequest(req *http.Request) (closeAfter, bodyRead bool, err error) {
	t := c.pool.t
	c.sent = 0
	bw := t.getWriter(c)
	defer t.putWriter(bw)
	defer c.clearWriteDeadline()
	body, cl, chunked := requestFraming(req)
	if closeAfter, err = writeRequestHead(bw, req, cl, chunked); err != nil {
		return closeAfter, false, err
	}
	if body != nil {
		bp := t.bufs.Get().(*[]byte)
		bodyRead, err = writeRequestBody(bw, req, body, cl, chunked, *bp)
		t.bufs.Put(bp)
		if err != nil {
			return closeAfter, bodyRead, err
		}
	}
	if err := bw.Flush(); err != nil {
		return closeAfter, bodyRead, &connWriteError{err: err}
	}
	return closeAfter, bodyRead, nil
}

// clearWriteDeadline clears the deadline Write set, if any.
func (c *h1Conn) clearWriteDeadline() {
	if c.writeDeadline {
		c.nc.SetWriteDeadline(time.Time{})
		c.writeDeadline = false
	}
}

// requestFraming returns the body to send and how: with a Content-Length
// (cl >= 0) or chunked. As in net/http, a zero ContentLength with a body
// other than http.NoBody means unknown, and trailers need chunking.
func requestFraming(req *http.Request) (body io.Reader, cl int64, chunked bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, 0, false
	}
	if req.ContentLength > 0 && len(req.Trailer) == 0 {
		return req.Body, req.ContentLength, false
	}
	return req.Body, -1, true
}

// writeRequestHead serialises the request line, Host, the fields of
// req.Header in map order (the order of different field names carries no
// meaning, RFC 9110 §5.3), and the framing fields. Host, Content-Length,
// Transfer-Encoding and Trailer in req.Header are ignored: they are derived
// from the request. An empty User-Agent is omitted, as net/http does. Every
// name and value is checked, so that nothing set by a middleware can inject
// a field or a second request.
func writeRequestHead(bw *bufio.Writer, req *http.Request, cl int64, chunked bool) (closeAfter bool, err error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpsyntax.IsToken(method) {
		return false, errInvalidRequest
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	u := req.URL
	path := u.Opaque
	if path == "" {
		if path = u.EscapedPath(); path == "" {
			path = "/"
		}
	}
	if !validTarget(path) || !validTarget(u.RawQuery) {
		return false, errInvalidRequest
	}
	bw.WriteString(path)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if !validTarget(host) {
		return false, errInvalidRequest
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		case "Connection":
			closeAfter = valuesHaveToken(vv, "close")
		}
		if !httpsyntax.IsToken(k) {
			return false, errInvalidRequest
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" {
				continue
			}
			if !httpsyntax.ValidFieldValue(v) {
				return false, errInvalidRequest
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(req.Trailer) > 0 {
			bw.WriteString("Trailer: ")
			sep := ""
			for k := range req.Trailer {
				if !httpsyntax.IsToken(k) {
					return false, errInvalidRequest
				}
				bw.WriteString(sep)
				bw.WriteString(k)
				sep = ", "
			}
			bw.WriteString("\r\n")
		}
	case cl > 0 || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		// RFC 9110 §8.6: a request whose method gives the content a
		// meaning carries a Content-Length even when it is zero.
		bw.WriteString("Content-Length: ")
		writeUint(bw, uint64(cl), 10)
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	return closeAfter, nil
}

// writeRequestBody copies body to bw, exactly cl bytes or chunked followed
// by req.Trailer. bw is flushed whenever the client had nothing more to give
// at once, so that a streamed upload is not held in our buffer.
func writeRequestBody(bw *bufio.Writer, req *http.Request, body io.Reader, cl int64, chunked bool, buf []byte) (bodyRead bool, err error) {
	remaining := cl
	for {
		p := buf
		if !chunked && int64(len(p)) > remaining {
			p = p[:remaining]
		}
		n, rerr := body.Read(p)
		if n > 0 {
			bodyRead = true
			// bufio.Writer errors are sticky: the last write reports any.
			var werr error
			if chunked {
				writeUint(bw, uint64(n), 16)
				bw.WriteString("\r\n")
				bw.Write(p[:n])
				_, werr = bw.WriteString("\r\n")
			} else {
				_, werr = bw.Write(p[:n])
				remaining -= int64(n)
			}
			if werr == nil && n < len(buf) {
				werr = bw.Flush()
			}
			if werr != nil {
				return bodyRead, &connWriteError{err: werr}
			}
		}
		if !chunked && remaining == 0 {
			break
		}
		if rerr == io.EOF {
			if !chunked {
				return bodyRead, wrapBodyError(io.ErrUnexpectedEOF)
			}
			break
		}
		if rerr != nil {
			return bodyRead, wrapBodyError(rerr)
		}
	}
	if chunked {
		bw.WriteString("0\r\n")
		// The client's trailers are known once its body has ended.
		for k, vv := range req.Trailer {
			for _, v := range vv {
				if !httpsyntax.ValidFieldValue(v) {
					return bodyRead, errInvalidRequest
				}
				bw.WriteString(k)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("\r\n")
	}
	return bodyRead, nil
}

// writeUint writes n in base without allocating.
func writeUint(bw *bufio.Writer, n uint64, base int) {
	if bw.Available() < 20 {
		bw.Flush()
	}
	bw.Write(strconv.AppendUint(bw.AvailableBuffer(), n, base))
}

// validTarget reports whether s may be written in a request line or Host
// field: no whitespace, controls or DEL.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
