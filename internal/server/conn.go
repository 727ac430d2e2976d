package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"palisade/internal/middleware"
)

// Connection states, read by Shutdown to find idle connections.
const (
	connActive int32 = iota
	connIdle
)

// States of an Expect: 100-continue exchange.
const (
	expectNone     int32 = iota
	expectPending        // the client waits for 100 Continue
	expectSent           // 100 Continue was written
	expectDeclined       // a final response started first: no 100 will be sent
)

// lingerTimeout bounds the wait for the client to read an error response
// before the socket is closed (net/http waits 500ms too): closing with
// unread input makes the kernel send RST, which may destroy the response
// before the client reads it.
const lingerTimeout = 500 * time.Millisecond

// maxDrain is how much of an unread request body is read and discarded
// after the handler to keep the connection (net/http's limit).
const maxDrain = 256 << 10

// h2Preface starts every HTTP/2 connection (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

var _ middleware.ServerConn = (*conn)(nil)

// Done implements middleware.InterruptSlot.
func (c *conn) Done() <-chan struct{} { return c.ctx.Done() }

// SetInterrupt implements middleware.InterruptSlot. It refuses once the
// context has ended: cancelRequest may have emptied the slot already, and
// nothing would run f.
func (c *conn) SetInterrupt(f *func()) bool {
	if !c.intr.CompareAndSwap(nil, f) {
		return false
	}
	select {
	case <-c.ctx.Done():
		return !c.intr.CompareAndSwap(f, nil)
	default:
		return true
	}
}

// ClearInterrupt implements middleware.InterruptSlot.
func (c *conn) ClearInterrupt(f *func()) bool { return c.intr.CompareAndSwap(f, nil) }

// cancelRequest ends the connection's context, then runs the interrupt
// the handler registered, if any: the context first, so that what the
// interrupt wakes sees why.
func (c *conn) cancelRequest() {
	c.cancel()
	if f := c.intr.Swap(nil); f != nil {
		(*f)()
	}
}

// errClientClosed is why nothing more is written once the client was
// seen closing its connection while its request was being served.
var errClientClosed = errors.New("client closed the connection")

// errParked reports that readIdle handed the connection to the idle
// parker: the goroutine that called it must end without touching c.
var errParked = errors.New("connection parked")

// conn is the state of one client connection, owned by its goroutine (or,
// while parked, by the Server's idle parker). The struct is pooled by the
// Server and kept small, since an idle connection holds it: the response
// writer and body reader of a request live in an exchange taken from
// another pool for the request's duration, which the http.Handler contract
// allows: neither may be used after ServeHTTP returns.
type conn struct {
	srv      *Server
	nc       net.Conn
	rc       syscall.RawConn // nil when nc has no file descriptor
	idleFn   func(fd uintptr) bool
	nowFn    func(fd uintptr)
	fd       int32 // socket descriptor, -1 when nc has none
	remote   string
	accepted time.Time

	// ctx is the context of every request on the connection. We do not
	// pay for a context per request: ctx is cancelled when the connection
	// dies (a failed read or write, Close, Shutdown's deadline) and when
	// it ends, not when each request ends.
	ctx    context.Context
	cancel context.CancelFunc
	base   http.Request // carries ctx; copied into each request

	state      atomic.Int32 // connIdle while waiting for a request on a goroutine
	closeAfter atomic.Bool  // close once the current response is done
	linger     bool         // input may be left unread: close gently
	hijacked   bool
	first      bool // no request read yet

	// Idle wait: its deadline (zero: none), and the parker's bookkeeping.
	waitDL  time.Time
	serveFn func() // c.serve, made once: a go statement with it does not allocate
	woken   bool   // the parker resumed c: keep waitDL
	inEpoll bool   // the socket is in the parker's epoll instance
	heapIdx int    // index in the parker's deadline heap, -1 when not in it

	// watched: the parker cancels the request if the client hangs up
	// (guarded by the parker's mu); watching: this request asked for it
	// (owned by the connection's goroutine); gone: the parker saw the
	// client hang up, nothing more is written.
	watched  bool
	watching bool
	gone     atomic.Bool
	epGen    int32 // generation of the epoll registration (guarded by the parker's mu)

	// intr is the handler's interrupt (middleware.InterruptSlot), called
	// by cancelRequest.
	intr atomic.Pointer[func()]

	// Read side: the request head and body, read by the goroutine
	// running the handler (or the one it reads the body from).
	rblk       *block // pooled backing of rbuf, nil when rbuf grew
	rbuf       []byte
	rpos, rend int
	rdl        time.Time // read deadline in force
	idleN      int
	idleErr    error
	idleDone   bool
	one        [1]byte
	headBytes  int
	headLines  int

	// Write side: the response, written by the handler's goroutine.
	wblk   *block
	wbuf   []byte // len is the bytes pending from wstart
	wstart int
	wdl    time.Time // write deadline in force
	werr   error
	vec    net.Buffers
	iov    [2][]byte

	// expect is the 100-continue state; expectMu orders the interim
	// response written by a body reader against the final one.
	expect   atomic.Int32
	expectMu sync.Mutex
	contLine [25]byte

	opts *Options
	x    *exchange // the request in progress, nil between requests
}

