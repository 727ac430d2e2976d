package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// H2Transport sends requests to HTTP/2 cleartext (h2c, prior knowledge)
// backends through an http.Transport speaking only unencrypted HTTP/2, whose
// stream multiplexing and flow control we do not redo. It tracks the
// connections it dials so that Close ends the exchanges in flight, which
// http.Transport alone cannot do.
//
// The response header timeout is the upstream's, set on the http.Transport;
// the handler's per-request value is not consulted. http.Transport has no
// bound on the gaps of a body: the read and write timeouts are an idle
// timer per exchange (see h2Watch) that cancels the request's context.
// Protocol upgrades do not exist in HTTP/2 and are not forwarded to h2c
// backends.
type H2Transport struct {
	log    *slog.Logger
	rt     *http.Transport
	dialer net.Dialer
	// readTimeout and writeTimeout are the upstream's read and write
	// timeouts; zero disables one.
	readTimeout, writeTimeout time.Duration
	// perTryTimeout is retries.per_try_timeout (see perTry).
	perTryTimeout time.Duration

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

var _ Transport = (*H2Transport)(nil)

func newH2Transport(cfg config.Upstream, log *slog.Logger) *H2Transport {
	t := &H2Transport{
		log:    log,
		dialer: net.Dialer{Timeout: cfg.Timeouts.Connect.D()},
		conns:  make(map[*trackedConn]struct{}),

		readTimeout:   cfg.Timeouts.Read.D(),
		writeTimeout:  cfg.Timeouts.Write.D(),
		perTryTimeout: cfg.Retries.PerTryTimeout.D(),
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	t.rt = &http.Transport{
		Protocols:           &protocols,
		DialContext:         t.dial,
		MaxIdleConnsPerHost: cfg.MaxIdleConns,
		MaxConnsPerHost:     max(cfg.Limits.MaxConnections, 0),
		// max_idle_conns: 0 keeps no connection once its streams are done.
		DisableKeepAlives:     cfg.MaxIdleConns <= 0,
		IdleConnTimeout:       cfg.Timeouts.Idle.D(),
		ResponseHeaderTimeout: cfg.Timeouts.ResponseHeader.D(),
		// The client's Accept-Encoding goes to the backend untouched and
		// the body comes back as the backend encoded it.
		DisableCompression: true,
	}
	return t
}

// RoundTrip sends req to b. See Transport.
func (t *H2Transport) RoundTrip(req *http.Request, b *upstream.Backend) (*http.Response, error) {
	parent := req.Context()
	if req.URL.Host != b.Addr || req.URL.Scheme != "http" {
		u := *req.URL
		u.Scheme, u.Host = "http", b.Addr
		r2 := *req
		r2.URL = &u
		req = &r2
	}
	w := t.watch(req)
	if w != nil {
		req = w.req
	}
	head := t.perTry(&req)
	resp, err := t.rt.RoundTrip(req)
	if head != nil && !head.arrived() {
		// The timer won: the request is cancelled, whatever came back.
		if err == nil {
			resp.Body.Close()
		}
		resp, err = nil, head.cause
	}
	if err != nil {
		if w != nil {
			w.end()
			if terr := w.timeout(); terr != nil {
				return nil, terr
			}
		}
		if ctxErr := parent.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var ne net.Error
		if !isDialError(err) && !errors.Is(err, middleware.ErrRequestBody) && errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: %w", middleware.ErrBackendTimeout, err)
		}
		return nil, err
	}
	if w != nil {
		w.body = resp.Body
		resp.Body = w
	}
	return resp, nil
}

// perTry bounds the wait for the response head with the upstream's
// retries.per_try_timeout when it is shorter than response_header, which
// http.Transport holds fixed: a timer cancels the request's context unless
// the head arrived first. It costs a context and a timer per request, only
// for upstreams that set per_try_timeout; nil when none applies.
func (t *H2Transport) perTry(req **http.Request) *headDeadline {
	d := t.perTryTimeout
	if d <= 0 || (t.rt.ResponseHeaderTimeout > 0 && d >= t.rt.ResponseHeaderTimeout) {
		return nil
	}
	ctx, cancel := context.WithCancelCause((*req).Context())
	*req = (*req).WithContext(ctx)
	hd := &headDeadline{cause: responseHeaderTimeoutError(d)}
	hd.timer = time.AfterFunc(d, func() {
		if hd.state.CompareAndSwap(0, 1) {
			cancel(hd.cause)
		}
	})
	return hd
}

// headDeadline is one try's wait for a response head. The timer and the
// round trip race to settle state: 1 the timer cancelled the request, 2 the
// head arrived first, so the body is never cut by a timer that fired late.
type headDeadline struct {
	timer *time.Timer
	state atomic.Int32
	cause error
}

// arrived settles the race for the round trip; false when the timer won.
func (hd *headDeadline) arrived() bool {
	hd.timer.Stop()
	return hd.state.CompareAndSwap(0, 2)
}

// watch returns the watch of an exchange for req, or nil when no timeout
// needs one: a response body is watched with a read timeout, a request
// body with a write timeout.
func (t *H2Transport) watch(req *http.Request) *h2Watch {
	hasBody := req.Body != nil && req.Body != http.NoBody
	if t.readTimeout <= 0 && (t.writeTimeout <= 0 || !hasBody) {
		return nil
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &h2Watch{ctx: ctx, cancel: cancel, read: t.readTimeout}
	if t.writeTimeout <= 0 || !hasBody {
		w.req = req.WithContext(ctx)
		return w
	}
	d := t.writeTimeout
	w.write = time.AfterFunc(d, func() {
		w.cancel(fmt.Errorf("%w: the backend took no request bytes for %v", middleware.ErrBackendTimeout, d))
	})
	w.write.Stop()
	// The last piece of the body is sent after the Read that reported
	// its end: only the transport's WroteRequest says it has gone.
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { w.write.Stop() }}
	w.req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	w.req.Body = &h2RequestBody{rc: req.Body, w: w, d: d}
	return w
}

// h2Watch bounds the gaps of one exchange's bodies with idle timers that
// cancel the request's context, which http.Transport turns into a reset
// stream: read runs while the response body's reader waits for bytes,
// write while the transport holds request body bytes it cannot send (the
// backend grants no flow-control window). The cause of the cancel wraps
// middleware.ErrBackendTimeout. Once the response has come, the watch is
// its body.
type h2Watch struct {
	req    *http.Request
	ctx    context.Context
	cancel context.CancelCauseFunc
	body   io.ReadCloser // the transport's response body
	read   time.Duration
	// readTimer is made by the first Read of the response body; the
	// body's reader owns it.
	readTimer *time.Timer
	// write is stopped and reset by the transport's goroutine writing
	// the request body, and stopped when it reports the request written
	// (httptrace's WroteRequest, on the same goroutine) and by end.
	write *time.Timer
	ended atomic.Bool
}

// end stops the timers and releases the context; the exchange is over.
func (w *h2Watch) end() {
	w.ended.Store(true)
	if w.readTimer != nil {
		w.readTimer.Stop()
	}
	if w.write != nil {
		w.write.Stop()
	}
	w.cancel(nil)
}

// timeout returns the timeout that canceled the exchange, or nil.
func (w *h2Watch) timeout() error {
	if cause := context.Cause(w.ctx); cause != nil && errors.Is(cause, middleware.ErrBackendTimeout) {
		return cause
	}
	return nil
}

// Read reads the response body, canceling the exchange if no byte comes
// within the read timeout. Only the wait counts: the time the caller takes
// between reads (writing to a slow client) does not.
func (w *h2Watch) Read(p []byte) (int, error) {
	if w.read > 0 {
		if w.readTimer == nil {
			d := w.read
			w.readTimer = time.AfterFunc(d, func() {
				w.cancel(fmt.Errorf("%w: no response body bytes for %v", middleware.ErrBackendTimeout, d))
			})
		} else {
			w.readTimer.Reset(w.read)
		}
	}
	n, err := w.body.Read(p)
	if w.readTimer != nil {
		w.readTimer.Stop()
	}
	if err != nil && err != io.EOF {
		if terr := w.timeout(); terr != nil {
			err = fmt.Errorf("reading response body: %w", terr)
		}
	}
	return n, err
}

// Close closes the response body and ends the watch.
func (w *h2Watch) Close() error {
	err := w.body.Close()
	w.end()
	return err
}

// h2RequestBody is a request body under an h2Watch: the write timer runs
// from a Read that handed the transport bytes to the next Read, which the
// transport makes once it has sent them, or, after the Read that reports
// the end, until the transport reports the request written. That Read may
// come before the bytes of the one before have gone: with a Content-Length
// the transport reads once more to see the end before sending the last
// piece.
type h2RequestBody struct {
	rc io.ReadCloser
	w  *h2Watch
	d  time.Duration
	// held reports that the last Read returned bytes without an error:
	// the transport may still hold them when the next Read reports the end.
	held bool
}

func (b *h2RequestBody) Read(p []byte) (int, error) {
	b.w.write.Stop()
	n, err := b.rc.Read(p)
	unsent := n > 0 && (err == nil || err == io.EOF) || err == io.EOF && b.held
	b.held = n > 0 && err == nil
	if unsent && !b.w.ended.Load() {
		b.w.write.Reset(b.d)
	}
	return n, err
}

// Close stops the write timer: the transport is done with the body.
func (b *h2RequestBody) Close() error {
	b.w.write.Stop()
	return b.rc.Close()
}

// CloseIdleConnections closes the connections carrying no stream.
func (t *H2Transport) CloseIdleConnections() { t.rt.CloseIdleConnections() }

// Close closes every connection; streams in flight end with an error.
func (t *H2Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	t.rt.CloseIdleConnections()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// dial connects to a backend; failures are dialErrors so that the handler
// tries another backend.
func (t *H2Transport) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := t.dialer.DialContext(ctx, network, addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, newDialError(err)
	}
	c := &trackedConn{Conn: nc, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		nc.Close()
		return nil, &dialError{err: errTransportClosed}
	}
	t.conns[c] = struct{}{}
	return c, nil
}

// trackedConn removes itself from its transport's set when closed.
type trackedConn struct {
	net.Conn
	t    *H2Transport
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return err
}
