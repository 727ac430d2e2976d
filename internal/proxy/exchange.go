package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"palisade/internal/middleware"
	"palisade/internal/upstream"
)

// exchange is the per-request state of the handler: the outbound request
// with its URL, header map and value slots, the attempt bookkeeping, and the
// request body wrapper. With a synchronous transport it is recycled, so a
// request allocates none of it.
//
// The exchange is also the context of the outbound request for a
// synchronous transport: it delegates to the inbound request's context and
// implements exchangeHooks, which saves a context value per request.
type exchange struct {
	h      *handler
	parent context.Context
	w      http.ResponseWriter
	in     *http.Request
	st     *middleware.State

	out *http.Request
	url url.URL
	hdr http.Header
	// body is the outbound request body: ownBody, reused, for the
	// synchronous transport, which reads it only within RoundTrip; a new
	// one per request for http.Transport, whose writer may still hold it
	// after the exchange is recycled.
	body    *requestBody
	ownBody requestBody
	// vals backs the header values the proxy sets, one slot each.
	vals  [12]string
	nvals int
	// upgrade is the protocol the client asked to switch to, if forwarded.
	upgrade string

	tried   []*upstream.Backend
	rest    []*upstream.Backend
	release func(rtt time.Duration, err error)
	rtt     time.Duration
	// status is the status of the response being forwarded.
	status int
	// stick is the backend a Set-Cookie pins the client to, nil when the
	// request is not sticky or already pinned there.
	stick *upstream.Backend
	// replay keeps the body for retries while replayOn.
	replay   replayBody
	replayOn bool
	// getBody is the outbound request's GetBody while replayOn, bound
	// once so that a recycled exchange allocates nothing for it.
	getBody func() (io.ReadCloser, error)

	// mu guards rtDone and the ResponseWriter's header against the 1xx
	// callback, which http.Transport runs on its own goroutine and may run
	// late.
	mu     sync.Mutex
	rtDone bool
}

func newExchange(h *handler) *exchange {
	ex := &exchange{h: h, hdr: make(http.Header, 16)}
	ex.replay.pool = &h.replays
	ex.tried = make([]*upstream.Backend, 0, 4)
	if h.sync {
		// WithContext allocates a request; a recycled exchange pays once.
		ex.out = (&http.Request{}).WithContext(ex)
		ex.getBody = func() (io.ReadCloser, error) {
			if !ex.replay.rewind() {
				return nil, errNoReplay
			}
			return &ex.replay, nil
		}
	}
	return ex
}

// reset prepares ex for the request r.
func (ex *exchange) reset(w http.ResponseWriter, r *http.Request, st *middleware.State) {
	ex.parent, ex.w, ex.in, ex.st = r.Context(), w, r, st
	if !ex.h.sync {
		trace := &httptrace.ClientTrace{Got1xxResponse: ex.got1xxTrace}
		ex.out = (&http.Request{}).WithContext(httptrace.WithClientTrace(r.Context(), trace))
	}
}

// clear drops every reference to the finished request, so that a recycled
// exchange does not keep it alive.
func (ex *exchange) clear() {
	ex.parent, ex.w, ex.in, ex.st = nil, nil, nil, nil
	o := ex.out
	o.Method, o.URL, o.Host, o.Header, o.Body, o.Trailer, o.GetBody = "", nil, "", nil, nil, nil, nil
	ex.url = url.URL{}
	clear(ex.hdr)
	ex.ownBody.reset(nil)
	ex.body = nil
	clear(ex.vals[:])
	ex.nvals = 0
	ex.upgrade = ""
	clear(ex.tried)
	ex.tried = ex.tried[:0]
	clear(ex.rest)
	ex.rest = ex.rest[:0]
	ex.release, ex.rtt = nil, 0
	ex.status = 0
	ex.stick = nil
	if ex.replayOn {
		ex.replay.release()
		ex.replayOn = false
	}
	ex.rtDone = false
}

