package health

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// GRPCProbe calls grpc.health.v1.Health/Check on the backend, over h2c
// (no TLS), on a client connection of its own per probe, as Kubernetes'
// gRPC probe does: each probe tests that the backend accepts connections,
// and nothing stays open between probes. It passes only when the answer
// is SERVING.
type GRPCProbe struct {
	service string
	timeout time.Duration
	port    int
}

var _ Probe = (*GRPCProbe)(nil)

// NewGRPCProbe returns the grpc probe of cfg: its service name ("" asks
// about the server as a whole), timeout and port.
func NewGRPCProbe(cfg config.HealthCheck) *GRPCProbe {
	return &GRPCProbe{service: cfg.Service, timeout: cfg.Timeout.D(), port: cfg.Port}
}

// Probe asks b for the health of the check's service.
func (p *GRPCProbe) Probe(ctx context.Context, b *upstream.Backend) error {
	ctx, cancel := withTimeout(ctx, p.timeout)
	defer cancel()
	// The dialer keeps its error: gRPC would report a refused connect as
	// an Unavailable status wrapping a long chain of text.
	var dialErr atomic.Pointer[error]
	var d net.Dialer
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			dialErr.Store(&err)
		}
		return c, err
	}
	// passthrough: the address is already resolved, so no resolver
	// goroutine or DNS lookup runs per probe.
	conn, err := grpc.NewClient("passthrough:///"+target(b.Addr, p.port),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		grpc.WithUserAgent(userAgent),
		grpc.WithDisableServiceConfig(),
		grpc.WithDisableRetry(),
	)
	if err != nil {
		return fmt.Errorf("grpc client: %w", err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service})
	if err != nil {
		if e := dialErr.Load(); e != nil && ctx.Err() == nil {
			return failed(ctx, p.timeout, *e)
		}
		if ctx.Err() != nil {
			return failed(ctx, p.timeout, err)
		}
		st := status.Convert(err)
		return &failure{reason: fmt.Sprintf("grpc %s: %s", st.Code(), st.Message()), err: err}
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return &failure{reason: "grpc status " + s.String()}
	}
	return nil
}
