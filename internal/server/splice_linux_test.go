//go:build linux

package server

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"

	"palisade/internal/middleware"
)

// sourceSocket returns the reading end of a loopback TCP connection whose
// other end has written data, as the raw connection a proxy would splice
// from.
func sourceSocket(t *testing.T, data []byte) syscall.RawConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	in, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close(); in.Close() })
	go func() { out.Write(data) }()
	rc, err := in.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestSpliceBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes: several pipe loads
	type result struct {
		ok      bool
		written int64
		err     error
	}
	results := make(chan result, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := w.(middleware.Splicer)
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(len(data)+5))
			w.Write([]byte("head:"))
			n, ok, err := s.Splice(sourceSocket(t, data), int64(len(data)))
			results <- result{ok, n, err}
		case "/chunked":
			// No Content-Length: the body is chunked, which splicing
			// cannot frame.
			w.Write([]byte("x"))
			n, ok, err := s.Splice(sourceSocket(t, data[:10]), 10)
			results <- result{ok, n, err}
		}
	})
	ts := startServer(t, defaultTestOptions(), h)
	cl := ts.client(t)

	cl.send("GET /length HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := cl.response("GET")
	if res := <-results; !res.ok || res.err != nil || res.written != int64(len(data)) {
		t.Fatalf("Splice = %d, %v, %v; want %d, true, nil", res.written, res.ok, res.err, len(data))
	}
	if resp.StatusCode != 200 || body != "head:"+string(data) {
		t.Fatalf("response %d with %d body bytes, want 200 with %d", resp.StatusCode, len(body), len(data)+5)
	}

	// The connection stays usable: the response ended where it said.
	cl.send("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body = cl.response("GET")
	if res := <-results; res.ok || res.written != 0 {
		t.Errorf("Splice into a chunked response = %d, %v; want 0, false", res.written, res.ok)
	}
	if resp.StatusCode != 200 || body != "x" {
		t.Errorf("chunked response = %d %q, want 200 \"x\"", resp.StatusCode, body)
	}
}
