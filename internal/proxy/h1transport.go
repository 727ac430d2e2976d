package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// Buffer sizes of the HTTP/1.1 transport. A response head must fit in the
// read buffer (HAProxy's tune.bufsize is 16 KiB too; nginx's
// proxy_buffer_size is smaller); request heads are written through the
// write buffer, bodies through a copy buffer.
const (
	readBufferSize  = 16 << 10
	writeBufferSize = 4 << 10
	copyBufferSize  = 32 << 10
	// maxDrain is the most of an unread response body that Close discards,
	// from what is already buffered, to keep the connection.
	maxDrain = 64 << 10
	// probeIdleAfter is how long a connection the close watcher does not
	// watch must have been idle before it is probed for a close by the
	// backend (see peerClosed) ahead of a request that could be sent
	// again; one that could not is probed whatever the idle time. Under
	// load connections are reused within microseconds and idempotent
	// requests never pay the probe.
	probeIdleAfter = time.Second
)

// H1Transport is our HTTP/1.1 backend transport. It keeps a pool of idle
// keep-alive connections per backend address and uses one connection
// synchronously from the goroutine of the request: the request head and body
// are written, the response head is read and parsed, and the response body
// is read by the caller, all without goroutines, channels or timers of its
// own. Buffers come from pools and are held only during an exchange, so an
// idle connection holds none.
//
// The timeouts are the connection's deadlines, which cost no goroutine:
// connect, response head, the gaps of a response body (read) and the
// waits of request writes (write). A read or write that meets its
// deadline after bytes moved since the deadline was set gets a new one
// and carries on, so a body that keeps flowing is never cut and a stall
// is noticed between one and two timeouts after the last byte.
//
// A connection returns to the pool when its response body has been read to
// the end (or closed with little left, already buffered), both sides allow
// reuse and the backend has not closed it. On Linux a watcher learns of a
// backend's FIN or RST as it arrives, whether the connection is idle or
// busy (see closeWatcher), so taking an idle connection costs one atomic
// load and no system call, and no request is sent on a connection known
// to be closed. Elsewhere (or if epoll fails) a connection is probed with
// a non-blocking peek before it carries a request that could not be sent
// again, and before any request once it has been idle for probeIdleAfter.
//
// Some closes cannot be known in time: the backend's FIN may be on the wire,
// or arrived but not yet reported by the watcher, when a request is
// written. A reused connection that fails before the first response byte
// is therefore assumed closed by the backend while idle, and a request that
// is safe to repeat (see replayable) whose body was not consumed, or can be
// had again, is sent once more on a new connection. Idle connections older
// than the idle timeout are closed when the pool is next used.
//
// Requests and responses use net/http types so that H1Transport stands in
// for http.Transport; the handler's hooks ride on the request's context (see
// exchangeHooks), and httptrace's Got1xxResponse works for other callers.
// Full-duplex exchanges are not supported: the request body is sent before
// the response head is read.
type H1Transport struct {
	log *slog.Logger
	// settings are the upstream's timeouts and pool size, replaced by
	// Reconfigure on a reload, read once per use.
	settings atomic.Pointer[h1Settings]
	// probeAfter is probeIdleAfter; tests change it.
	probeAfter time.Duration

	// watcher learns of backends closing connections (see closeWatcher).
	// It is started by the first dial and stopped by Close; nil before,
	// after, and where there is none. watchMu serialises starting and
	// stopping it; noWatch records that it must not start (it failed, or
	// a test wants the probe).
	watcher atomic.Pointer[closeWatcher]
	watchMu sync.Mutex
	noWatch bool

	// pools maps a backend to its pool: the pool hangs off the backend's
	// identity, so a backend removed by a reload takes its connections
	// with it (ForgetBackend) and a backend added again at the same
	// address starts afresh. The map is replaced, never modified, so the
	// request path reads it without a lock; poolsMu serialises the
	// copy-on-write of a change.
	pools   atomic.Pointer[map[*upstream.Backend]*h1Pool]
	poolsMu sync.Mutex
	closed  atomic.Bool

	readers sync.Pool // Holds *bufio.Reader of readBufferSize.
	writers sync.Pool // Holds *bufio.Writer of writeBufferSize.
	bufs    sync.Pool // Holds *[]byte of copyBufferSize.

	staleRetries atomic.Uint64
	// staleConns counts the requests sent on a reused connection that
	// failed before the first byte of a response: a backend's close that
	// came too late to be known, whether the request was sent again or not.
	staleConns atomic.Uint64
}