// Deadline, Done, Err and Value make the exchange the outbound request's
// context; it is the inbound request's context.
func (ex *exchange) Deadline() (time.Time, bool) { return ex.parent.Deadline() }
func (ex *exchange) Done() <-chan struct{}       { return ex.parent.Done() }
func (ex *exchange) Err() error                  { return ex.parent.Err() }
func (ex *exchange) Value(key any) any           { return ex.parent.Value(key) }

var (
	_ context.Context = (*exchange)(nil)
	_ exchangeHooks   = (*exchange)(nil)
)

// responseHeaderTimeout is the wait for a response head of one try: the
// upstream's, or the retry policy's per-try timeout when shorter.
func (ex *exchange) responseHeaderTimeout() time.Duration {
	d, per := ex.h.t.ResponseHeaderTimeout, ex.h.t.Retry.PerTryTimeout
	if per > 0 && (d <= 0 || per < d) {
		return per
	}
	return d
}

// setupReplay keeps the request body for retries when a retry could send
// it again: a synchronous transport, a policy that allows more than one
// try of this request, and a body buffer.
func (ex *exchange) setupReplay() {
	rp := ex.h.t.Retry
	if ex.out.Body == nil || !ex.h.sync || rp.Attempts < 2 || rp.BodyBuffer <= 0 {
		return
	}
	if !replayable(ex.in) && !ex.h.opts.RetryNonIdempotent && !rp.NonIdempotent {
		return
	}
	ex.replay.reset(ex.body, int(rp.BodyBuffer))
	ex.replayOn = true
	ex.out.Body = &ex.replay
	ex.out.GetBody = ex.getBody
}

// errNoReplay is GetBody's answer for a body that outgrew the buffer.
var errNoReplay = errors.New("request body larger than the retry buffer")

// rewind prepares the body for another try; it reports false when the
// body cannot be sent again.
func (ex *exchange) rewind() bool {
	if ex.out.Body == nil {
		return true
	}
	return ex.replayOn && ex.replay.rewind()
}

// got1xx forwards an informational response to the client (103 Early
// Hints and others, RFC 9110 §15.2) with its header fields. 100 Continue is
// not forwarded: the client-facing server answers Expect itself.
func (ex *exchange) got1xx(code int, header http.Header) error {
	if code == http.StatusContinue {
		return nil
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.rtDone {
		return nil
	}
	// The fields belong to the 1xx response only: the writer's header map
	// is restored afterwards, keeping what outer middleware set.
	h := ex.w.Header()
	type saved struct {
		k   string
		v   []string
		had bool
	}
	var prev []saved
	conn := header["Connection"]
	for k, vv := range header {
		if isHopByHop(k) || namedByConnection(conn, k) {
			continue
		}
		old, had := h[k]
		prev = append(prev, saved{k, old, had})
		h[k] = vv
	}
	ex.w.WriteHeader(code)
	for _, s := range prev {
		if s.had {
			h[s.k] = s.v
		} else {
			delete(h, s.k)
		}
	}
	return nil
}

func (ex *exchange) got1xxTrace(code int, header textproto.MIMEHeader) error {
	return ex.got1xx(code, http.Header(header))
}

// roundTripDone stops 1xx forwarding once RoundTrip returned.
func (ex *exchange) roundTripDone() {
	if ex.h.sync {
		return
	}
	ex.mu.Lock()
	ex.rtDone = true
	ex.mu.Unlock()
}

// prepare builds the outbound request from the inbound one. The inbound
// request is not modified: outer middleware (the access log) may read its
// header afterwards. The outbound header shares the inbound value slices,
// which nothing modifies.
func (ex *exchange) prepare() error {
	r, out := ex.in, ex.out
	out.Method = r.Method
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Host = r.Host
	setTarget(&ex.url, r)
	out.URL = &ex.url
	out.Header = ex.hdr
	out.Trailer = r.Trailer
	out.ContentLength = r.ContentLength
	out.Body = nil
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if ex.h.sync {
			ex.ownBody.reset(r.Body)
			ex.body = &ex.ownBody
		} else {
			ex.body = &requestBody{rc: r.Body}
		}
		out.Body = ex.body
	} else {
		out.ContentLength = 0
	}
	if err := ex.findUpgrade(); err != nil {
		return err
	}
	ex.buildRequestHeader()
	return nil
}

