package health

import (
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"palisade/internal/config"
)

// grpcServer starts a loopback gRPC server, with the standard health
// service unless bare, stopped when the test ends.
func grpcServer(t *testing.T, bare bool) (addr string, hs *health.Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	if !bare {
		hs = health.NewServer()
		healthpb.RegisterHealthServer(s, hs)
	}
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return l.Addr().String(), hs
}

func TestGRPCProbe(t *testing.T) {
	addr, hs := grpcServer(t, false)
	b := backendAt(t, addr)
	const orders = "app.v1.Orders"
	probe := func(service string) string {
		cfg := checkConfig("grpc")
		cfg.Service = service
		return reason(NewGRPCProbe(cfg).Probe(t.Context(), b))
	}
	steps := []struct {
		name    string
		set     func()
		service string
		want    string
	}{
		{"server serving", nil, "", ""},
		{"unknown service", nil, orders, "grpc NotFound: unknown service"},
		{"service not serving", func() { hs.SetServingStatus(orders, healthpb.HealthCheckResponse_NOT_SERVING) }, orders, "grpc status NOT_SERVING"},
		{"server serving beside it", nil, "", ""},
		{"service serving again", func() { hs.SetServingStatus(orders, healthpb.HealthCheckResponse_SERVING) }, orders, ""},
		{"server not serving", func() { hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING) }, "", "grpc status NOT_SERVING"},
		{"shut down", hs.Shutdown, orders, "grpc status NOT_SERVING"},
	}
	for _, step := range steps {
		if step.set != nil {
			step.set()
		}
		if got := probe(step.service); got != step.want {
			t.Errorf("%s: Probe(service %q) = %q, want %q", step.name, step.service, got, step.want)
		}
	}
}

func TestGRPCProbeFailures(t *testing.T) {
	bare, _ := grpcServer(t, true)
	healthy, _ := grpcServer(t, false)
	// silent accepts connections and never speaks HTTP/2.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, tc := range []struct {
		name, addr string
		port       int
		want       string
	}{
		{"no health service", bare, 0, "grpc Unimplemented: unknown service grpc.health.v1.Health"},
		{"closed port", closedAddr(t), 0, "connect: connection refused"},
		{"port overrides a closed one", closedAddr(t), port(t, healthy), ""},
		{"no answer", silent.Addr().String(), 0, "timeout after 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig("grpc")
			cfg.Timeout = config.Duration(200 * time.Millisecond)
			cfg.Port = tc.port
			start := time.Now()
			if got := reason(NewGRPCProbe(cfg).Probe(t.Context(), backendAt(t, tc.addr))); got != tc.want {
				t.Errorf("Probe(%s, port %d) = %q, want %q", tc.addr, tc.port, got, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Probe took %v, want at most about the 200ms timeout", d)
			}
		})
	}
}
