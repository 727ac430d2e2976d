// Command backend is the origin server bench/compare puts behind every proxy
// under test. It answers fixed bodies over HTTP/1.1 keep-alive and costs as
// little CPU per request as it can, so that, sharing a core with the load
// generator, it is not what limits the proxy being measured.
//
//	GET /small  100-byte body
//	GET /64k    65536-byte body
//	GET /json   a 64 KiB JSON list of user records (bench/apibody's "api"
//	            body, application/json), for bench/compare compress
//	GET /cache/1k, /cache/64k
//	            1024- and 65536-byte bodies with Cache-Control: public,
//	            max-age=3600 and a strong ETag, for bench/compare cache
//	GET /_count the number of requests answered so far, this one not
//	            included, as a decimal line (bench/compare cache reads it
//	            directly, not through the proxy, to see whether the proxy
//	            answered from its cache)
//	anything else: 404
//
// It parses only as far as framing needs (request line, Content-Length);
// it is a measuring stick, not a server to copy.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync/atomic"

	"palisade/bench/apibody"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18900", "listen address (loopback only)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	small := bytes.Repeat([]byte("."), 100)
	copy(small, "Hello from the bench backend: a small body for requests-per-second tests.")
	small[99] = '\n'
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	responses := map[string][]byte{
		"/small":     response(200, "text/plain", small),
		"/64k":       response(200, "text/plain", big),
		"/json":      response(200, "application/json", apibody.JSON(64<<10, false)),
		"/cache/1k":  cacheable(big[:1<<10], `"1k-v1"`),
		"/cache/64k": cacheable(big, `"64k-v1"`),
	}
	notFound := response(404, "text/plain", []byte("not found\n"))
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, responses, notFound)
	}
}

func response(status int, contentType string, body []byte) []byte {
	head := fmt.Sprintf("HTTP/1.1 %d OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", status, contentType, len(body))
	return append([]byte(head), body...)
}

// cacheable is a 200 that every shared cache may store for an hour.
func cacheable(body []byte, etag string) []byte {
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: public, max-age=3600\r\n"+
		"ETag: %s\r\nContent-Length: %d\r\n\r\n", etag, len(body))
	return append([]byte(head), body...)
}

// served counts the requests answered, /_count excluded.
var served atomic.Int64

func serve(c net.Conn, responses map[string][]byte, notFound []byte) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 16<<10)
	w := bufio.NewWriterSize(c, 16<<10)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		var path string
		if f := bytes.Fields(line); len(f) == 3 {
			path = string(f[1])
		}
		length := int64(0)
		for {
			h, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(h) <= 2 {
				break
			}
			if len(h) > 15 && bytes.EqualFold(h[:15], []byte("content-length:")) {
				length, _ = strconv.ParseInt(string(bytes.TrimSpace(h[15:])), 10, 64)
			}
		}
		if length > 0 {
			if _, err := io.CopyN(io.Discard, r, length); err != nil {
				return
			}
		}
		if path == "/_count" {
			n := strconv.AppendInt(nil, served.Load(), 10)
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nContent-Length: %d\r\n\r\n%s\n", len(n)+1, n)
		} else {
			served.Add(1)
			resp, ok := responses[path]
			if !ok {
				resp = notFound
			}
			w.Write(resp)
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}
