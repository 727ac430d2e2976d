package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// userAgent is what every probe calls itself, so a backend's access log
// can tell probes from clients.
const userAgent = "palisade-health-check"

// Probe checks one backend once. It returns nil when the backend passes,
// and otherwise an error whose text is the reason the Checker logs and the
// backend records: "status 503", "connect: connection refused",
// "timeout after 2s". Probe must return soon after ctx ends. A Checker calls
// one Probe from a goroutine per backend, so an implementation must be safe
// for concurrent use.
type Probe interface {
	Probe(ctx context.Context, b *upstream.Backend) error
}

// ProbeFunc adapts a function to a Probe: a check the built-in types do not
// cover, or one whose verdict a test sets.
type ProbeFunc func(ctx context.Context, b *upstream.Backend) error

// Probe calls f(ctx, b).
func (f ProbeFunc) Probe(ctx context.Context, b *upstream.Backend) error { return f(ctx, b) }

var _ Probe = ProbeFunc(nil)

// NewProbe returns the probe cfg.Type names (http, tcp or grpc), shaped by
// the rest of cfg. cfg has been validated; NewProbe fails only on a type it
// does not know or an expected status it cannot parse.
func NewProbe(cfg config.HealthCheck) (Probe, error) {
	switch cfg.Type {
	case "http":
		return NewHTTPProbe(cfg)
	case "tcp":
		return NewTCPProbe(cfg), nil
	case "grpc":
		return NewGRPCProbe(cfg), nil
	}
	return nil, fmt.Errorf("unknown health check type %q", cfg.Type)
}

// target is the address a probe connects to: the backend's, with its port
// replaced when the check has a port of its own.
func target(addr string, port int) string {
	if port == 0 {
		return addr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// withTimeout bounds ctx by a probe's timeout; 0 adds no bound.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// failure is a failed probe: its text is the reason logged, and it wraps
// the error behind it, if any, for errors.Is.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.reason }
func (f *failure) Unwrap() error { return f.err }

// failed turns err, met while probing under ctx (bounded by timeout), into
// a short reason. The log line already names the backend, so addresses and
// Go's call chain ("dial tcp 127.0.0.1:9001: ...") are left out.
func failed(ctx context.Context, timeout time.Duration, err error) error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &failure{reason: fmt.Sprintf("timeout after %v", timeout), err: err}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		msg := op.Err.Error()
		if op.Op == "dial" && !strings.HasPrefix(msg, "connect: ") {
			msg = "connect: " + msg
		}
		return &failure{reason: msg, err: err}
	}
	return &failure{reason: err.Error(), err: err}
}
