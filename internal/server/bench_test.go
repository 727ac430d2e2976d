package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkServe measures a keep-alive GET over loopback with a trivial
// handler: per op, one request written, one response read. The pipelined
// case writes 16 requests at once and reads 16 responses.
func BenchmarkServe(b *testing.B) {
	const req = "GET /bench/path?x=1 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
	hello := []byte("hello")
	for _, bc := range []struct {
		name  string
		depth int
	}{
		{"keepalive", 1},
		{"pipelined16", 16},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(hello)
			}), defaultTestOptions(), nil)
			go srv.Serve(ln)
			defer srv.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			batch := []byte(strings.Repeat(req, bc.depth))
			br := bufio.NewReaderSize(c, 64<<10)
			resp := respLen(b, c, br, req)
			discard := make([]byte, resp*bc.depth)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += bc.depth {
				if _, err := c.Write(batch); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// respLen sends one request and returns the length of its response: the
// same for every request of the benchmark (the Date line has a fixed
// width).
func respLen(b *testing.B, c net.Conn, br *bufio.Reader, req string) int {
	io.WriteString(c, req)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var head bytes.Buffer
	resp.Header.Write(&head)
	return len("HTTP/1.1 200 OK\r\n") + head.Len() + len("\r\n") + len(body)
}

// BenchmarkServeConcurrent runs keep-alive requests on 50 connections at
// once, as wrk -c50 does: the cost of what happens between two requests
// of a connection (waiting in the poller, or parking) shows here, not with
// one connection.
func BenchmarkServeConcurrent(b *testing.B) {
	const req = "GET /bench/path?x=1 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}), defaultTestOptions(), nil)
	go srv.Serve(ln)
	defer srv.Close()
	b.SetParallelism((50 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 4<<10)
		discard := make([]byte, respLen(b, c, br, req))
		for pb.Next() {
			if _, err := io.WriteString(c, req); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(br, discard); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