// h1Settings are the parts of an upstream's config an H1Transport uses.
type h1Settings struct {
	connectTimeout        time.Duration
	responseHeaderTimeout time.Duration
	readTimeout           time.Duration
	writeTimeout          time.Duration
	idleTimeout           time.Duration
	maxIdle               int
	// maxConns bounds the open connections per backend (0: none).
	maxConns int
}

var (
	_ Transport        = (*H1Transport)(nil)
	_ Reconfigurable   = (*H1Transport)(nil)
	_ BackendForgetter = (*H1Transport)(nil)
)

func newH1Transport(cfg config.Upstream, log *slog.Logger) *H1Transport {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &H1Transport{log: log, probeAfter: probeIdleAfter}
	t.Reconfigure(cfg)
	pools := map[*upstream.Backend]*h1Pool{}
	t.pools.Store(&pools)
	t.readers.New = func() any { return bufio.NewReaderSize(nil, readBufferSize) }
	t.writers.New = func() any { return bufio.NewWriterSize(nil, writeBufferSize) }
	t.bufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	return t
}

// Reconfigure makes cfg's timeouts and idle pool size apply from the next
// use on: a reload that changes them keeps the connections, WebSockets
// included. A smaller pool keeps no more idle connections than it allows
// from then on; those idle beyond it go as they are used or expire.
func (t *H1Transport) Reconfigure(cfg config.Upstream) {
	t.settings.Store(&h1Settings{
		connectTimeout:        cfg.Timeouts.Connect.D(),
		responseHeaderTimeout: cfg.Timeouts.ResponseHeader.D(),
		readTimeout:           cfg.Timeouts.Read.D(),
		writeTimeout:          cfg.Timeouts.Write.D(),
		idleTimeout:           cfg.Timeouts.Idle.D(),
		maxIdle:               max(cfg.MaxIdleConns, 0),
		maxConns:              max(cfg.Limits.MaxConnections, 0),
	})
}

// StaleRetries returns how many requests were sent again on a new
// connection because a pooled one turned out to be closed by its backend.
func (t *H1Transport) StaleRetries() uint64 { return t.staleRetries.Load() }

// RoundTrip sends req to b on a pooled or new connection. See Transport.
func (t *H1Transport) RoundTrip(req *http.Request, b *upstream.Backend) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.closed.Load() {
		return nil, &dialError{err: errTransportClosed}
	}
	hooks, _ := ctx.(exchangeHooks)
	p := t.pool(b)
	fresh := false
	for {
		c, err := p.get(ctx, req, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(ctx, req, hooks)
		if err == nil {
			return resp, nil
		}
		var stale *staleConnError
		if !errors.As(err, &stale) {
			return nil, err
		}
		t.staleConns.Add(1)
		if fresh || !replayable(req) {
			return nil, err
		}
		if stale.bodyRead {
			if req.GetBody == nil {
				return nil, err
			}
			body, gerr := req.GetBody()
			if errors.Is(gerr, errNoReplay) {
				// The body outgrew the replay buffer: the backend's
				// failure stands, not one of the client's body.
				return nil, err
			}
			if gerr != nil {
				return nil, wrapBodyError(gerr)
			}
			r2 := *req
			r2.Body = body
			req = &r2
		}
		fresh = true
		t.staleRetries.Add(1)
	}
}

// replayable reports whether req may be sent again after a reused
// connection failed without a response: the backend may have received and
// acted on it, so only requests that are safe to repeat are (idempotent
// methods, RFC 9110 §9.2.2, or a request carrying an Idempotency-Key), as
// net/http's transport does.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	if !ok {
		_, ok = req.Header["X-Idempotency-Key"]
	}
	return ok
}

// CloseIdleConnections closes every idle connection of every backend.
func (t *H1Transport) CloseIdleConnections() {
	for _, p := range *t.pools.Load() {
		p.closeIdle()
	}
}

// Close closes every connection, idle or busy, and stops the close watcher;
// later round trips fail with a dial error so that the handler answers 502.
func (t *H1Transport) Close() error {
	t.closed.Store(true)
	for _, p := range *t.pools.Load() {
		p.close()
	}
	t.watchMu.Lock()
	w := t.watcher.Swap(nil)
	t.noWatch = true
	t.watchMu.Unlock()
	if w != nil {
		w.close()
	}
	return nil
}