// exchange is the response writer and body reader of one request, pooled
// by the Server. A connection holds one only while a request is in
// progress, so an idle connection keeps neither them nor the response
// header map they reuse.
type exchange struct {
	resp response
	body requestBody
}

// takeExchange gives c a pooled exchange for the request starting.
func (c *conn) takeExchange() *exchange {
	x := c.srv.exchanges.Get().(*exchange)
	x.resp.c, x.body.c = c, c
	c.x = x
	return x
}

// releaseExchange returns c's exchange to the pool, keeping only the
// response header map (emptied) for the next request: nothing the
// finished request referenced stays alive (the request, the header values,
// which point into the backend's response head, the trailers).
func (c *conn) releaseExchange() {
	x := c.x
	if x == nil {
		return
	}
	c.x = nil
	h := x.resp.header
	if len(h) > 32 {
		h = nil // an unusual response: let its large map go
	} else {
		clear(h)
	}
	*x = exchange{resp: response{header: h}}
	c.srv.exchanges.Put(x)
}

// init prepares c for the accepted connection nc.
func (c *conn) init(s *Server, nc net.Conn) {
	*c = conn{srv: s, nc: nc, fd: -1, first: true, heapIdx: -1, accepted: time.Now()}
	c.remote = nc.RemoteAddr().String()
	c.initRaw()
	ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, nc.LocalAddr())
	ctx = middleware.WithServerConn(ctx, c)
	if s.connContext != nil {
		ctx = s.connContext(ctx, nc)
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	// Kept by value: WithContext's copy is garbage at once, so an idle
	// connection holds one Request less.
	c.base = *(&http.Request{}).WithContext(c.ctx)
}

// serve runs the connection from accept, or from the parker's wake-up,
// until it closes or is parked.
func (c *conn) serve() {
	parked := false
	defer func() {
		if p := recover(); p != nil {
			c.srv.log.Error("connection panic", "remote", c.remote, "panic", p, "stack", string(debug.Stack()))
		}
		if !parked {
			c.exit()
		}
	}()
	for {
		o := c.srv.opts.Load()
		c.opts = o
		first := c.first
		if err := c.awaitRequest(o, first); err != nil {
			// Parked: c belongs to the parker now.
			parked = err == errParked
			return
		}
		c.first = false
		// Over TLS, HTTP/2 is chosen by ALPN before this loop runs; a
		// preface here is refused as a malformed request.
		if first && c.base.TLS == nil && c.prefacePending() {
			c.handoffH2()
			return
		}
		// Load again: options set while the connection was idle apply to
		// the request that just arrived.
		o = c.srv.opts.Load()
		c.opts = o
		if !c.serveRequest(o) {
			return
		}
	}
}

