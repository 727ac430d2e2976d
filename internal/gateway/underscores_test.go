package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// Regression (issue 11, item 7): Transfer_Encoding, Content_Length and
// X_Forwarded_For were forwarded as they were, and CGI, FastCGI, WSGI and
// Rack backends read them as the fields they imitate.
func TestUnderscoreFieldsThroughProxy(t *testing.T) {
	// The backend answers with the fields holding an underscore that it
	// received, then the body.
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var keys []string
		for k := range r.Header {
			if strings.IndexByte(k, '_') >= 0 {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s", strings.Join(keys, ","), body)
	}))
	const raw = "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n" +
		"Content_Length: 0\r\nX_Forwarded_For: 1.2.3.4\r\nConnection: close\r\n\r\nhello"
	for _, tc := range []struct {
		mode    string
		status  int
		h1, h2c string
	}{
		{"drop", 200, "|hello", "|"},
		// Kept, except X_Forwarded_For: the proxy replaces every spelling
		// of the forwarding fields from an untrusted client.
		{"keep", 200, "Content_length,Transfer_encoding|hello", "Content_length|"},
		{"reject", 400, "", ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0", underscores_in_headers: %s}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, tc.mode, b.Listener.Addr()))

			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, raw)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("h1: reading response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("h1: status %d, want %d", resp.StatusCode, tc.status)
			} else if tc.status == 200 && string(body) != tc.h1 {
				t.Errorf("h1: backend saw %q, want %q", body, tc.h1)
			}

			req := newRequest(t, "GET", h.url("/"), nil)
			req.Host = "app.test"
			req.Header["X_Forwarded_For"] = []string{"1.2.3.4"}
			req.Header["Content_Length"] = []string{"0"}
			status, got, _ := get(t, testenv.Client(t, testenv.H2C), req)
			if status != tc.status {
				t.Errorf("h2c: status %d, want %d", status, tc.status)
			} else if tc.status == 200 && got != tc.h2c {
				t.Errorf("h2c: backend saw %q, want %q", got, tc.h2c)
			}
		})
	}
}
