package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// bodyTimeout is the read and write timeout of these tests; the bounds
// they check are generous multiples of it.
const bodyTimeout = 300 * time.Millisecond

// rawGet sends a GET for path on a new plain TCP connection (the path on
// which bodies are spliced) and reads the response to its end. resp is
// nil when no head came; err is the failure to read the head or body.
func rawGet(t *testing.T, addr, path string) (resp *http.Response, body []byte, err error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	body, err = io.ReadAll(resp.Body)
	return resp, body, err
}

// TestBackendBodyStall checks upstream timeouts.read end to end: a backend
// that sends its head and part of its body and then stalls gets the client
// connection aborted within a few read timeouts, whether the body is
// copied (Content-Length, chunked), spliced (a plain TCP client and a
// large Content-Length body) or comes from an h2c backend, and the access
// log records the backend timeout. A backend that keeps sending, slowly,
// is never cut, spliced or not.
func TestBackendBodyStall(t *testing.T) {
	const steadyPieces = 20
	first := bytes.Repeat([]byte("f"), 40<<10)
	piece := bytes.Repeat([]byte("p"), 1<<10)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flush := w.(http.Flusher).Flush
		switch strings.TrimPrefix(r.URL.Path, "/h2c") {
		case "/stall/length":
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "first bytes")
		case "/stall/chunked":
			io.WriteString(w, "first bytes")
		case "/stall/spliced":
			w.Header().Set("Content-Length", strconv.Itoa(100<<10))
			w.Write(first)
		case "/steady/spliced", "/steady/chunked":
			if strings.HasSuffix(r.URL.Path, "spliced") {
				w.Header().Set("Content-Length", strconv.Itoa(len(first)+steadyPieces*len(piece)))
			}
			w.Write(first)
			for range steadyPieces {
				flush()
				time.Sleep(100 * time.Millisecond)
				w.Write(piece)
			}
			return
		}
		flush()
		<-r.Context().Done() // until the proxy gives up
	})
	h1 := testenv.Backend(t, handler)
	h2c := testenv.H2CBackend(t, handler)
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := start(t, fmt.Sprintf(`
access_log: {output: %q, buffer: 0}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes:
  - {name: h2c, match: {path_prefix: /h2c/}, upstream: h2c}
  - {name: all, match: {path_prefix: /}, upstream: h1}
upstreams:
  - {name: h1, timeouts: {read: %[4]v}, backends: [{address: %[2]q}]}
  - {name: h2c, protocol: h2c, timeouts: {read: %[4]v}, backends: [{address: %[3]q}]}
`, logFile, h1.Listener.Addr(), h2c.Listener.Addr(), bodyTimeout))

	for _, path := range []string{"/stall/length", "/stall/chunked", "/stall/spliced", "/h2c/stall/length"} {
		t.Run(path, func(t *testing.T) {
			start := time.Now()
			resp, body, err := rawGet(t, h.addr, path)
			if resp == nil || resp.StatusCode != 200 {
				t.Fatalf("response %v, %v; want the 200 head before the stall", resp, err)
			}
			if err == nil {
				t.Errorf("the body read as complete (%d bytes) although the backend stalled", len(body))
			}
			if took := time.Since(start); took > 10*bodyTimeout {
				t.Errorf("the stall was noticed after %v, want within a few times %v", took, bodyTimeout)
			}
		})
	}
	for _, path := range []string{"/steady/spliced", "/steady/chunked"} {
		t.Run(path, func(t *testing.T) {
			resp, body, err := rawGet(t, h.addr, path)
			if want := len(first) + steadyPieces*len(piece); err != nil || resp.StatusCode != 200 || len(body) != want {
				t.Errorf("got %v with %d bytes, %v; want 200 with all %d bytes", resp, len(body), err, want)
			}
		})
	}

	// The line is written once the handler has returned.
	time.Sleep(100 * time.Millisecond)
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/stall/length", "/stall/chunked", "/stall/spliced", "/h2c/stall/length"} {
		line := logLine(string(data), path)
		if !strings.Contains(line, `"error":"reading response body: backend timeout`) {
			t.Errorf("access log line for %s does not record a backend timeout: %s", path, line)
		}
	}
	for _, path := range []string{"/steady/spliced", "/steady/chunked"} {
		if line := logLine(string(data), path); strings.Contains(line, `"error"`) {
			t.Errorf("access log line for %s records an error: %s", path, line)
		}
	}
}

// logLine returns the access log line of the request for path.
func logLine(log, path string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, `"path":"`+path+`"`) {
			return line
		}
	}
	return "(none)"
}

// TestBackendWriteStall checks upstream timeouts.write end to end: a
// backend that never reads a large request body gets the request answered
// 504 within a few write timeouts.
func TestBackendWriteStall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // read nothing
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, timeouts: {write: %v}, backends: [{address: %q}]}]
`, bodyTimeout, ln.Addr()))

	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	const size = 32 << 20
	start := time.Now()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
	go func() {
		// The proxy stops reading once it has answered: the write fails
		// then, or at the deadline.
		conn.Write(make([]byte, size))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
	if took := time.Since(start); took > 10*bodyTimeout {
		t.Errorf("answered after %v, want within a few times %v", took, bodyTimeout)
	}
}
