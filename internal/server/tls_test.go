package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// startTLSServer serves h over TLS with a certificate for 127.0.0.1 signed
// by a test CA, which it returns for clients to trust.
func startTLSServer(t *testing.T, o Options, h http.HandlerFunc) (*testServer, *testenv.CA) {
	t.Helper()
	ca := testenv.NewCA(t)
	certPEM, keyPEM := ca.Leaf(t, "127.0.0.1", "localhost")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	ts := startServerWith(t, o, h, func(s *Server) { s.SetTLSConfig(cfg) })
	return ts, ca
}

// tlsClient is a raw TLS connection offering protos through ALPN, with a
// reader for responses.
func (ts *testServer) tlsClient(t *testing.T, ca *testenv.CA, protos ...string) (*client, *tls.Conn) {
	t.Helper()
	c, err := tls.Dial("tcp", ts.addr, &tls.Config{RootCAs: ca.Pool, NextProtos: protos})
	if err != nil {
		t.Fatalf("tls.Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, br: bufio.NewReader(c)}, c
}

func TestTLSServesHTTP1AndHTTP2(t *testing.T) {
	type seen struct {
		proto, negotiated string
		tls               bool
	}
	got := make(chan seen, 1)
	ts, ca := startTLSServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		s := seen{proto: r.Proto, tls: r.TLS != nil}
		if r.TLS != nil {
			s.negotiated = r.TLS.NegotiatedProtocol
		}
		got <- s
		io.WriteString(w, "ok")
	})
	for _, tc := range []struct {
		p    testenv.Protocol
		want seen
	}{
		// Go's HTTP/1.1-only transport offers no ALPN.
		{testenv.H1, seen{"HTTP/1.1", "", true}},
		{testenv.H2, seen{"HTTP/2.0", "h2", true}},
	} {
		t.Run(string(tc.p), func(t *testing.T) {
			c := testenv.TLSClient(t, ca.Pool, tc.p)
			for i := range 3 { // keep-alive: the same connection serves each
				resp, err := c.Get("https://" + ts.addr + "/")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "ok" || resp.Proto != tc.want.proto {
					t.Errorf("request %d = %s %d %q, want %s 200 \"ok\"", i, resp.Proto, resp.StatusCode, body, tc.want.proto)
				}
				if s := <-got; s != tc.want {
					t.Errorf("request %d: handler saw %+v, want %+v", i, s, tc.want)
				}
			}
		})
	}
	// A TLS connection has no descriptor the parker could watch: the idle
	// connections above waited on their goroutines.
	if p := ts.srv.parker.Load(); p != nil {
		t.Errorf("the idle parker was started for TLS connections; it must never hold one")
	}
}

func TestTLSHandshakeTimeout(t *testing.T) {
	o := defaultTestOptions()
	o.ReadHeaderTimeout = 200 * time.Millisecond
	ts, ca := startTLSServer(t, o, okHandler)

	// A client that connects and says nothing is closed once the
	// handshake's time (ReadHeaderTimeout from accept) is up.
	c := ts.dial(t)
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("silent client: Read = %v, want the server to close the connection", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("silent client closed after %v, want about 200ms", d)
	}

	// The handshake is on the connection's goroutine: a stalled one does not
	// hold up the accept loop.
	stalled := ts.dial(t)
	defer stalled.Close()
	cl, _ := ts.tlsClient(t, ca, "http/1.1")
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := cl.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("GET beside a stalled handshake = %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}

func TestTLSRefusesPlainHTTP(t *testing.T) {
	ts, _ := startTLSServer(t, defaultTestOptions(), okHandler)
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: test\r\n\r\n")
	resp, body := cl.response("GET")
	if resp.StatusCode != 400 || !strings.Contains(body, "plain HTTP request to an HTTPS port") {
		t.Errorf("plain HTTP to a TLS listener = %d %q, want 400 saying so", resp.StatusCode, body)
	}
	if ts.calls.Load() != 0 {
		t.Errorf("handler ran %d times, want 0", ts.calls.Load())
	}

	// Anything else that is not TLS just fails the handshake.
	c := ts.dial(t)
	io.WriteString(c, "\x00\x01\x02\x03\x04\x05")
	if n, err := c.Read(make([]byte, 64)); err == nil && n > 0 {
		t.Errorf("garbage to a TLS listener: read %d bytes, want the connection closed", n)
	}
}

func TestTLSRefusesH2CUpgradeAndPriorKnowledge(t *testing.T) {
	ts, ca := startTLSServer(t, defaultTestOptions(), okHandler)
	t.Run("Upgrade: h2c", func(t *testing.T) {
		cl, _ := ts.tlsClient(t, ca, "http/1.1")
		cl.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
		if resp, _ := cl.response("GET"); resp.StatusCode != 400 {
			t.Errorf("Upgrade: h2c over TLS = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("preface without ALPN h2", func(t *testing.T) {
		cl, tc := ts.tlsClient(t, ca, "http/1.1")
		if p := tc.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Fatalf("negotiated %q, want http/1.1", p)
		}
		cl.send(h2Preface)
		resp, err := http.ReadResponse(cl.br, nil)
		if err != nil {
			t.Fatalf("HTTP/2 preface over TLS without ALPN h2: %v, want an HTTP/1.1 error response", err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("HTTP/2 preface over TLS without ALPN h2 = %d, want a refusal", resp.StatusCode)
		}
	})
	if ts.calls.Load() != 0 {
		t.Errorf("handler ran %d times, want 0", ts.calls.Load())
	}
}

func TestTLSConfigSwitchesForNewConnections(t *testing.T) {
	ts, ca := startTLSServer(t, defaultTestOptions(), okHandler)
	tlsConn, _ := ts.tlsClient(t, ca, "http/1.1")

	ts.srv.SetTLSConfig(nil)
	plain := ts.client(t)
	plain.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := plain.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("plain GET after SetTLSConfig(nil) = %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
	// The TLS connection accepted before keeps TLS.
	tlsConn.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := tlsConn.response("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("GET on the earlier TLS connection = %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}

func TestTLSShutdownClosesHandshakingConnections(t *testing.T) {
	o := defaultTestOptions()
	o.ReadHeaderTimeout = 0 // only Shutdown can end the handshake
	ts, _ := startTLSServer(t, o, okHandler)
	c := ts.dial(t)
	// Wait until the server has the connection in its handshake.
	for deadline := time.Now().Add(5 * time.Second); ; {
		ts.srv.mu.Lock()
		n := len(ts.srv.active)
		ts.srv.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v, want nil: a connection in its handshake is idle", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with a connection in its handshake", d)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("Read after Shutdown = %v, want the connection closed", err)
	}
}
