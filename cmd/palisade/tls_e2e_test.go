package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// TestRunTLS drives the binary over TLS with the real curl: HTTP/2 and
// HTTP/1.1 chosen by ALPN, X-Forwarded-Proto https, and certificates
// replaced on SIGHUP, a broken one refused.
//
// It runs in another directory than the config's, whose relative paths
// must resolve beside the config: the certificates, and the access log,
// which was once opened relative to the working directory instead.
func TestRunTLS(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Forwarded"))
	}))
	t.Cleanup(backend.Close)
	dir, workDir := t.TempDir(), t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "certs", "site.pem"), filepath.Join(dir, "certs", "site.key")
	ca.WriteLeaf(t, certFile, keyFile, "v1", "127.0.0.1")
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := writeTLSConfig(t, dir, "logs/access.log", "{cert_file: certs/site.pem, key_file: certs/site.key}", backend.Listener.Addr().String())
	p := startProcessIn(t, workDir, "run", "-c", file)
	addr := p.waitLog(t, listening)[1]
	url := "https://" + addr + "/"

	for _, tc := range []struct{ flag, version string }{
		{"--http2", "2"},
		{"--http1.1", "1.1"},
	} {
		got := curl(t, tc.flag, "--cacert", ca.File, "-w", "|%{http_version}", url)
		if want := "https|for=127.0.0.1;host=\"" + addr + "\";proto=https|" + tc.version; got != want {
			t.Errorf("curl %s answered %q, want %q", tc.flag, got, want)
		}
	}

	certName := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := certName(); got != "v1" {
		t.Fatalf("certificate %q, want v1", got)
	}
	// An HTTP/2 connection open across the reload keeps working.
	h2 := testenv.TLSClient(t, ca.Pool, testenv.H2)
	h2Get := func() string {
		t.Helper()
		resp, err := h2.Get(url)
		if err != nil {
			t.Fatalf("h2 GET: %v", err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	h2Get()

	ca.WriteLeaf(t, certFile, keyFile, "v2", "127.0.0.1")
	p.cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); certName() != "v2"; {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP new handshakes still get the old certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := h2Get(); got != "v1" {
		t.Errorf("the HTTP/2 connection from before SIGHUP has certificate %q, want v1 (the same connection)", got)
	}

	// A key that does not match its certificate: refused, v2 keeps serving.
	_, otherKey := ca.Leaf(t, "other")
	if err := os.WriteFile(keyFile, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, regexp.MustCompile(`config rejected, running config kept.*key_file: the private key in .* does not match`))
	if got := certName(); got != "v2" {
		t.Errorf("after a refused reload new handshakes get certificate %q, want v2", got)
	}
	if got := curl(t, "--http2", "--cacert", ca.File, "-o", "/dev/null", "-w", "%{http_code}", url); got != "200" {
		t.Errorf("curl after a refused reload = %s, want 200", got)
	}
	p.stop(t)

	data, err := os.ReadFile(filepath.Join(dir, "logs", "access.log"))
	if err != nil || !strings.Contains(string(data), `"proto":"HTTP/2.0","status":200`) {
		t.Errorf("access log beside the config: %v\n%s\nwant lines for the requests", err, data)
	}
	if _, err := os.Stat(filepath.Join(workDir, "logs")); err == nil {
		t.Errorf("a logs directory appeared in the working directory")
	}
}

// writeTLSConfig writes dir/palisade.yaml: the access log to accessLog
// (unbuffered), one TLS listener on a free port serving certificates (a
// comma-separated list of {cert_file, key_file}), and one route to
// backend, with Forwarded on. It returns the file's path.
func writeTLSConfig(t *testing.T, dir, accessLog, certificates, backend string) string {
	t.Helper()
	file := filepath.Join(dir, "palisade.yaml")
	cfg := fmt.Sprintf(`access_log: {output: %q, buffer: 0}
listeners:
  - name: web
    address: "127.0.0.1:0"
    tls:
      certificates: [%s]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, forwarded: true, backends: [{address: %q}]}]
`, accessLog, certificates, backend)
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestRunMisdirectedRequest drives the 421 check with the real curl over
// HTTP/2 and HTTP/1.1: a connection made for a.test carrying a request for
// b.test, whose certificate is another, is refused; one for a name of the
// same certificate (a wildcard) is served, as is any request on a
// connection made without SNI (by IP address).
func TestRunMisdirectedRequest(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	for _, c := range [][]string{{"a", "a.test", "127.0.0.1"}, {"b", "b.test"}, {"w", "*.w.test"}} {
		ca.WriteLeaf(t, filepath.Join(dir, c[0]+".pem"), filepath.Join(dir, c[0]+".key"), c[1:]...)
	}
	file := writeTLSConfig(t, dir, "off", "{cert_file: a.pem, key_file: a.key}, {cert_file: b.pem, key_file: b.key}, {cert_file: w.pem, key_file: w.key}",
		named(t, "app").Listener.Addr().String())
	p := startProcess(t, "run", "-c", file)
	addr := p.waitLog(t, listening)[1]
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sni, host, want string
	}{
		{"another certificate's host", "a.test", "b.test", "421"},
		{"a host no certificate covers", "a.test", "c.test", "421"},
		{"the same wildcard certificate", "x.w.test", "y.w.test", "200"},
		{"no SNI", "", "b.test", "200"},
	} {
		for _, flag := range []string{"--http2", "--http1.1"} {
			url := "https://127.0.0.1:" + port + "/"
			args := []string{flag, "--cacert", ca.File, "-H", "Host: " + tc.host, "-o", "/dev/null", "-w", "%{http_code}"}
			if tc.sni != "" {
				url = "https://" + tc.sni + ":" + port + "/"
				args = append(args, "--resolve", tc.sni+":"+port+":127.0.0.1")
			}
			if got := curl(t, append(args, url)...); got != tc.want {
				t.Errorf("%s: curl %s with SNI %q and Host %s = %s, want %s", tc.name, flag, tc.sni, tc.host, got, tc.want)
			}
		}
	}
	p.stop(t)
}