// exit releases the connection: buffers back to their pool, the socket
// closed unless hijacked or handed over, the context cancelled.
func (c *conn) exit() {
	s := c.srv
	// Before the socket is closed (a hijacked or handed-over one left
	// already): its number may be reused at once.
	c.leaveEpoll()
	if c.nc != nil && !c.hijacked {
		if c.linger {
			c.lingerClose()
		} else {
			c.nc.Close()
		}
	}
	c.cancelRequest()
	c.releaseRead()
	c.releaseWrite()
	c.releaseExchange()
	s.untrack(c)
	s.connWG.Done()
	*c = conn{}
	s.conns.Put(c)
}

// lingerClose sends FIN after the response and reads what the client still
// sends for a moment before closing, so that the response is not lost to a
// reset.
func (c *conn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && c.werr == nil {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		blk := c.srv.getBlock()
		for total := 0; total < maxDrain; {
			n, err := c.nc.Read(blk[:])
			total += n
			if err != nil {
				break
			}
		}
		c.srv.putBlock(blk)
	}
	c.nc.Close()
}

// awaitRequest waits for the first bytes of the next request. Pipelined
// bytes already buffered are served without waiting. Otherwise the read
// buffer goes back to the pool and the wait happens without one; it is
// bounded by ReadHeaderTimeout from accept for the first request and by
// IdleTimeout for the next ones (c.waitDL). It returns errParked when the
// connection was parked: the caller must then leave c alone. On any other
// return the read deadline bounds the whole head.
func (c *conn) awaitRequest(o *Options, first bool) error {
	if c.rpos < c.rend {
		c.setReadTimeout(o.ReadHeaderTimeout, time.Now())
		return nil
	}
	c.releaseRead()
	// Bytes are likely there already for a first request (sent with the
	// connect) and after a wake-up, not right after a response.
	woken := c.woken
	readNow := first || woken
	if woken {
		// Back from the parker: a spurious wake-up parks again with the
		// same deadline.
		c.woken = false
	} else {
		c.waitDL = time.Time{}
		switch {
		case first && o.ReadHeaderTimeout > 0:
			c.waitDL = c.accepted.Add(o.ReadHeaderTimeout)
		case !first && o.IdleTimeout > 0:
			c.waitDL = time.Now().Add(o.IdleTimeout)
		}
	}
	c.state.Store(connIdle)
	if c.srv.inShutdown.Load() {
		return http.ErrServerClosed
	}
	err := c.readIdle(readNow, woken)
	if err == errParked {
		return err
	}
	c.state.Store(connActive)
	if err != nil {
		return err
	}
	if first {
		// The first head is bounded from accept.
		if !c.rdl.Equal(c.waitDL) {
			c.setReadDeadline(c.waitDL)
		}
	} else {
		c.setReadTimeout(o.ReadHeaderTimeout, time.Now())
	}
	return nil
}

// armWait sets the read deadline for a wait on the connection's goroutine
// to c.waitDL (keeping a deadline already set up to IdleTimeout/8 earlier,
// to spare a timer update), then checks for Shutdown: Shutdown wakes the
// idle connections it finds by moving their deadline, so a connection
// must set its own deadline before it looks.
func (c *conn) armWait() error {
	want := c.waitDL
	switch {
	case want.IsZero():
		if !c.rdl.IsZero() {
			c.setReadDeadline(time.Time{})
		}
	case c.rdl.IsZero() || c.rdl.After(want) || want.Sub(c.rdl) > c.opts.IdleTimeout/8:
		c.setReadDeadline(want)
	}
	if c.srv.inShutdown.Load() {
		return http.ErrServerClosed
	}
	return nil
}

