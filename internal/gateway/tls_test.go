package gateway

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/testenv"
)

// tlsConfig is a config with one TLS listener serving a.pem (and any more
// certificates given as %[1]s) in front of the backend %[2]s.
const tlsConfig = `
access_log: {output: "off"}
listeners:
  - name: web
    address: "127.0.0.1:0"
    tls:
      certificates:
        - {cert_file: a.pem, key_file: a.key}%[1]s
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, forwarded: true, backends: [{address: %[2]q}]}]
`

// peerName dials addr over TLS asking for sni and returns the common name
// of the certificate the server sent.
func peerName(t *testing.T, addr, sni string, ca *testenv.CA) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: ca.Pool})
	if err != nil {
		t.Fatalf("TLS handshake with SNI %q: %v", sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSForwarding(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "127.0.0.1")
	b := testenv.Backend(t, http.HandlerFunc(echoHeaders))
	h := startIn(t, dir, fmt.Sprintf(tlsConfig, "", b.Listener.Addr()))
	for _, tc := range []struct {
		proto     testenv.Protocol
		respProto string
		want      string
	}{
		{testenv.H1, "HTTP/1.1", "xff=127.0.0.1|xfp=https|xfh=app.test|fwd=for=127.0.0.1;host=app.test;proto=https|via=1.1 palisade|rid=true|conn=|keep="},
		{testenv.H2, "HTTP/2.0", "xff=127.0.0.1|xfp=https|xfh=app.test|fwd=for=127.0.0.1;host=app.test;proto=https|via=2.0 palisade|rid=true|conn=|keep="},
	} {
		t.Run(string(tc.proto), func(t *testing.T) {
			c := testenv.TLSClient(t, ca.Pool, tc.proto)
			for i := range 2 {
				req := newRequest(t, "GET", "https://"+h.addr+"/", nil)
				req.Host = "app.test"
				// An untrusted client's claim is replaced.
				req.Header.Set("X-Forwarded-Proto", "http")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Proto != tc.respProto || resp.TLS == nil {
					t.Errorf("request %d = %s %d (TLS %t), want %s 200 over TLS", i, resp.Proto, resp.StatusCode, resp.TLS != nil, tc.respProto)
				}
				if string(body) != tc.want {
					t.Errorf("request %d: backend saw\n%s\nwant\n%s", i, body, tc.want)
				}
			}
		})
	}
}

func TestTLSCertificateBySNI(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "a.example")
	ca.WriteLeaf(t, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), "b.example", "*.b.example")
	b := testenv.Backend(t, nameHandler("app"))
	h := startIn(t, dir, fmt.Sprintf(tlsConfig, "\n        - {cert_file: b.pem, key_file: b.key}", b.Listener.Addr()))
	for _, tc := range []struct{ sni, want string }{
		{"a.example", "a.example"},
		{"b.example", "b.example"},
		{"api.b.example", "b.example"},
	} {
		if got := peerName(t, h.addr, tc.sni, ca); got != tc.want {
			t.Errorf("SNI %q got the certificate of %q, want %q", tc.sni, got, tc.want)
		}
	}
	// No SNI, or a name no certificate has: the first certificate.
	for _, sni := range []string{"", "other.example"} {
		c, err := tls.Dial("tcp", h.addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS handshake with SNI %q: %v", sni, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "a.example" {
			t.Errorf("SNI %q got the certificate of %q, want the first, a.example", sni, got)
		}
		c.Close()
	}
}

// h1Conn is a raw HTTP/1.1 keep-alive connection over TLS.
type h1Conn struct {
	c  *tls.Conn
	br *bufio.Reader
}

func dialH1(t *testing.T, addr string, ca *testenv.CA) *h1Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &h1Conn{c: c, br: bufio.NewReader(c)}
}