// watcherFor returns the close watcher, starting it on the first call; nil
// when there is none (not Linux, epoll failed, the transport is closed).
func (t *H1Transport) watcherFor() *closeWatcher {
	if w := t.watcher.Load(); w != nil {
		return w
	}
	t.watchMu.Lock()
	defer t.watchMu.Unlock()
	if w := t.watcher.Load(); w != nil || t.noWatch || t.closed.Load() {
		return w
	}
	w, err := newCloseWatcher()
	if err != nil {
		t.noWatch = true
		t.log.Debug("backend connections are probed before reuse", "err", err)
		return nil
	}
	t.watcher.Store(w)
	go w.run(t.watcherFailed)
	return w
}

// watcherFailed retires a watcher whose epoll_wait failed: connections
// dialled from then on are probed instead.
func (t *H1Transport) watcherFailed(err error) {
	t.log.Error("backend close watcher failed; backend connections are probed before reuse", "err", err)
	t.watchMu.Lock()
	t.watcher.Store(nil)
	t.noWatch = true
	t.watchMu.Unlock()
}

// pool returns the pool of b, creating it on first use.
func (t *H1Transport) pool(b *upstream.Backend) *h1Pool {
	if p := (*t.pools.Load())[b]; p != nil {
		return p
	}
	t.poolsMu.Lock()
	defer t.poolsMu.Unlock()
	old := *t.pools.Load()
	if p := old[b]; p != nil {
		return p
	}
	p := &h1Pool{t: t, b: b, addr: b.Addr, conns: make(map[*h1Conn]struct{})}
	if b.Draining() {
		// A request that picked b just before a reload removed it (and
		// ForgetBackend dropped its pool) gets a closed pool that is not
		// kept: its dial fails as a connect failure, nothing was sent, and
		// the request moves on to another backend.
		p.closed = true
		return p
	}
	next := make(map[*upstream.Backend]*h1Pool, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[b] = p
	t.pools.Store(&next)
	if t.closed.Load() {
		p.close()
	}
	return p
}

// ForgetBackend drops the pool of b, which left its upstream: its idle
// connections close now, busy ones when their exchange ends. See
// BackendForgetter.
func (t *H1Transport) ForgetBackend(b *upstream.Backend) {
	t.poolsMu.Lock()
	old := *t.pools.Load()
	p := old[b]
	if p != nil {
		next := make(map[*upstream.Backend]*h1Pool, len(old))
		for k, v := range old {
			if k != b {
				next[k] = v
			}
		}
		t.pools.Store(&next)
	}
	t.poolsMu.Unlock()
	if p != nil {
		p.retire()
	}
}

func (t *H1Transport) getReader(r io.Reader) *bufio.Reader {
	br := t.readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func (t *H1Transport) putReader(br *bufio.Reader) {
	br.Reset(nil)
	t.readers.Put(br)
}

func (t *H1Transport) getWriter(w io.Writer) *bufio.Writer {
	bw := t.writers.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func (t *H1Transport) putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	t.writers.Put(bw)
}

// got1xx passes an informational response to the handler's hook, or to an
// httptrace.ClientTrace on ctx for other callers.
func got1xx(ctx context.Context, hooks exchangeHooks, code int, h http.Header) error {
	if hooks != nil {
		return hooks.got1xx(code, h)
	}
	if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.Got1xxResponse != nil {
		return tr.Got1xxResponse(code, map[string][]string(h))
	}
	return nil
}

// h1Pool holds the connections to one backend.
type h1Pool struct {
	t    *H1Transport
	b    *upstream.Backend
	addr string

	mu sync.Mutex
	// idle is a stack: the most recently used connection on top, the oldest
	// at index 0, so that the hot connections stay hot and the cold ones
	// age out.
	idle []*h1Conn
	// conns holds every open connection, idle or busy, for Close.
	conns map[*h1Conn]struct{}
	// dialing counts the connections being dialed, which count against
	// max_connections before they are in conns.
	dialing int
	closed  bool
}

// get returns an idle connection that its backend has not closed, as far
// as can be known, for req; or a new one when there is none or fresh is
// set.
func (p *h1Pool) get(ctx context.Context, req *http.Request, fresh bool) (*h1Conn, error) {
	for !fresh {
		now := time.Now()
		c := p.takeIdle(now)
		if c == nil {
			break
		}
		// A watched connection is known to be open: takeIdle found no
		// report of a close. One that is not is probed when a stale
		// connection would cost a failed request, or it has been idle
		// long enough for the probe not to matter.
		if c.watcher == nil && (now.Sub(c.idleSince) >= p.t.probeAfter || !replayable(req)) && c.peerClosed() {
			p.forget(c)
			continue
		}
		c.reused = true
		return c, nil
	}
	return p.dial(ctx)
}

// takeIdle pops the most recently used idle connection, closing those past
// the idle timeout and any whose backend closed them; it returns nil when
// none is left.
func (p *h1Pool) takeIdle(now time.Time) *h1Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if idle := p.t.settings.Load().idleTimeout; idle > 0 && now.Sub(c.idleSince) > idle {
			// Everything below it is older still.
			for _, old := range p.idle {
				p.closeLocked(old)
			}
			clear(p.idle)
			p.idle = p.idle[:0]
			p.closeLocked(c)
			return nil
		}
		if c.peerGone.Load() {
			// put and peerGone keep such connections out of the stack
			// already; the rule is kept here too, at one atomic load.
			p.closeLocked(c)
			continue
		}
		return c
	}
	return nil
}