// readIdlePortable waits for a request on a connection without a file
// descriptor: it blocks reading one byte into the conn struct, so no buffer
// is held, then takes a buffer for the rest.
func (c *conn) readIdlePortable() error {
	for {
		n, err := c.nc.Read(c.one[:])
		if n == 1 {
			c.acquireRead()
			c.rbuf[0] = c.one[0]
			c.rpos, c.rend = 0, 1
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// prefacePending reports whether the connection starts with the HTTP/2
// preface, reading until it can tell.
func (c *conn) prefacePending() bool {
	for {
		got := c.rbuf[c.rpos:c.rend]
		n := min(len(got), len(h2Preface))
		if string(got[:n]) != h2Preface[:n] {
			return false
		}
		if n == len(h2Preface) {
			return true
		}
		if err := c.readMore(c.opts); err != nil {
			return false
		}
	}
}

// acquireRead gives c a pooled read buffer if it has none.
func (c *conn) acquireRead() {
	if c.rbuf == nil {
		c.rblk = c.srv.getBlock()
		c.rbuf = c.rblk[:]
		c.rpos, c.rend = 0, 0
	}
}

func (c *conn) releaseRead() {
	if c.rblk != nil {
		c.srv.putBlock(c.rblk)
	}
	c.rblk, c.rbuf = nil, nil
	c.rpos, c.rend = 0, 0
}

// readMore reads more bytes after rend, making room first: the unparsed
// bytes move to the front, and a full buffer grows up to what one head of
// MaxHeaderBytes needs.
func (c *conn) readMore(o *Options) error {
	if c.rend == len(c.rbuf) {
		if c.rpos > 0 {
			c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
			c.rpos = 0
		} else {
			size := min(2*len(c.rbuf), o.MaxHeaderBytes+8)
			if size <= len(c.rbuf) {
				return errHeadTooLarge
			}
			nb := make([]byte, size)
			copy(nb, c.rbuf[:c.rend])
			if c.rblk != nil {
				c.srv.putBlock(c.rblk)
				c.rblk = nil
			}
			c.rbuf = nb
		}
	}
	n, err := c.nc.Read(c.rbuf[c.rend:])
	c.rend += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

var errHeadTooLarge = errors.New("request head too large")

// readHead finds the next request head in the read buffer, reading more as
// needed, and returns it as one string (the only copy of it we make: every
// string of the request is a substring). It checks what must be checked
// before the head is complete: every line ends in CRLF, at most two empty
// lines precede the request line (RFC 9112 §2.2), and the byte and line
// limits.
func (c *conn) readHead(o *Options) (head string, lines int, rj reject, err error) {
	empties := 0
	scan, lineStart := 0, 0 // relative to c.rpos
	requestLine := false
	for {
		i := bytes.IndexByte(c.rbuf[c.rpos+scan:c.rend], '\n')
		if i < 0 {
			scan = c.rend - c.rpos
			if scan > o.MaxHeaderBytes {
				return "", 0, reject{http.StatusRequestHeaderFieldsTooLarge, "head over the byte limit"}, nil
			}
			if err := c.readMore(o); err != nil {
				if err == errHeadTooLarge {
					return "", 0, reject{http.StatusRequestHeaderFieldsTooLarge, "head over the byte limit"}, nil
				}
				return "", 0, reject{}, err
			}
			continue
		}
		lf := scan + i
		if lf == lineStart || c.rbuf[c.rpos+lf-1] != '\r' {
			// RFC 9112 §2.2: a bare LF is refused rather than read as a
			// line end some other recipient would not see.
			return "", 0, badRequest("bare LF"), nil
		}
		if lf-1 == lineStart {
			if !requestLine {
				if empties++; empties > 2 {
					return "", 0, badRequest("empty lines before request line"), nil
				}
				c.rpos += lf + 1
				scan, lineStart = 0, 0
				continue
			}
			end := lf + 1
			if end > o.MaxHeaderBytes {
				return "", 0, reject{http.StatusRequestHeaderFieldsTooLarge, "head over the byte limit"}, nil
			}
			head = string(c.rbuf[c.rpos : c.rpos+end])
			c.rpos += end
			c.headBytes, c.headLines = end, lines
			return head, lines, reject{}, nil
		}
		if requestLine {
			if lines++; lines > o.MaxHeaderCount {
				return "", 0, reject{http.StatusRequestHeaderFieldsTooLarge, "too many field lines"}, nil
			}
		}
		requestLine = true
		scan, lineStart = lf+1, lf+1
		if lineStart > o.MaxHeaderBytes {
			return "", 0, reject{http.StatusRequestHeaderFieldsTooLarge, "head over the byte limit"}, nil
		}
	}
}

// serveRequest reads, checks and serves one request. It reports whether
// the connection may carry another.
func (c *conn) serveRequest(o *Options) bool {
	head, lines, rj, err := c.readHead(o)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && !c.srv.inShutdown.Load() {
			// A head started and not finished in time: slowloris.
			rj := reject{http.StatusRequestTimeout, "request head timeout"}
			c.writeReject(rj, c.refused(rj, nil))
		}
		return false
	}
	if rj.status != 0 {
		c.writeReject(rj, c.refused(rj, nil))
		return false
	}
	blk := new(requestBlock)
	blk.req = c.base
	f, rj := parseRequest(head, lines, o, blk)
	if rj.status != 0 {
		c.writeReject(rj, c.refused(rj, &blk.req))
		return false
	}
	if f.dropped > 0 {
		c.srv.log.Debug("dropped request fields with an underscore in their name",
			"remote", c.remote, "field", f.droppedName, "count", f.dropped)
	}
	r := &blk.req
	r.RemoteAddr = c.remote
	c.closeAfter.Store(!f.keepAlive)
	x := c.takeExchange()
	if f.chunked || f.contentLength > 0 {
		x.body.reset(r, &f, o)
		r.Body = &x.body
		if f.expectContinue {
			c.expect.Store(expectPending)
		}
	} else {
		x.body.active = false
		r.Body = http.NoBody
	}
	x.resp.reset(r, &f)

	ok := c.runHandler(r)
	c.intr.Store(nil)
	if c.watching {
		c.unwatch()
	}
	if !ok {
		return false
	}
	if c.hijacked {
		return false
	}
	x.resp.finish()
	reuse := x.body.drain()
	c.expect.Store(expectNone)
	c.releaseWrite()
	c.releaseExchange()
	if !reuse {
		c.linger = true
		return false
	}
	return c.werr == nil && !c.closeAfter.Load() && !c.srv.inShutdown.Load()
}

// runHandler calls the handler and reports whether it returned normally.
// A panic with http.ErrAbortHandler aborts the connection silently; any
// other panic is logged with its stack and answered with 500 when nothing
// was written yet; the connection is closed in both cases.
func (c *conn) runHandler(r *http.Request) (ok bool) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		ok = false
		if p == http.ErrAbortHandler || c.hijacked {
			return
		}
		c.srv.log.Error("handler panic", "remote", c.remote, "method", r.Method,
			"uri", r.RequestURI, "panic", p, "stack", string(debug.Stack()))
		if !c.x.resp.wroteHeader {
			c.wbuf, c.wstart = c.wbuf[:0], 0
			c.writeReject(reject{http.StatusInternalServerError, "handler panic"}, "")
		}
	}()
	c.srv.handler.ServeHTTP(&c.x.resp, r)
	return true
}

// writeReject answers a request refused before (or instead of) the handler
// with a bare status and, when id is set, an X-Request-Id field, and marks
// the connection for a gentle close.
func (c *conn) writeReject(rj reject, id string) {
	c.closeAfter.Store(true)
	c.linger = true
	if c.werr != nil {
		return
	}
	if rj.status != http.StatusInternalServerError {
		c.srv.log.Debug("request refused", "remote", c.remote, "status", rj.status, "why", rj.why)
	}
	text := http.StatusText(rj.status)
	c.acquireWrite()
	b := c.wbuf
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(rj.status), 10)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(text)+1), 10)
	b = append(b, "\r\nConnection: close\r\n"...)
	if id != "" {
		b = append(b, "X-Request-Id: "...)
		b = append(b, id...)
		b = append(b, "\r\n"...)
	}
	b = append(b, c.srv.dateFor(time.Now())...)
	b = append(b, "\r\n"...)
	b = append(b, text...)
	b = append(b, '\n')
	c.wbuf = b
	c.flush()
	c.releaseWrite()
}