func (hc *h1Conn) get(t *testing.T) string {
	t.Helper()
	if _, err := io.WriteString(hc.c, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(hc.br, nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func (hc *h1Conn) peerName() string {
	return hc.c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSReloadServesNewCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key")
	ca.WriteLeaf(t, certFile, keyFile, "v1", "127.0.0.1")
	b := testenv.Backend(t, nameHandler("app"))
	cfg := fmt.Sprintf(tlsConfig, "", b.Listener.Addr())
	h := startIn(t, dir, cfg)

	old := dialH1(t, h.addr, ca)
	if body := old.get(t); body != "app" {
		t.Fatalf("GET = %q, want \"app\"", body)
	}
	oldH2 := testenv.TLSClient(t, ca.Pool, testenv.H2)
	h2Name := func() string {
		t.Helper()
		resp, err := oldH2.Get("https://" + h.addr + "/")
		if err != nil {
			t.Fatalf("h2 GET: %v", err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if got := h2Name(); got != "v1" {
		t.Fatalf("h2 connection got certificate %q, want v1", got)
	}

	// Replace the files and reload the same config: new handshakes get
	// the new certificate; the connections open before keep theirs and
	// keep working.
	ca.WriteLeaf(t, certFile, keyFile, "v2", "127.0.0.1")
	if err := h.g.ApplyFile(h.file); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := peerName(t, h.addr, "127.0.0.1", ca); got != "v2" {
		t.Errorf("after the reload a new connection got certificate %q, want v2", got)
	}
	if body := old.get(t); body != "app" || old.peerName() != "v1" {
		t.Errorf("the HTTP/1.1 connection from before the reload answered %q on certificate %q, want \"app\" on v1", body, old.peerName())
	}
	if got := h2Name(); got != "v1" {
		t.Errorf("the HTTP/2 connection from before the reload now has certificate %q, want v1 (the same connection)", got)
	}

	// A broken certificate is refused like any other bad config, and the
	// certificate loaded last keeps serving.
	_, otherKey := ca.Leaf(t, "other")
	if err := os.WriteFile(keyFile, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	err := h.g.ApplyFile(h.file)
	var diags config.Diagnostics
	if !errors.As(err, &diags) || !strings.Contains(err.Error(), "palisade.yaml:8:") ||
		!strings.Contains(err.Error(), "listeners[0].tls.certificates[0].key_file: the private key in") {
		t.Fatalf("reload with a key that does not match = %v, want a diagnostic at key_file", err)
	}
	os.Remove(certFile)
	if err := h.g.ApplyFile(h.file); err == nil || !strings.Contains(err.Error(), "cert_file: cannot read") {
		t.Fatalf("reload with a missing certificate = %v, want a diagnostic at cert_file", err)
	}
	if got := peerName(t, h.addr, "127.0.0.1", ca); got != "v2" {
		t.Errorf("after refused reloads a new connection got certificate %q, want v2", got)
	}
	if body := old.get(t); body != "app" {
		t.Errorf("the connection from before answered %q after refused reloads, want \"app\"", body)
	}
}

func TestTLSTurnsOnAndOffWithoutReopening(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "127.0.0.1")
	b := testenv.Backend(t, nameHandler("app"))
	plain := fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr())
	h := startIn(t, dir, plain)
	plainClient := testenv.Client(t, testenv.H1)
	plainGet := func() (int, string) {
		t.Helper()
		plainClient.CloseIdleConnections()
		status, body, _ := get(t, plainClient, newRequest(t, "GET", h.url("/"), nil))
		return status, body
	}
	if status, body := plainGet(); status != 200 || body != "app" {
		t.Fatalf("plain GET = %d %q, want 200 \"app\"", status, body)
	}

	if err := h.reload(t, fmt.Sprintf(tlsConfig, "", b.Listener.Addr())); err != nil {
		t.Fatalf("reload turning TLS on: %v", err)
	}
	if addr := h.g.Addr("127.0.0.1:0").String(); addr != h.addr {
		t.Errorf("turning TLS on moved the listener from %s to %s", h.addr, addr)
	}
	tlsClient := testenv.TLSClient(t, ca.Pool, testenv.H2)
	if status, body, _ := get(t, tlsClient, newRequest(t, "GET", "https://"+h.addr+"/", nil)); status != 200 || body != "app" {
		t.Errorf("h2 GET after turning TLS on = %d %q, want 200 \"app\"", status, body)
	}
	if status, body := plainGet(); status != 400 || !strings.Contains(body, "HTTPS port") {
		t.Errorf("plain GET on the TLS listener = %d %q, want 400 about the HTTPS port", status, body)
	}

	if err := h.reload(t, plain); err != nil {
		t.Fatalf("reload turning TLS off: %v", err)
	}
	if status, body := plainGet(); status != 200 || body != "app" {
		t.Errorf("plain GET after turning TLS off = %d %q, want 200 \"app\"", status, body)
	}
}

// A large response with a Content-Length is spliced socket to socket on a
// plain listener; over TLS it must be encrypted like any other write: the
// splice path declines connections without a raw socket.
func TestTLSLargeBodyNotSpliced(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "127.0.0.1")
	body := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		io.WriteString(w, body)
	}))
	h := startIn(t, dir, fmt.Sprintf(tlsConfig, "", b.Listener.Addr()))
	for _, proto := range []testenv.Protocol{testenv.H1, testenv.H2} {
		status, got, _ := get(t, testenv.TLSClient(t, ca.Pool, proto), newRequest(t, "GET", "https://"+h.addr+"/", nil))
		if status != 200 || got != body {
			t.Errorf("%s: GET of a 256 KiB body = %d with %d bytes (intact %t), want 200 and the body", proto, status, len(got), got == body)
		}
	}
}

// TestTLSMisdirectedRequest: a request on a TLS connection whose host would
// have selected another certificate than the connection's server name did
// (an HTTP/2 client coalescing connections, or a client sending any Host
// it likes) gets 421 with a request ID, is never forwarded, and is logged.
func TestTLSMisdirectedRequest(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "a.test", "127.0.0.1")
	ca.WriteLeaf(t, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), "b.test")
	ca.WriteLeaf(t, filepath.Join(dir, "cd.pem"), filepath.Join(dir, "cd.key"), "c.test", "d.test")
	var forwarded atomic.Int32
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded.Add(1)
		io.WriteString(w, "app")
	}))
	cfg := fmt.Sprintf(tlsConfig, "\n        - {cert_file: b.pem, key_file: b.key}\n        - {cert_file: cd.pem, key_file: cd.key}", b.Listener.Addr())
	cfg = strings.Replace(cfg, `access_log: {output: "off"}`, `access_log: {output: access.log, buffer: 0}`, 1)
	h := startIn(t, dir, cfg)

	cases := []struct {
		name, sni, host string
		want            int
	}{
		{"another certificate's host", "a.test", "b.test", 421},
		{"a host no certificate covers", "a.test", "e.test", 421},
		{"a name of the same certificate", "c.test", "d.test", 200},
		{"the server name, with a port and in capitals", "a.test", "A.TEST:443", 200},
		{"no server name (by IP address)", "", "b.test", 200},
	}
	want200 := 0
	for _, proto := range []testenv.Protocol{testenv.H1, testenv.H2} {
		for _, tc := range cases {
			t.Run(string(proto)+"/"+tc.name, func(t *testing.T) {
				c := testenv.TLSClient(t, ca.Pool, proto)
				c.Transport.(*http.Transport).TLSClientConfig.ServerName = tc.sni
				req := newRequest(t, "GET", "https://"+h.addr+"/misdirected", nil)
				req.Host = tc.host
				status, body, hdr := get(t, c, req)
				if status != tc.want {
					t.Fatalf("SNI %q, Host %q: %d %q, want %d", tc.sni, tc.host, status, body, tc.want)
				}
				if status == 421 && (body != "Misdirected Request\n" || hdr.Get("X-Request-Id") == "") {
					t.Errorf("421 body %q, X-Request-Id %q; want the status text and a request ID", body, hdr.Get("X-Request-Id"))
				}
			})
			if tc.want == 200 {
				want200++
			}
		}
	}
	if got := forwarded.Load(); got != int32(want200) {
		t.Errorf("backend saw %d requests, want %d: a misdirected request was forwarded", got, want200)
	}
	data, err := os.ReadFile(filepath.Join(dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := `"host":"b.test","path":"/misdirected","proto":"HTTP/2.0","status":421,"bytes":20,`
	if !strings.Contains(string(data), want) || !strings.Contains(string(data), `"error":"misdirected request`) {
		t.Errorf("access log\n%s\nlacks the 421 line (%s ... \"error\":\"misdirected request...)", data, want)
	}
}
