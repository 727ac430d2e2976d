// Command idleconns opens N keep-alive connections to a proxy, makes one
// request on each, and then keeps them all idle until it is told to stop
// (SIGTERM or stdin closing). bench/compare uses it to measure memory per
// idle client connection: the proxy's RSS before and after, divided by N.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18901", "proxy address (loopback only)")
	n := flag.Int("n", 10000, "connections")
	path := flag.String("path", "/small", "request path")
	flag.Parse()

	conns := make([]net.Conn, 0, *n)
	for i := range *n {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			log.Fatalf("connection %d: %v", i, err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", *path)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			log.Fatalf("connection %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conns = append(conns, c)
	}
	fmt.Println("ready", len(conns))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { io.Copy(io.Discard, os.Stdin); sig <- syscall.SIGTERM }()
	<-sig
	for _, c := range conns {
		c.Close()
	}
}
