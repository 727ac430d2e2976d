package middleware

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
)

// ResponseWriter wraps the server's http.ResponseWriter to record the status
// and body bytes for the access log. It passes Flush, Hijack and Unwrap
// through, so streaming, upgrades and http.ResponseController keep working
// behind it. The zero value is unusable; call Reset.
type ResponseWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

// Reset points rw at w for a new request.
func (rw *ResponseWriter) Reset(w http.ResponseWriter) {
	*rw = ResponseWriter{ResponseWriter: w}
}

// Status returns the final status written, 200 if the handler wrote a body
// without a status, or 0 if it wrote nothing.
func (rw *ResponseWriter) Status() int { return rw.status }

// Bytes returns the number of body bytes written.
func (rw *ResponseWriter) Bytes() int64 { return rw.bytes }

// Written reports whether the response head has been sent.
func (rw *ResponseWriter) Written() bool { return rw.wroteHeader }

// WriteHeader records the final status; informational (1xx) statuses pass
// through without being recorded.
func (rw *ResponseWriter) WriteHeader(code int) {
	if rw.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.ResponseWriter.WriteHeader(code)
		return
	}
	rw.status = code
	rw.wroteHeader = true
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *ResponseWriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	n, err := rw.ResponseWriter.Write(p)
	rw.bytes += int64(n)
	return n, err
}

// Flush sends any buffered data to the client.
func (rw *ResponseWriter) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over to the caller (protocol upgrades).
func (rw *ResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := rw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("%T does not support hijacking", rw.ResponseWriter)
	}
	c, brw, err := h.Hijack()
	if err == nil && !rw.wroteHeader {
		rw.status = http.StatusSwitchingProtocols
		rw.wroteHeader = true
	}
	return c, brw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (rw *ResponseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