func (p *h1Pool) dial(ctx context.Context) (*h1Conn, error) {
	set := p.t.settings.Load()
	p.mu.Lock()
	if set.maxConns > 0 && len(p.conns)+p.dialing >= set.maxConns {
		p.mu.Unlock()
		return nil, errConnLimit
	}
	p.dialing++
	p.mu.Unlock()
	d := net.Dialer{Timeout: set.connectTimeout}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	p.mu.Lock()
	p.dialing--
	p.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, newDialError(err)
	}
	c := &h1Conn{pool: p, nc: nc}
	c.interrupt = func() { nc.SetDeadline(aLongTimeAgo()) }
	if tc, ok := nc.(*net.TCPConn); ok {
		c.rc, _ = tc.SyscallConn()
	}
	// One epoll_ctl for the connection's life; a connection the watcher
	// refuses is probed instead.
	if w := p.t.watcherFor(); w != nil {
		w.register(c)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.closeConn()
		return nil, &dialError{err: errTransportClosed}
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	return c, nil
}

// put returns c to the idle stack, or closes it when the pool is full or
// closed or its backend drains (one that ForgetBackend raced with a last
// request keeps no idle connection). Expired connections at the bottom of the stack are closed on the
// way, so that a pool that stays busy does not keep stale ones forever.
func (p *h1Pool) put(c *h1Conn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	set := p.t.settings.Load()
	if p.closed || len(p.idle) >= set.maxIdle || c.peerGone.Load() || p.b.Draining() {
		// A connection whose backend closed it during the exchange
		// (right after a response without Connection: close, say) is
		// never pooled; peerGone cannot close it while it is busy.
		p.closeLocked(c)
		return
	}
	if set.idleTimeout > 0 && len(p.idle) > 0 && c.idleSince.Sub(p.idle[0].idleSince) > set.idleTimeout {
		p.closeLocked(p.idle[0])
		n := copy(p.idle, p.idle[1:])
		p.idle[n] = nil
		p.idle = p.idle[:n]
	}
	p.idle = append(p.idle, c)
}

// closeLocked closes c and forgets it. The caller holds p.mu.
func (p *h1Pool) closeLocked(c *h1Conn) {
	c.closeConn()
	delete(p.conns, c)
}

// peerGone records that c's backend closed it (the close watcher saw its
// FIN or RST) and closes c if it is idle; a busy c is closed when its
// exchange ends (see put). Under mu, so that an idle connection is either
// taken with no report of a close or closed here.
func (p *h1Pool) peerGone(c *h1Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.peerGone.Store(true)
	for i, ic := range p.idle {
		if ic == c {
			// The stack stays ordered by idleSince.
			n := copy(p.idle[i:], p.idle[i+1:])
			p.idle[i+n] = nil
			p.idle = p.idle[:i+n]
			p.closeLocked(c)
			return
		}
	}
}

// forget closes c and removes it from the pool's set.
func (p *h1Pool) forget(c *h1Conn) {
	p.mu.Lock()
	p.closeLocked(c)
	p.mu.Unlock()
}

func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		p.closeLocked(c)
	}
	clear(p.idle)
	p.idle = p.idle[:0]
}

// retire closes the idle connections and makes the pool close the busy
// ones when their exchange ends.
func (p *h1Pool) retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		p.closeLocked(c)
	}
	clear(p.idle)
	p.idle = p.idle[:0]
}

// close closes every connection; busy ones end their exchange with an
// error and are not returned.
func (p *h1Pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		c.closeConn()
	}
	clear(p.conns)
	clear(p.idle)
	p.idle = p.idle[:0]
}
