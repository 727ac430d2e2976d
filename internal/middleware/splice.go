package middleware

import "syscall"

// Splicer is an optional interface of response writers: Splice sends the
// next n bytes of the response body from the socket src straight to the
// client's socket, without copying them through user space (splice(2) on
// Linux), after the response head and anything buffered.
//
// ok false means the writer cannot (the client connection is TLS or not a
// socket, the body is chunked or being compressed, the platform has no
// splice): nothing was read from src and no body byte written (the head
// may have been, as by a first Write), and the caller writes as usual.
// With ok true, written bytes were sent; an error writing to the client
// wraps ErrClientGone, any other error is the source's (its socket failed,
// closed early or met its deadline).
//
// A writer that wraps another implements it by passing the call through
// when what it adds permits, counting what was written.
type Splicer interface {
	Splice(src syscall.RawConn, n int64) (written int64, ok bool, err error)
}

var _ Splicer = (*ResponseWriter)(nil)

// Splice passes the call to the wrapped writer when it is a Splicer,
// counting the bytes written.
func (rw *ResponseWriter) Splice(src syscall.RawConn, n int64) (int64, bool, error) {
	s, ok := rw.ResponseWriter.(Splicer)
	if !ok {
		return 0, false, nil
	}
	if !rw.wroteHeader {
		rw.WriteHeader(200)
	}
	written, ok, err := s.Splice(src, n)
	rw.bytes += written
	return written, ok, err
}
