package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// maxBody is how much of a response body an http probe looks at for
// expect_body, and the bound on its response head.
const maxBody = 64 << 10

// HTTPProbe sends one HTTP/1.1 request per probe on a connection of its
// own, closed after the response: a probe never rides on a kept-alive
// connection, so each one tests that the backend still accepts them. It
// passes when the status is among the expected ones and, when the check
// has expect_body, the first 64 KiB of the body contain it. Redirects are
// not followed: a 3xx is judged as a status like any other.
type HTTPProbe struct {
	method, path string
	// host is the Host header; "" sends the backend's address.
	host   string
	header http.Header
	expect []statusRange
	body   []byte

	timeout time.Duration
	port    int
	// transport is the probe's own, without keep-alive, proxy or
	// compression, so no probe state is shared with the request path.
	transport *http.Transport
}

type statusRange struct{ lo, hi int }

var _ Probe = (*HTTPProbe)(nil)

// NewHTTPProbe returns the http probe of cfg. cfg has been validated; it
// fails only when an expected status does not parse or none is listed.
func NewHTTPProbe(cfg config.HealthCheck) (*HTTPProbe, error) {
	p := &HTTPProbe{
		method:  cfg.Method,
		path:    cfg.Path,
		host:    cfg.Host,
		header:  make(http.Header, len(cfg.Headers)+1),
		body:    []byte(cfg.ExpectBody),
		timeout: cfg.Timeout.D(),
		port:    cfg.Port,
	}
	if p.method == "" {
		p.method = http.MethodGet
	}
	if p.path == "" {
		p.path = "/"
	}
	p.header.Set("User-Agent", userAgent)
	for name, value := range cfg.Headers {
		if strings.EqualFold(name, "Host") {
			// Go sends Request.Host, never a Host field of the header.
			if p.host == "" {
				p.host = value
			}
			continue
		}
		p.header.Set(name, value)
	}
	if len(cfg.ExpectStatus) == 0 {
		return nil, errors.New("health check expects no status: every probe would fail")
	}
	for _, s := range cfg.ExpectStatus {
		lo, hi, ok := config.ParseStatusRange(s)
		if !ok {
			return nil, fmt.Errorf("health check expect_status: %q is not a status or a range", s)
		}
		p.expect = append(p.expect, statusRange{lo, hi})
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	p.transport = &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true, // and so every request says Connection: close
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxBody,
		Protocols:              &protocols,
	}
	return p, nil
}

// Probe sends the check's request to b and judges the response.
func (p *HTTPProbe) Probe(ctx context.Context, b *upstream.Backend) error {
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, p.method, "http://"+target(b.Addr, p.port)+p.path, nil)
	if err != nil {
		return fmt.Errorf("health check request: %w", err)
	}
	req.Host = p.host
	if req.Host == "" {
		req.Host = b.Addr
	}
	req.Header = p.header.Clone()
	// RoundTrip, not a Client: it never follows a redirect nor keeps a
	// cookie.
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return failed(ctx, p.timeout, err)
	}
	defer resp.Body.Close()
	if !p.statusOK(resp.StatusCode) {
		return &failure{reason: fmt.Sprintf("status %d", resp.StatusCode)}
	}
	if len(p.body) == 0 {
		return nil
	}
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if bytes.Contains(got, p.body) {
		return nil
	}
	if err != nil {
		return failed(ctx, p.timeout, fmt.Errorf("reading the body: %w", err))
	}
	return &failure{reason: fmt.Sprintf("body does not contain %q", p.body)}
}

func (p *HTTPProbe) statusOK(code int) bool {
	for _, r := range p.expect {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}
