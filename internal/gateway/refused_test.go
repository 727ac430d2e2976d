package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// Regression (issue 11, item 8): requests the server refused before
// routing had no request ID and no access log line, only a debug line.
func TestRefusedRequestsLogged(t *testing.T) {
	b := testenv.Backend(t, nameHandler("app"))
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := start(t, fmt.Sprintf(`
access_log: {output: %q, buffer: 0}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, logFile, b.Listener.Addr()))

	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	resp.Body.Close()
	h1ID := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 400 || h1ID == "" {
		t.Fatalf("h1: status %d, X-Request-Id %q, want 400 and an ID", resp.StatusCode, h1ID)
	}

	req := newRequest(t, "GET", h.url("/"), nil)
	req.URL.Opaque = "/a/../b"
	status, _, hdr := get(t, testenv.Client(t, testenv.H2C), req)
	h2ID := hdr.Get("X-Request-Id")
	if status != 400 || h2ID == "" {
		t.Fatalf("h2c: status %d, X-Request-Id %q, want 400 and an ID", status, h2ID)
	}

	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("access log has %d lines, want 2:\n%s", len(lines), data)
	}
	for i, want := range [][]string{
		{`"request_id":"` + h1ID + `"`, `"status":400`, `"reason":"Transfer-Encoding with Content-Length"`,
			`"method":"POST"`, `"path":"/x"`, `"listener":"web"`, `"client_ip":"127.0.0.1"`, `"route":""`},
		{`"request_id":"` + h2ID + `"`, `"status":400`, `"reason":"dot segment or NUL in path"`, `"proto":"HTTP/2.0"`},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("access log line %s lacks %s", lines[i], w)
			}
		}
	}
}
