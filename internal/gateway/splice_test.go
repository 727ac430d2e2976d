package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"palisade/internal/testenv"
)

// TestLargeBodies checks the paths a large body takes (spliced from the
// backend's socket to the client's over HTTP/1.1, copied over h2c): bytes
// intact, a truncated backend body never passed off as complete, bodies
// that must be compressed still compressed, bytes counted in the access
// log.
func TestLargeBodies(t *testing.T) {
	big := bytes.Repeat([]byte("palisade splices large bodies. "), 34000) // ~1 MiB
	png := append([]byte("\x89PNG\r\n\x1a\n"), big[:300<<10]...)
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big", "/api/big.json":
			if strings.HasSuffix(r.URL.Path, ".json") {
				w.Header().Set("Content-Type", "application/json")
			} else {
				w.Header().Set("Content-Type", "application/octet-stream")
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		case "/api/image.png":
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Content-Length", strconv.Itoa(len(png)))
			w.Write(png)
		case "/truncated":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.WriteHeader(200)
			w.Write(big[:200<<10])
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := start(t, fmt.Sprintf(`
access_log: {output: %q, buffer: 0}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes:
  - {name: api, match: {path_prefix: /api/}, middlewares: [{kind: compress}], upstream: app}
  - {name: all, match: {path_prefix: /}, upstream: app}
upstreams: [{name: app, backends: [{address: %q}]}]
`, logFile, b.Listener.Addr()))

	sum := func(p []byte) string { return fmt.Sprintf("%x", sha256.Sum256(p)) }
	for _, proto := range testenv.Protocols {
		c := testenv.Client(t, proto)
		for i := range 3 { // later rounds reuse pooled connections on both sides
			code, body, _ := get(t, c, newRequest(t, "GET", h.url("/big"), nil))
			if code != 200 || sum([]byte(body)) != sum(big) {
				t.Fatalf("%s round %d: /big = %d with %d bytes, want 200 with the backend's %d", proto, i, code, len(body), len(big))
			}
		}

		req := newRequest(t, "GET", h.url("/api/big.json"), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("%s: /api/big.json not gzip (Content-Encoding %q): %v", proto, resp.Header.Get("Content-Encoding"), err)
		}
		plain, err := io.ReadAll(zr)
		resp.Body.Close()
		if err != nil || sum(plain) != sum(big) {
			t.Errorf("%s: compressed /api/big.json decodes to %d bytes (%v), want the backend's %d", proto, len(plain), err, len(big))
		}

		req = newRequest(t, "GET", h.url("/api/image.png"), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		code, body, hdr := get(t, c, req)
		if code != 200 || hdr.Get("Content-Encoding") != "" || sum([]byte(body)) != sum(png) {
			t.Errorf("%s: /api/image.png = %d, Content-Encoding %q, %d bytes; want 200, none, %d", proto, code, hdr.Get("Content-Encoding"), len(body), len(png))
		}

		resp, err = c.Do(newRequest(t, "GET", h.url("/truncated"), nil))
		if err == nil {
			n, rerr := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if rerr == nil {
				t.Errorf("%s: a body the backend cut at %d of %d bytes reached the client as complete (%d bytes)", proto, 200<<10, len(big), n)
			}
		}
	}

	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"path":"/big","proto":"HTTP/1.1","status":200,"bytes":` + strconv.Itoa(len(big)) + ","; !strings.Contains(string(data), want) {
		t.Errorf("access log lacks %s", want)
	}
}

// TestClientLeavesDuringLargeBody checks that a client closing its
// connection in the middle of a large body ends the exchange cleanly: the
// next request is served in full.
func TestClientLeavesDuringLargeBody(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 8<<20)
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	}))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	for range 3 {
		conn, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		if _, err := io.CopyN(io.Discard, br, 100<<10); err != nil {
			t.Fatalf("reading the start of the body: %v", err)
		}
		conn.Close()
	}
	code, body, _ := get(t, testenv.Client(t, testenv.H1), newRequest(t, "GET", h.url("/big"), nil))
	if code != 200 || len(body) != len(big) {
		t.Errorf("after clients left: %d with %d bytes, want 200 with %d", code, len(body), len(big))
	}
}
