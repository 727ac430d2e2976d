package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

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
// the handler's per-request value is not consulted. Protocol upgrades do not
// exist in HTTP/2 and are not forwarded to h2c backends.
type H2Transport struct {
	log    *slog.Logger
	rt     *http.Transport
	dialer net.Dialer

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
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	t.rt = &http.Transport{
		Protocols:           &protocols,
		DialContext:         t.dial,
		MaxIdleConnsPerHost: cfg.MaxIdleConns,
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
	if req.URL.Host != b.Addr || req.URL.Scheme != "http" {
		u := *req.URL
		u.Scheme, u.Host = "http", b.Addr
		r2 := *req
		r2.URL = &u
		req = &r2
	}
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var ne net.Error
		if !isDialError(err) && !errors.Is(err, middleware.ErrRequestBody) && errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: %w", middleware.ErrBackendTimeout, err)
		}
		return nil, err
	}
	return resp, nil
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