// errBadUpgrade rejects an Upgrade field that is not printable ASCII.
var errBadUpgrade = errors.New("invalid Upgrade field")

// findUpgrade records the protocol an HTTP/1.1 client asks to switch to
// (RFC 9110 §7.8). HTTP/2 has no upgrades, and h2c upgrades are not
// forwarded (RFC 9113 §3.1 deprecates them).
func (ex *exchange) findUpgrade() error {
	r := ex.in
	if r.ProtoMajor != 1 || !ex.h.upgrades || !valuesHaveToken(r.Header["Connection"], "upgrade") {
		return nil
	}
	up := r.Header["Upgrade"]
	if len(up) == 0 || up[0] == "" {
		return nil
	}
	for i := 0; i < len(up[0]); i++ {
		if c := up[0][i]; c < ' ' || c > '~' {
			return errBadUpgrade
		}
	}
	if !strings.EqualFold(up[0], "h2c") {
		ex.upgrade = up[0]
	}
	return nil
}

// setTarget points u at the inbound request target, byte for byte: the path
// and query are never decoded and re-encoded (unlike ReverseProxy, which
// also drops query parameters it cannot parse). The origin-form target is
// carried in Opaque, which both transports write as it is; targets that
// Opaque cannot carry (absolute form, a path starting with "//") fall back
// to the parsed URL.
func setTarget(u *url.URL, r *http.Request) {
	u.Scheme = "http"
	uri := r.RequestURI
	if uri == "*" {
		u.Opaque = "*"
		return
	}
	if len(uri) > 0 && uri[0] == '/' && !strings.HasPrefix(uri, "//") {
		path, query, hasQuery := strings.Cut(uri, "?")
		u.Opaque, u.RawQuery, u.ForceQuery = path, query, hasQuery && query == ""
		return
	}
	u.Path, u.RawPath, u.RawQuery, u.ForceQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.URL.ForceQuery
}

// requestBody passes the client's body to the transport. It records the
// first read failure, so that a failed exchange is blamed on the client,
// and never closes the inbound body, which belongs to the server. Reads
// hold mu, so that finish can wait for one in progress.
type requestBody struct {
	rc     io.ReadCloser
	err    atomic.Pointer[error]
	mu     sync.Mutex
	closed bool // the handler returned; guarded by mu
}

// errReadAfterHandler guards a transport that reads the body after the
// handler returned.
var errReadAfterHandler = errors.New("request body read after the handler returned")

func (b *requestBody) reset(rc io.ReadCloser) {
	b.rc = rc
	b.err.Store(nil)
	b.closed = false
}

// Read reads the client's body, recording a failure.
func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errReadAfterHandler
	}
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = wrapBodyError(err)
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// finish ends the use of the body when the handler returns, as net/http
// requires: a Read still in progress (http.Transport's body writer, when
// the backend answered without reading the whole body) is interrupted
// through the client connection's read deadline and waited for, and any
// later Read fails.
func (b *requestBody) finish(w http.ResponseWriter) {
	// The reader may set its own deadline after ours (before each read
	// from the connection): set ours again until the read has returned.
	rc := http.NewResponseController(w)
	for wait := time.Millisecond; !b.mu.TryLock(); wait = min(2*wait, 50*time.Millisecond) {
		if err := rc.SetReadDeadline(aLongTimeAgo()); err != nil {
			b.mu.Lock() // no way to interrupt it: wait for the read
			break
		}
		time.Sleep(wait)
	}
	b.closed = true
	b.mu.Unlock()
}

// Close does nothing: the server owns the inbound body.
func (b *requestBody) Close() error { return nil }

// failure returns the first read failure, if any.
func (b *requestBody) failure() error {
	if p := b.err.Load(); p != nil {
		return *p
	}
	return nil
}
