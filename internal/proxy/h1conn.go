package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"palisade/internal/middleware"
)

// h1Conn is one connection to a backend. It is used by one exchange at a
// time, from that exchange's goroutine; only interrupt runs elsewhere, and
// it touches nothing but the net.Conn. It is the io.Reader under its read
// buffer and the io.Writer under its write buffer (see Read and Write).
type h1Conn struct {
	pool *h1Pool
	nc   net.Conn
	// br is the pooled read buffer, held from the request's end to the
	// response's end and nil while the connection is idle.
	br *bufio.Reader
	// ctx is the context of the exchange in progress, nil while idle.
	ctx context.Context
	// got counts the bytes read from the backend, so that a read that
	// meets its deadline can tell a stall from a body still flowing;
	// mark is got when the body's deadline was last set. bodyTimeout is
	// the read timeout when the response body's reads wait under it,
	// else zero. They live here rather than in h1Body to keep the
	// per-response allocation in its size class.
	got, mark   int64
	bodyTimeout time.Duration
	// sent counts the bytes of the current request written so far;
	// writeTimeout bounds the writes past writeNoBlock.
	sent         int64
	writeTimeout time.Duration
	// readDeadline and writeDeadline report that the exchange left a
	// deadline on nc that must be cleared before nc carries another.
	readDeadline, writeDeadline bool
	// idleSince is when the connection was last returned to the pool.
	idleSince time.Time
	// reused reports that the connection served an earlier exchange.
	reused bool
	// interrupt makes blocked reads and writes return at once; it is
	// bound once per connection so that registering it allocates nothing.
	interrupt func()
	// slot or stop unregisters interrupt from the current exchange's
	// context: slot when the server offers a middleware.InterruptSlot,
	// stop (context.AfterFunc's) otherwise. See unregister.
	slot middleware.InterruptSlot
	stop func() bool
	// rc is the socket of a TCP connection, for splicing bodies to the
	// client and registering with the close watcher; nil otherwise.
	rc syscall.RawConn
	// watcher and watchID are the close watcher that watches the
	// connection and its registration, set at dial; watcher is nil when
	// none does, and the pool probes the connection instead.
	watcher *closeWatcher
	watchID uint64
	// peerGone reports that the watcher saw the backend close the
	// connection (set under the pool's mutex, read anywhere).
	peerGone atomic.Bool
}

// closeConn closes the socket and drops its watch registration.
func (c *h1Conn) closeConn() {
	c.nc.Close()
	if c.watcher != nil {
		c.watcher.forget(c)
	}
}

// watchAfter is how long a request waits on its backend's response head
// before the client's connection is watched for a hang-up (a system call
// that most requests, answered sooner, are spared).
const watchAfter = time.Second

// writeNoBlock is how much of a request is written without a write
// deadline: an exchange starts on a connection whose socket buffer the
// backend has drained (it answered the previous request), and Linux takes
// at least this much into it without waiting, so a request this small
// never blocks and the common small request pays no timer update.
const writeNoBlock = 16 << 10

// staleConnError reports that a reused connection failed before the first
// byte of a response: the backend most likely closed it while it was idle,
// and the request may be sent again on a new connection.
type staleConnError struct {
	err error
	// bodyRead reports that some of the request body was consumed, so a
	// retry needs GetBody.
	bodyRead bool
}

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// connWriteError marks a failure to write the request on the connection, as
// opposed to a failure to read the client's body.
type connWriteError struct{ err error }

func (e *connWriteError) Error() string { return "writing request: " + e.err.Error() }
func (e *connWriteError) Unwrap() error { return e.err }

// h1Response holds a response, its body and the backing array of its
// header values in one allocation.
type h1Response struct {
	resp http.Response
	body h1Body
	vals [16]string
}

