package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// Transport sends one request to one backend. Implementations are safe for
// concurrent use and are kept by the gateway across reloads (keyed by
// upstream name and transport settings).
//
// RoundTrip sends req to b regardless of req.URL.Host. It does not modify
// req; the caller must not modify req until the response body is closed. On
// success the caller must close the response body; the response must not be
// used after that. A response with status 101 Switching Protocols has a body
// that is an io.ReadWriteCloser over the backend connection.
type Transport interface {
	RoundTrip(req *http.Request, b *upstream.Backend) (*http.Response, error)
	// CloseIdleConnections closes the connections not carrying a request.
	CloseIdleConnections()
	// Close closes every connection; exchanges in flight end with an error
	// and later round trips fail.
	Close() error
}

// Reconfigurable is a Transport whose timeouts and pool size can change in
// place: a reload that changes only those keeps the transport and its
// connections (snapshot.TransportKey leaves them out for such transports).
type Reconfigurable interface {
	Transport
	// Reconfigure applies cfg's settings from the next use on; cfg has
	// the transport's name and protocol.
	Reconfigure(cfg config.Upstream)
}

// NewTransport returns the transport for cfg.Protocol: H1Transport for http1
// (the default) and H2Transport, an http.Transport speaking only HTTP/2 with
// prior knowledge, for h2c. cfg has been through config's defaults: a zero
// timeout is disabled and MaxIdleConns 0 keeps no idle connection. log
// receives connection-level events; nil discards them.
func NewTransport(cfg config.Upstream, log *slog.Logger) (Transport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch cfg.Protocol {
	case "", "http1":
		return newH1Transport(cfg, log), nil
	case "h2c":
		return newH2Transport(cfg, log), nil
	}
	return nil, fmt.Errorf("upstream %q: unknown protocol %q (want http1 or h2c)", cfg.Name, cfg.Protocol)
}

// exchangeHooks is implemented by the context of an outbound request built
// by the handler. A transport that finds it uses it instead of httptrace and
// its own defaults, which costs no context value per request.
type exchangeHooks interface {
	// responseHeaderTimeout bounds the wait for the response head after
	// the request was sent; zero means the transport's own setting.
	responseHeaderTimeout() time.Duration
	// got1xx receives an informational response other than 101.
	got1xx(code int, header http.Header) error
}

// errTransportClosed is returned by round trips on a closed transport.
var errTransportClosed = errors.New("transport closed")

// dialError marks a failure to connect to a backend: no byte of the request
// reached it, so the handler may try another backend.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect to backend: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// newDialError wraps a connect failure; a timeout also wraps
// middleware.ErrBackendTimeout so that it answers 504.
func newDialError(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		err = fmt.Errorf("%w: %w", middleware.ErrBackendTimeout, err)
	}
	return &dialError{err: err}
}

// isDialError reports whether err is a connect failure, after which the
// request may go to another backend.
func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}

// errConnLimit is returned instead of a dial when a backend has its
// limits.max_connections open: nothing was sent, and the backend is not at
// fault, so the handler moves on to another backend.
var errConnLimit = &connLimitError{}

type connLimitError struct{}

func (*connLimitError) Error() string { return "backend at its connection limit" }

// isConnLimit reports whether err is errConnLimit.
func isConnLimit(err error) bool {
	var le *connLimitError
	return errors.As(err, &le)
}

// requestBodyError marks a failure to read the client's request body: the
// client's fault, never the backend's (413, 408 or 400 through
// middleware.StatusFor).
type requestBodyError struct{ err error }

func (e *requestBodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *requestBodyError) Unwrap() []error {
	return []error{middleware.ErrRequestBody, e.err}
}

// wrapBodyError marks err as a request body failure unless it already is.
func wrapBodyError(err error) error {
	if errors.Is(err, middleware.ErrRequestBody) {
		return err
	}
	return &requestBodyError{err: err}
}

// responseHeaderTimeoutError reports a backend that sent no response head in
// time (504).
func responseHeaderTimeoutError(d time.Duration) error {
	return fmt.Errorf("%w: no response head within %v", middleware.ErrBackendTimeout, d)
}

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads and
// writes on a connection return at once.
func aLongTimeAgo() time.Time { return time.Unix(1, 0) }

// BackendForgetter is a Transport that keeps connections per backend and
// can drop those of one backend that left its pool: its idle connections
// close at once, busy ones when their exchange ends.
type BackendForgetter interface {
	ForgetBackend(b *upstream.Backend)
}
