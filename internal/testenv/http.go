package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Protocol is how a test client talks to the proxy.
type Protocol string

// The client protocols every forwarding test runs under.
const (
	H1  Protocol = "h1"
	H2C Protocol = "h2c"
)

// Protocols lists the client protocols tests iterate over.
var Protocols = []Protocol{H1, H2C}

// Client returns an HTTP client speaking p (h2c with prior knowledge), that
// neither follows redirects nor asks for compression, and whose idle
// connections are closed when the test ends.
func Client(t testing.TB, p Protocol) *http.Client {
	t.Helper()
	var protos http.Protocols
	switch p {
	case H1:
		protos.SetHTTP1(true)
	case H2C:
		protos.SetUnencryptedHTTP2(true)
	default:
		t.Fatalf("testenv.Client: unknown protocol %q", p)
	}
	return newClient(t, &http.Transport{}, protos)
}

// newClient returns a test client on tr speaking protos, that neither
// follows redirects nor asks for compression, and whose idle connections
// are closed when the test ends.
func newClient(t testing.TB, tr *http.Transport, protos http.Protocols) *http.Client {
	tr.DisableCompression = true
	tr.MaxIdleConnsPerHost = 64
	tr.Protocols = &protos
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Backend starts a loopback HTTP/1.1 server running h, closed when the test
// ends.
func Backend(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// H2CBackend starts a loopback server speaking only h2c (prior knowledge).
func H2CBackend(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	s.Config.Protocols = &protos
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// ClosedAddr returns a loopback address nothing listens on.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// FreeAddr returns a loopback address that was free a moment ago, for
// configs that need a fixed address.
func FreeAddr(t testing.TB) string { return ClosedAddr(t) }