// roundTrip runs one exchange on c. On error c has been closed.
func (c *h1Conn) roundTrip(ctx context.Context, req *http.Request, hooks exchangeHooks) (*http.Response, error) {
	t := c.pool.t
	set := t.settings.Load()
	c.ctx, c.writeTimeout, c.bodyTimeout = ctx, set.writeTimeout, 0
	c.stop, c.slot = nil, nil
	sc := middleware.ServerConnFrom(ctx)
	switch {
	case sc != nil && ctx.Done() == sc.Done() && sc.SetInterrupt(&c.interrupt):
		// The client going away must end a wait on a slow backend; no
		// goroutine watches for it: the server runs interrupt.
		c.slot = sc
	case ctx.Done() != nil:
		c.stop = context.AfterFunc(ctx, c.interrupt)
	}

	closeAfter, bodyRead, werr := c.writeRequest(req)
	if werr != nil {
		var cwe *connWriteError
		if !errors.As(werr, &cwe) || ctx.Err() != nil {
			c.abort()
			return nil, contextErr(ctx, werr)
		}
		// The backend may have answered before reading the whole body
		// (413, 401) and closed: read what it said.
		closeAfter = true
	}

	c.br = t.getReader(c)
	timeout := set.responseHeaderTimeout
	if hooks != nil {
		if d := hooks.responseHeaderTimeout(); d > 0 {
			timeout = d
		}
	}
	if isWriteTimeout(werr) && (timeout <= 0 || timeout > set.writeTimeout) {
		// The backend stopped reading the request: an answer it sent
		// before that is read, a late one is not waited for.
		timeout = set.writeTimeout
	}
	// The wait for the head is bounded by timeout. A client that can be
	// watched for a hang-up is, once the wait has lasted watchAfter: the
	// first deadline is then the earlier of the two.
	var deadline, wait time.Time
	var watcher middleware.ClientWatcher
	if sc != nil {
		watcher = sc
	}
	if timeout > 0 || watcher != nil {
		now := time.Now()
		if timeout > 0 {
			deadline = now.Add(timeout)
		}
		wait = deadline
		if watcher != nil && (timeout <= 0 || timeout > watchAfter) {
			wait = now.Add(watchAfter)
		}
		if err := c.setReadDeadline(wait); err != nil {
			c.abort()
			return nil, err
		}
	}
	r := &h1Response{}
	vals := r.vals[:]
	var f framing
	for n := 0; ; n++ {
		block, err := peekBlock(c.br)
		if err != nil && !wait.Equal(deadline) && errors.Is(err, os.ErrDeadlineExceeded) {
			// A slow backend: watch the client, wait out the timeout.
			watcher.WatchClient()
			wait = deadline
			if c.setReadDeadline(deadline) == nil {
				block, err = peekBlock(c.br)
			}
		}
		if err != nil {
			return nil, c.headError(ctx, err, werr, n > 0 || c.br.Buffered() > 0, bodyRead, timeout)
		}
		head := string(block)
		c.br.Discard(len(block))
		r.resp = http.Response{}
		if f, err = parseResponseHead(head, &r.resp, vals); err != nil {
			c.abort()
			return nil, err
		}
		code := r.resp.StatusCode
		if code >= 200 || code == http.StatusSwitchingProtocols {
			break
		}
		if n >= maxInformational {
			c.abort()
			return nil, badResponse("too many informational responses")
		}
		if err := got1xx(ctx, hooks, code, r.resp.Header); err != nil {
			c.abort()
			return nil, err
		}
		// The hook may keep the 1xx header; the next head gets new values.
		vals = nil
	}

	resp := &r.resp
	resp.Request = req
	resp.Close = f.closeAfter || closeAfter
	b := &r.body
	*b = h1Body{c: c, br: c.br, resp: resp, ctx: ctx, reuse: !resp.Close}
	upgrade := resp.StatusCode == http.StatusSwitchingProtocols
	switch {
	case upgrade:
		if !valuesHaveToken(req.Header["Connection"], "upgrade") || werr != nil {
			c.abort()
			return nil, badResponse("101 Switching Protocols without an upgrade request")
		}
	case req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified:
		// RFC 9112 §6.3: these responses end with their head.
		resp.ContentLength = 0
		if req.Method == http.MethodHead {
			resp.ContentLength = f.contentLength
		}
		resp.Body = http.NoBody
	case f.chunked:
		b.mode = bodyChunked
		resp.ContentLength = -1
		resp.Body = b
	case f.contentLength == 0:
		resp.Body = http.NoBody
	case f.contentLength > 0:
		b.mode = bodyLength
		b.remaining = f.contentLength
		resp.ContentLength = f.contentLength
		resp.Body = b
	default:
		// RFC 9112 §6.3 item 8: the body ends when the connection closes.
		b.mode = bodyUntilClose
		b.reuse = false
		resp.Close = true
		resp.ContentLength = -1
		resp.Body = b
	}

	// The head's deadline gives way to the body's: the read timeout
	// bounds the waits for body bytes not already buffered. A body with a
	// Content-Length that came whole with its head (most small responses;
	// a chunked body's end is known only once parsed) costs what clearing
	// the head's deadline cost.
	var derr error
	switch {
	case resp.Body == b && set.readTimeout > 0 &&
		(b.mode != bodyLength || int64(c.br.Buffered()) < b.remaining):
		c.bodyTimeout = set.readTimeout
		derr = b.arm()
	case !wait.IsZero():
		derr = c.setReadDeadline(time.Time{})
	}
	if derr != nil {
		c.abort()
		return nil, derr
	}

	switch {
	case upgrade:
		resp.Body = &h1Upgrade{c: c, br: c.br}
		c.br = nil
	case resp.Body != b:
		c.release(b.reuse)
	}
	return resp, nil
}

// headError classifies a failure to read a response head and closes c.
func (c *h1Conn) headError(ctx context.Context, err, werr error, gotBytes, bodyRead bool, timeout time.Duration) error {
	c.abort()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, errBadResponse) {
		return err
	}
	if !gotBytes && isWriteTimeout(werr) {
		// Not a stale connection: one that is open, with a backend that
		// stopped reading.
		return werr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return responseHeaderTimeoutError(timeout)
	}
	if !gotBytes && (werr != nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		if werr != nil {
			err = werr
		}
		err = fmt.Errorf("%w: %w", errNoResponse, err)
		if c.reused {
			return &staleConnError{err: err, bodyRead: bodyRead}
		}
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: reading head: %w", errBadResponse, err)
}