// setReadTimeout sets the read deadline to now+d (none when d is 0). To
// spare a timer update per request, a deadline already set no later than
// that and at most d/8 earlier is kept.
func (c *conn) setReadTimeout(d time.Duration, now time.Time) {
	if d <= 0 {
		if !c.rdl.IsZero() {
			c.setReadDeadline(time.Time{})
		}
		return
	}
	want := now.Add(d)
	if !c.rdl.IsZero() && !c.rdl.After(want) && want.Sub(c.rdl) <= d/8 {
		return
	}
	c.setReadDeadline(want)
}

func (c *conn) setReadDeadline(t time.Time) error {
	c.rdl = t
	return c.nc.SetReadDeadline(t)
}

// setWriteTimeout is setReadTimeout for writes.
func (c *conn) setWriteTimeout(d time.Duration, now time.Time) {
	if d <= 0 {
		if !c.wdl.IsZero() {
			c.setWriteDeadline(time.Time{})
		}
		return
	}
	want := now.Add(d)
	if !c.wdl.IsZero() && !c.wdl.After(want) && want.Sub(c.wdl) <= d/8 {
		return
	}
	c.setWriteDeadline(want)
}

func (c *conn) setWriteDeadline(t time.Time) error {
	c.wdl = t
	return c.nc.SetWriteDeadline(t)
}

