package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// TestH2CUploadClientLeaves covers an h2c backend that answers before
// reading the request body while its client leaves mid-upload:
// http.Transport's body writer is then still reading the client's body
// when the handler returns. The proxy must interrupt and wait for that read
// (under -race, any access after the handler returned to the pooled
// request state shows), and the proxy goes on serving.
func TestH2CUploadClientLeaves(t *testing.T) {
	b := testenv.H2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "early") // the body is never read
	}))
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, protocol: h2c, backends: [{address: %q}]}]
`, b.Listener.Addr()))
	for range 20 {
		conn, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			io.Copy(io.Discard, resp.Body)
		}
		conn.Close() // 90 body bytes never sent
	}
	req := newRequest(t, "POST", h.url("/upload"), strings.NewReader("complete"))
	if code, body, _ := get(t, testenv.Client(t, testenv.H1), req); code != 200 || body != "early" {
		t.Errorf("after clients left mid-upload: %d %q, want 200 \"early\"", code, body)
	}
}
