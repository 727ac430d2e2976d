package middleware

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Sentinel errors the request path branches on. Features wrap them with
// context (fmt.Errorf("upstream %q: %w", name, ErrNoBackend)); WriteError
// maps them to a status.
var (
	// ErrNoBackend: the upstream has no backend that may take the request.
	ErrNoBackend = errors.New("no available backend")
	// ErrBackendTimeout: a backend phase (dial, response header, a wait for
	// response body bytes or for the backend to take request bytes) timed
	// out.
	ErrBackendTimeout = errors.New("backend timeout")
	// ErrClientGone: the client closed the connection before the response.
	ErrClientGone = errors.New("client closed request")
	// ErrRequestBody wraps a failure to read the client's request body
	// (timeout, malformed chunking, connection lost); it is the client's
	// fault, never the backend's.
	ErrRequestBody = errors.New("reading request body")
)

// StatusClientClosed is the status logged, never written, when the client
// went away first (nginx's 499).
const StatusClientClosed = 499

// StatusFor maps a forwarding failure to the response status: a request body
// over the limit 413, a request body too slow 408 or malformed 400, no
// available backend 503, a backend timeout 504, the client gone 499, and any
// other backend failure (refused, reset, malformed response) 502.
func StatusFor(err error) int {
	var ne net.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrRequestBody):
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return http.StatusRequestTimeout
		}
		if errors.Is(err, ErrClientGone) {
			return StatusClientClosed
		}
		return http.StatusBadRequest
	case errors.Is(err, ErrClientGone), errors.Is(err, context.Canceled):
		return StatusClientClosed
	case errors.Is(err, ErrNoBackend):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrBackendTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// RetryAfter is implemented by errors that know when the request may
// succeed if sent again: WriteError adds a Retry-After field (RFC 9110
// §10.2.3) to a 503 or a 429 (RFC 6585 §4) answering such an error.
type RetryAfter interface {
	error
	RetryAfter() time.Duration
}

// ResponseFields is implemented by errors whose response carries fields of
// its own, such as the rate limiter's RateLimit and RateLimit-Policy:
// WriteError adds them to the cleared header before writing it.
type ResponseFields interface {
	error
	ResponseFields(h http.Header)
}

// WriteError answers r with status after a failure err, which is recorded in
// the request's State for the log and never sent to the client. The body is
// the bare status text; the X-Request-Id header lets an operator find the log
// line. A 499 (client gone) is recorded but nothing is written. WriteError
// writes nothing when the response has already started: the caller must then
// abort the connection (panic(http.ErrAbortHandler)).
func WriteError(w http.ResponseWriter, r *http.Request, status int, err error) {
	st := StateFrom(r.Context())
	if err != nil {
		st.Err = err
	}
	rw := findResponseWriter(w)
	if status == StatusClientClosed {
		if rw != nil {
			rw.status = StatusClientClosed
		}
		return
	}
	if rw != nil && rw.wroteHeader {
		return
	}
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	if st.ID != "" {
		h["X-Request-Id"] = []string{st.ID}
	}
	var ra RetryAfter
	if (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) && errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			h["Retry-After"] = []string{strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)}
		}
	}
	var rf ResponseFields
	if errors.As(err, &rf) {
		rf.ResponseFields(h)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(http.StatusText(status) + "\n"))
	}
}

// findResponseWriter returns the *ResponseWriter w is or wraps (through
// Unwrap, as feature writers such as compress's do), or nil.
func findResponseWriter(w http.ResponseWriter) *ResponseWriter {
	for {
		switch x := w.(type) {
		case *ResponseWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}
