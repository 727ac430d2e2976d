package health

import (
	"context"
	"net"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// TCPProbe passes when a TCP connection to the backend opens within the
// timeout; it closes the connection at once and sends nothing.
type TCPProbe struct {
	timeout time.Duration
	port    int
	dialer  net.Dialer
}

var _ Probe = (*TCPProbe)(nil)

// NewTCPProbe returns the tcp probe of cfg: its timeout and port.
func NewTCPProbe(cfg config.HealthCheck) *TCPProbe {
	return &TCPProbe{timeout: cfg.Timeout.D(), port: cfg.Port}
}

// Probe connects to b (or to the check's port on b's host) and closes the
// connection.
func (p *TCPProbe) Probe(ctx context.Context, b *upstream.Backend) error {
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	c, err := p.dialer.DialContext(ctx, "tcp", target(b.Addr, p.port))
	if err != nil {
		return failed(ctx, p.timeout, err)
	}
	return c.Close()
}