// contextErr returns the context's error when it is done, since a failure
// then is the consequence of the client going away, not its cause.
func contextErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}

// release ends an exchange whose response is complete: c goes back to the
// pool when reuse allows and nothing unexpected is buffered, else it is
// closed. c must not be touched after release.
func (c *h1Conn) release(reuse bool) {
	if !c.unregister() {
		reuse = false
	}
	c.ctx = nil
	if c.br != nil {
		if c.br.Buffered() > 0 {
			// The backend sent bytes beyond its response: whatever they
			// are, they must not be read as the next response.
			reuse = false
		}
		c.pool.t.putReader(c.br)
		c.br = nil
	}
	if reuse && !c.pool.t.closed.Load() {
		if c.readDeadline {
			// An idle connection has no deadline: the next exchange
			// sets the ones it needs, and the pool's liveness probe
			// must not find an expired one.
			c.nc.SetReadDeadline(time.Time{})
			c.readDeadline = false
		}
		c.pool.put(c)
		return
	}
	c.pool.forget(c)
}

// unregister removes interrupt from the exchange's context. It reports
// false when interrupt has run or is running: the connection must then not
// be reused.
func (c *h1Conn) unregister() bool {
	stopped := true
	switch {
	case c.slot != nil:
		stopped = c.slot.ClearInterrupt(&c.interrupt)
	case c.stop != nil:
		stopped = c.stop()
	}
	c.slot, c.stop = nil, nil
	return stopped
}

// abort ends a failed exchange and closes c.
func (c *h1Conn) abort() {
	c.unregister()
	c.ctx = nil
	if c.br != nil {
		c.pool.t.putReader(c.br)
		c.br = nil
	}
	c.pool.forget(c)
}

// setReadDeadline sets the read deadline for the exchange in progress and
// returns its context's error if the context has ended. The interrupt that
// wakes a blocked read moves the deadline into the past, and runs only
// after the context ended: a deadline set after it ran would undo it, and
// the check after the set catches exactly that. Every deadline an exchange
// sets goes through here or setWriteDeadline.
func (c *h1Conn) setReadDeadline(t time.Time) error {
	c.nc.SetReadDeadline(t)
	return c.ctx.Err()
}

// setWriteDeadline is setReadDeadline for writes.
func (c *h1Conn) setWriteDeadline(t time.Time) error {
	c.nc.SetWriteDeadline(t)
	return c.ctx.Err()
}

// Read reads from the backend for the read buffer, counting the bytes.
func (c *h1Conn) Read(p []byte) (int, error) {
	n, err := c.nc.Read(p)
	c.got += int64(n)
	return n, err
}

// Write writes to the backend for the write buffer. The first writeNoBlock
// bytes of a request go out as they are; beyond them, each write waits at
// most the write timeout for the backend to take bytes, counted anew
// while it does. A write that fails so wraps middleware.ErrBackendTimeout.
func (c *h1Conn) Write(p []byte) (int, error) {
	c.sent += int64(len(p))
	if c.writeTimeout <= 0 || c.sent <= writeNoBlock {
		return c.nc.Write(p)
	}
	written := 0
	for {
		c.writeDeadline = true
		if err := c.setWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return written, err
		}
		n, err := c.nc.Write(p[written:])
		written += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
		if n > 0 {
			continue // the backend is reading, slowly
		}
		if ctxErr := c.ctx.Err(); ctxErr != nil {
			return written, ctxErr
		}
		return written, fmt.Errorf("%w: the backend took no request bytes for %v: %w", middleware.ErrBackendTimeout, c.writeTimeout, err)
	}
}

// isWriteTimeout reports whether werr, a failure of writeRequest that is
// not the client's, is a write that waited out the write timeout.
func isWriteTimeout(werr error) bool {
	return werr != nil && errors.Is(werr, middleware.ErrBackendTimeout)
}

// h1Upgrade is the body of a 101 response: the connection itself, with
// whatever the backend sent after the 101 head still in br. It is never
// returned to the pool. Read and Write may be called concurrently.
type h1Upgrade struct {
	c      *h1Conn
	br     *bufio.Reader
	closed atomic.Bool
}

var _ io.ReadWriteCloser = (*h1Upgrade)(nil)

// Read reads what the backend sent after the 101 head, then the connection.
func (u *h1Upgrade) Read(p []byte) (int, error) { return u.br.Read(p) }

// Write writes to the backend.
func (u *h1Upgrade) Write(p []byte) (int, error) { return u.c.nc.Write(p) }

// CloseWrite half-closes the connection, so the backend reads EOF.
func (u *h1Upgrade) CloseWrite() error {
	if cw, ok := u.c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return u.Close()
}

// SetReadDeadline bounds the wait for the backend's next bytes.
func (u *h1Upgrade) SetReadDeadline(t time.Time) error { return u.c.nc.SetReadDeadline(t) }

// Close closes the connection. It may be called from any goroutine and
// more than once; a blocked Read or Write returns.
func (u *h1Upgrade) Close() error {
	if u.closed.Swap(true) {
		return nil
	}
	u.c.unregister()
	u.c.pool.forget(u.c)
	return nil
}
