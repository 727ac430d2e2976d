package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
	"palisade/internal/middleware"
)

// forwardAuth asks an auth service about each request (nginx
// auth_request, Traefik forwardAuth).
type forwardAuth struct {
	url             string
	client          *http.Client
	timeout         time.Duration
	requestHeaders  []string // canonical
	responseHeaders []string // canonical
	maxBody         int64
	keep            bool
	log             *slog.Logger
	// down is true while the auth service cannot be reached; it changes
	// with one log line, however many requests see the change.
	down atomic.Bool
}

type forwardHandler struct {
	fwd  *forwardAuth
	next http.Handler
}

// errAuthService wraps a failure to get an answer from the auth service.
var errAuthService = fmt.Errorf("auth service: %w", ErrAuthUnavailable)

func newForward(cfg config.AuthForward, keep bool, log *slog.Logger) (*forwardAuth, error) {
	timeout := cfg.Timeout.D()
	// A transport of its own: the auth service's connections are not
	// mixed with any upstream's, and its pool is sized for one host.
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
	f := &forwardAuth{
		url: cfg.URL,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: timeout,
		maxBody: int64(cfg.MaxBodySize),
		keep:    keep,
		log:     log,
	}
	for _, h := range cfg.RequestHeaders {
		f.requestHeaders = append(f.requestHeaders, http.CanonicalHeaderKey(h))
	}
	for _, h := range cfg.ResponseHeaders {
		f.responseHeaders = append(f.responseHeaders, http.CanonicalHeaderKey(h))
	}
	if _, err := http.NewRequest(http.MethodGet, cfg.URL, nil); err != nil {
		return nil, err
	}
	return f, nil
}

// ServeHTTP sends the sub-request and either lets r through (a 2xx) or
// answers with the auth service's response.
func (h *forwardHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := h.fwd
	// The client's own copies never reach the upstream, whatever happens.
	deleteClientCopies(r.Header, f.responseHeaders)
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	resp, err := f.client.Do(f.subRequest(ctx, r))
	if err != nil {
		if r.Context().Err() != nil {
			middleware.WriteError(w, r, middleware.StatusClientClosed, fmt.Errorf("%w: %w", middleware.ErrClientGone, err))
			return
		}
		if f.down.CompareAndSwap(false, true) {
			f.log.Warn("auth: auth service unreachable; answering 503", "url", f.url, "error", err)
		}
		middleware.WriteError(w, r, http.StatusServiceUnavailable, fmt.Errorf("%w: %w", errAuthService, err))
		return
	}
	defer resp.Body.Close()
	if f.down.CompareAndSwap(true, false) {
		f.log.Info("auth: auth service reachable again", "url", f.url)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		f.relay(w, r, resp)
		return
	}
	// The client's credentials go before the auth service's fields are
	// copied: a service that exchanges them for its own (response_headers:
	// [Authorization]) must see its value arrive.
	if !f.keep {
		delete(r.Header, "Authorization")
	}
	for _, name := range f.responseHeaders {
		if v := resp.Header[name]; len(v) > 0 {
			r.Header[name] = v
		}
	}
	// Read what is left of a short body so the connection can be reused.
	io.CopyN(io.Discard, resp.Body, 4<<10)
	middleware.StateFrom(r.Context()).Authenticated = true
	h.next.ServeHTTP(w, r)
}

// subRequest builds the request to the auth service: a GET without a
// body, carrying the chosen headers of r and, in X-Forwarded-*, what the
// client asked for and who it is. The X-Forwarded-* values are built here
// and replace any the client sent.
func (f *forwardAuth) subRequest(ctx context.Context, r *http.Request) *http.Request {
	sub, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil) // the URL was checked by newForward
	for _, name := range f.requestHeaders {
		if v := r.Header[name]; len(v) > 0 {
			sub.Header[name] = v
		}
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	sub.Header["X-Forwarded-Method"] = []string{r.Method}
	sub.Header["X-Forwarded-Uri"] = []string{uri}
	sub.Header["X-Forwarded-Host"] = []string{r.Host}
	sub.Header["X-Forwarded-Proto"] = []string{proto}
	if ip := clientIP(r); ip.IsValid() {
		sub.Header["X-Forwarded-For"] = []string{ip.String()}
	}
	return sub
}

// clientIP is the client address resolved through the listener's trusted
// proxies, or the connection's peer under a plain test server.
func clientIP(r *http.Request) netip.Addr {
	if st := middleware.StateFrom(r.Context()); st.ClientIP.IsValid() {
		return st.ClientIP
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// relay sends the auth service's refusal (or redirect) to the client as it
// is: status, end-to-end header fields and at most maxBody bytes of body.
func (f *forwardAuth) relay(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	st := middleware.StateFrom(r.Context())
	st.Err = fmt.Errorf("auth service answered %d: %w", resp.StatusCode, ErrBadCredentials)
	h := w.Header()
	conn := resp.Header["Connection"]
	for name, v := range resp.Header {
		if isHopByHop(name) || namedByConnection(conn, name) {
			continue
		}
		h[name] = v
	}
	if resp.ContentLength >= 0 && resp.ContentLength <= f.maxBody {
		h["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	}
	if st.ID != "" {
		h["X-Request-Id"] = []string{st.ID}
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, f.maxBody))
	if err == nil && n == f.maxBody {
		// Past the bound the body is cut; say so in the log only.
		if m, _ := io.CopyN(io.Discard, resp.Body, 1); m > 0 {
			st.Err = errors.Join(st.Err, fmt.Errorf("auth service body cut at %d bytes", f.maxBody))
		}
	}
}

// isHopByHop reports whether a response field must not be relayed: it
// belongs to the connection to the auth service (RFC 9110 §7.6.1), or it
// frames the body, which is framed again.
func isHopByHop(name string) bool {
	switch name {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length",
		"Proxy-Authenticate", "Proxy-Authorization":
		return true
	}
	return false
}

// namedByConnection reports whether the canonical field name is listed in
// the Connection field values conn (RFC 9110 §7.6.1: such fields belong to
// that one connection and a proxy must remove them before forwarding).
func namedByConnection(conn []string, name string) bool {
	for _, v := range conn {
		for opt := range strings.SplitSeq(v, ",") {
			// ASCII case folding only: strings.EqualFold would match the
			// Kelvin sign to k.
			if opt = strings.TrimSpace(opt); len(opt) == len(name) && httpsyntax.HasPrefixFold(opt, name) {
				return true
			}
		}
	}
	return false
}

// close drops the idle connections to the auth service.
func (f *forwardAuth) close() { f.client.CloseIdleConnections() }
