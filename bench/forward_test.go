package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/gateway"
)

// BenchmarkForward measures the whole HTTP/1.1 forwarding path over
// loopback: a keep-alive client connection sends GET /small, Palisade (the
// gateway with a route, the proxy, the access log encoded and discarded)
// forwards it to a minimal backend answering 100 bytes. Client and backend
// are hand-written to cost little, so the profile is Palisade's. Run:
//
//	go test ./bench/ -run '^$' -bench BenchmarkForward -benchmem -cpu 1
//	go test ./bench/ -run '^$' -bench BenchmarkForward -cpu 1 -cpuprofile cpu.prof
func BenchmarkForward(b *testing.B) {
	for _, size := range []int{100, 64 << 10} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			backend := startRawBackend(b, size)
			addr := startGateway(b, backend)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 64<<10)
			req := []byte("GET /small HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := conn.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := readResponse(br, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readResponse reads one response head and a Content-Length body.
func readResponse(br *bufio.Reader, want int) error {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("content-length:")) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
		}
	}
	if n != want {
		return fmt.Errorf("Content-Length %d, want %d", n, want)
	}
	_, err := br.Discard(n)
	return err
}

// startRawBackend answers every request with a fixed body of size bytes.
func startRawBackend(b *testing.B, size int) string { return startRawBackendT(b, size) }

func startRawBackendT(b testing.TB, size int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", size)), bytes.Repeat([]byte("x"), size)...)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// startGateway runs Palisade in front of backend with the access log on
// (written to io.Discard's equivalent: a file would measure the disk).
func startGateway(b *testing.B, backend string) string { return startGatewayT(b, backend) }

func startGatewayT(b testing.TB, backend string) string {
	cfg, err := config.Parse("bench.yaml", []byte(fmt.Sprintf(`
access_log: {output: /dev/null}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, backend)))
	if err != nil {
		b.Fatal(err)
	}
	g := gateway.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.Apply(cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return g.Addr("127.0.0.1:0").String()
}
