package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"palisade/internal/lb"
	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// Target is one upstream as the snapshot builds it. It is immutable once
// passed to New; Pool, Policy and Transport are shared with other
// snapshots and live across reloads.
type Target struct {
	// Name is the upstream's name, recorded in the request's State.
	Name string
	// Pool holds the upstream's backends, read once per attempt: a
	// reload or a name resolution changes them under a running snapshot.
	Pool   *upstream.Pool
	Policy lb.Policy
	// BackupPolicy picks among the pool's backups; nil uses Policy, which
	// then keeps its state for two pools in turn.
	BackupPolicy lb.Policy
	// Key says what the balancing key of a request is; KeyNone for
	// policies that ignore it.
	Key KeySource
	// Transport sends requests to the backends. An *H1Transport lets the
	// handler recycle per-request state, since it never uses a request
	// after RoundTrip and the body's Close.
	Transport Transport
	// Forwarded adds an RFC 7239 Forwarded field beside X-Forwarded-*.
	Forwarded bool
	// ResponseHeaderTimeout bounds the wait for a response head after the
	// request was sent (504 when exceeded); zero leaves the transport's
	// own setting. H2Transport always uses its own.
	ResponseHeaderTimeout time.Duration
	// Retry says which failures are tried again on another backend.
	Retry RetryPolicy
	// Sticky pins clients to backends with a cookie; nil is off.
	Sticky *Sticky
}

// handler is the terminal handler for one Target.
type handler struct {
	t    *Target
	opts Options
	log  *slog.Logger
	// sync reports that the transport is used synchronously, so exchanges
	// can be recycled.
	sync bool
	// upgrades reports that the transport can carry protocol upgrades
	// (HTTP/1.1 backends).
	upgrades bool

	exchanges sync.Pool // Holds *exchange, used when sync.
	bufs      sync.Pool // Holds *[]byte of copyBufferSize.
	replays   sync.Pool // Holds *[]byte, the kept bodies of replayBody.
}

// New returns the handler that forwards every request it serves to one
// backend of t, and streams the backend's answer back. It expects the
// gateway's *middleware.State in the request context (request ID, trusted
// peer, peer address) and works without it, treating the peer as
// untrusted. It records the upstream, backend and attempts in the State.
// log receives one line per failed exchange; nil discards them.
//
// Failures are answered through middleware.WriteError: 503 when no backend
// is available, 502 when the backend cannot be reached or answers badly,
// 504 on a dial, response header or request write timeout, 499 (nothing
// written) when the client went away, 413/408/400 when the request body
// could not be read. A failure after the response has started (a response
// body that stalls past the read timeout, one cut short) aborts the client
// connection (panic(http.ErrAbortHandler)) so that the client sees a
// truncated response, never a complete one.
func New(t *Target, opts Options, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{t: t, opts: opts, log: log, upgrades: true}
	switch t.Transport.(type) {
	case *H1Transport:
		h.sync = true
	case *H2Transport:
		h.upgrades = false
	}
	h.exchanges.New = func() any { return newExchange(h) }
	h.bufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	h.replays.New = newReplayBuffer
	return h
}

// errConnect rejects CONNECT: a reverse proxy does not open tunnels to
// arbitrary destinations.
var errConnect = errors.New("CONNECT is not forwarded")

var _ http.Handler = (*handler)(nil)

// ServeHTTP forwards r to one backend and streams the answer to w.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := middleware.StateFrom(r.Context())
	st.Upstream = h.t.Name
	if r.Method == http.MethodConnect {
		middleware.WriteError(w, r, http.StatusMethodNotAllowed, errConnect)
		return
	}
	ex := h.getExchange(w, r, st)
	if err := ex.prepare(); err != nil {
		h.putExchange(ex)
		middleware.WriteError(w, r, http.StatusBadRequest, err)
		return
	}
	if b := ex.body; b != nil && !h.sync {
		// http.Transport may still read the body after RoundTrip returned,
		// even when this handler ends in a panic; reading it after the
		// handler returned is not allowed (net/http Request.Body). b, not
		// ex: ex goes back to its pool before this runs.
		defer b.finish(w)
	}
	resp, err := ex.roundTrip()
	if err != nil {
		ex.fail(err)
		h.putExchange(ex)
		return
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		ex.switchProtocols(resp)
		h.putExchange(ex)
		return
	}
	ex.respond(resp)
	h.putExchange(ex)
}

// getExchange returns a recycled exchange for a synchronous transport, a
// new one otherwise: http.Transport may still read the outbound request
// after RoundTrip returned.
func (h *handler) getExchange(w http.ResponseWriter, r *http.Request, st *middleware.State) *exchange {
	var ex *exchange
	if h.sync {
		ex = h.exchanges.Get().(*exchange)
	} else {
		ex = newExchange(h)
	}
	ex.reset(w, r, st)
	return ex
}

func (h *handler) putExchange(ex *exchange) {
	if !h.sync {
		return
	}
	ex.clear()
	h.exchanges.Put(ex)
}

// blame attributes a failure: to the client when it went away or its body
// failed, else to the backend.
func (ex *exchange) blame(err error) error {
	if ex.body != nil {
		if bodyErr := ex.body.failure(); bodyErr != nil {
			return bodyErr
		}
	}
	if ex.in.Context().Err() != nil && !errors.Is(err, middleware.ErrClientGone) {
		return fmt.Errorf("%w: %w", middleware.ErrClientGone, err)
	}
	return err
}

// fail answers the client after a failed round trip.
func (ex *exchange) fail(err error) {
	status := middleware.StatusFor(err)
	ex.h.logFailure(ex, status, err)
	middleware.WriteError(ex.w, ex.in, status, err)
}

// logFailure writes one line for a failed exchange; a client that went
// away is routine and logged at debug level.
func (h *handler) logFailure(ex *exchange, status int, err error) {
	level := slog.LevelWarn
	if status == middleware.StatusClientClosed || errors.Is(err, middleware.ErrRequestBody) {
		level = slog.LevelDebug
	}
	ctx := ex.in.Context()
	if !h.log.Enabled(ctx, level) {
		return
	}
	h.log.LogAttrs(ctx, level, "backend exchange failed",
		slog.String("request_id", ex.st.ID),
		slog.String("route", ex.st.Route),
		slog.String("upstream", h.t.Name),
		slog.String("backend", ex.st.Backend),
		slog.Int("status", status),
		slog.Int("attempts", ex.st.Attempts),
		slog.Any("error", err))
}