// acquireWrite gives c a pooled write buffer if it has none.
func (c *conn) acquireWrite() {
	if c.wbuf == nil {
		c.wblk = c.srv.getBlock()
		c.wbuf = c.wblk[:0]
		c.wstart = 0
	}
}

func (c *conn) releaseWrite() {
	if c.wblk != nil {
		c.srv.putBlock(c.wblk)
	}
	c.wblk, c.wbuf, c.wstart = nil, nil, 0
}

// flush writes the pending bytes to the client.
func (c *conn) flush() error {
	if c.werr != nil {
		return c.werr
	}
	if c.gone.Load() {
		return c.writeFailed(errClientClosed)
	}
	if len(c.wbuf) > c.wstart {
		c.setWriteTimeout(c.opts.WriteTimeout, time.Now())
		_, err := c.nc.Write(c.wbuf[c.wstart:])
		if err != nil {
			return c.writeFailed(err)
		}
	}
	c.wbuf, c.wstart = c.wbuf[:0], 0
	return nil
}

// flushWith writes the pending bytes followed by p with one writev.
func (c *conn) flushWith(p []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if c.gone.Load() {
		return c.writeFailed(errClientClosed)
	}
	c.setWriteTimeout(c.opts.WriteTimeout, time.Now())
	c.iov[0], c.iov[1] = c.wbuf[c.wstart:], p
	c.vec = c.iov[:]
	_, err := c.vec.WriteTo(c.nc)
	c.iov[0], c.iov[1], c.vec = nil, nil, nil
	c.wbuf, c.wstart = c.wbuf[:0], 0
	if err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// writeFailed records a failed write: the client is gone or too slow, the
// connection is done and the request context is cancelled.
func (c *conn) writeFailed(err error) error {
	c.werr = fmt.Errorf("%w: %w", middleware.ErrClientGone, err)
	c.closeAfter.Store(true)
	c.cancelRequest()
	return c.werr
}
