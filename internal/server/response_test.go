package server

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestResponseFraming(t *testing.T) {
	big := strings.Repeat("x", 10000)
	for _, tc := range []struct {
		name, req string
		handler   http.HandlerFunc
		method    string
		status    int
		body      string
		clen      int64 // -1: none
		chunked   bool
		closed    bool
		check     func(t *testing.T, resp *http.Response)
	}{
		{
			name:    "small body gets Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") },
			status:  200, body: "hello", clen: 5,
		},
		{
			name:    "empty response gets Content-Length 0",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			status:  200, body: "", clen: 0,
		},
		{
			name: "handler Content-Length kept",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10000")
				w.WriteHeader(201)
				w.Write([]byte(big))
			},
			status: 201, body: big, clen: 10000,
		},
		{
			name:    "large body is chunked",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)); w.Write([]byte("y")) },
			status:  200, body: big + "y", clen: -1, chunked: true,
		},
		{
			name: "flush makes it chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				io.WriteString(w, "b")
			},
			status: 200, body: "ab", clen: -1, chunked: true,
		},
		{
			name:    "HTTP/1.0 streaming is close-delimited",
			req:     "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)) },
			status:  200, body: big, clen: -1, closed: true,
		},
		{
			name:    "HTTP/1.0 small body keeps the connection",
			req:     "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") },
			status:  200, body: "hi", clen: 2,
		},
		{
			name:    "HEAD gets the length of what the handler wrote",
			method:  "HEAD",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") },
			status:  200, body: "", clen: 5,
		},
		{
			name:   "HEAD keeps the handler's Content-Length",
			method: "HEAD",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1234")
			},
			status: 200, body: "", clen: 1234,
		},
		{
			name: "204 has no body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5")
				w.WriteHeader(204)
				if _, err := w.Write([]byte("hello")); !errors.Is(err, http.ErrBodyNotAllowed) {
					t.Errorf("Write after 204 = %v, want ErrBodyNotAllowed", err)
				}
			},
			status: 204, body: "", clen: -1,
			check: func(t *testing.T, resp *http.Response) {
				if _, ok := resp.Header["Content-Length"]; ok {
					t.Errorf("204 with Content-Length")
				}
			},
		},
		{
			name: "304 has no body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(304)
				w.Write([]byte("hello"))
			},
			status: 304, body: "", clen: -1,
		},
		{
			name: "handler Transfer-Encoding ignored, Connection close honoured",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Transfer-Encoding", "gzip")
				w.Header().Set("Connection", "close")
				io.WriteString(w, "x")
			},
			status: 200, body: "x", clen: 1, closed: true,
		},
		{
			name: "writing past Content-Length fails",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "3")
				io.WriteString(w, "abc")
				if _, err := io.WriteString(w, "d"); !errors.Is(err, http.ErrContentLength) {
					t.Errorf("Write past Content-Length = %v, want ErrContentLength", err)
				}
			},
			status: 200, body: "abc", clen: 3,
		},
		{
			name: "CR LF in a value cannot split the response",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Evil", "a\r\nSet-Cookie: x=1")
			},
			status: 200, clen: 0,
			check: func(t *testing.T, resp *http.Response) {
				if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Evil") != "a  Set-Cookie: x=1" {
					t.Errorf("header = %v, want X-Evil with spaces and no Set-Cookie", resp.Header)
				}
			},
		},
		{
			name:    "Date added, no Server",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			status:  200, clen: 0,
			check: func(t *testing.T, resp *http.Response) {
				if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
					t.Errorf("Date = %q: %v", resp.Header.Get("Date"), err)
				}
				if resp.Header.Get("Server") != "" {
					t.Errorf("Server header sent")
				}
			},
		},
		{
			name: "trailers both ways",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Declared")
				w.WriteHeader(200)
				io.WriteString(w, "body")
				w.Header().Set("X-Declared", "1")
				w.Header().Set(http.TrailerPrefix+"X-Late", "2")
			},
			status: 200, body: "body", clen: -1, chunked: true,
			check: func(t *testing.T, resp *http.Response) {
				if resp.Trailer.Get("X-Declared") != "1" || resp.Trailer.Get("X-Late") != "2" {
					t.Errorf("Trailer = %v, want X-Declared: 1 and X-Late: 2", resp.Trailer)
				}
			},
		},
		{
			name: "TrailerPrefix alone forces chunking",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "body")
				w.Header().Set(http.TrailerPrefix+"X-Sum", "3")
			},
			status: 200, body: "body", clen: -1, chunked: true,
			check: func(t *testing.T, resp *http.Response) {
				if resp.Trailer.Get("X-Sum") != "3" {
					t.Errorf("Trailer = %v, want X-Sum: 3", resp.Trailer)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, defaultTestOptions(), tc.handler)
			method := tc.method
			if method == "" {
				method = "GET"
			}
			req := tc.req
			if req == "" {
				req = method + " / HTTP/1.1\r\nHost: h\r\n\r\n"
			}
			cl := ts.client(t)
			cl.send(req)
			resp, body := cl.response(method)
			if resp.StatusCode != tc.status || body != tc.body {
				t.Errorf("response = %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			clen := int64(-1)
			if v := resp.Header.Get("Content-Length"); v != "" {
				clen, _ = strconv.ParseInt(v, 10, 64)
			}
			if clen != tc.clen {
				t.Errorf("Content-Length = %d, want %d", clen, tc.clen)
			}
			if chunked := len(resp.TransferEncoding) > 0; chunked != tc.chunked {
				t.Errorf("chunked = %v, want %v", chunked, tc.chunked)
			}
			if closed := cl.closed(); closed != tc.closed {
				t.Errorf("connection closed = %v, want %v", closed, tc.closed)
			}
			if tc.check != nil {
				tc.check(t, resp)
			}
		})
	}
}

// TestShortContentLengthCloses: a handler that declares more than it writes
// leaves the client waiting; closing is the only way to end the body.
func TestShortContentLengthCloses(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
	})
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if string(b) != "abc" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body = %q, %v; want \"abc\" then unexpected EOF", b, err)
	}
}

func TestInformationalResponses(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Add("Link", "</b.js>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "done")
	})
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	for i, want := range []int{1, 2} {
		resp, _ := cl.response("GET")
		if resp.StatusCode != 103 || len(resp.Header["Link"]) != want {
			t.Errorf("response %d = %d with Link %q, want 103 with %d Link values", i, resp.StatusCode, resp.Header["Link"], want)
		}
	}
	resp, body := cl.response("GET")
	if resp.StatusCode != 200 || body != "done" || resp.Header.Get("Link") != "" {
		t.Errorf("final = %d %q Link %q, want 200 \"done\" without Link", resp.StatusCode, body, resp.Header.Get("Link"))
	}
}

// TestFlushStreams: flushed bytes reach the client while the handler is
// still running.
func TestFlushStreams(t *testing.T) {
	proceed := make(chan struct{})
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		<-proceed
		io.WriteString(w, "second")
	})
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first bytes = %q, %v; want \"first\" before the handler returns", buf, err)
	}
	close(proceed)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Errorf("rest = %q, want \"second\"", rest)
	}
}

func TestHijack(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		if n := brw.Reader.Buffered(); n != 4 {
			t.Errorf("Buffered() = %d, want the 4 bytes sent with the head", n)
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 4)
		for range 2 {
			if _, err := io.ReadFull(brw, buf); err != nil {
				t.Errorf("reading hijacked conn: %v", err)
				return
			}
			c.Write(buf)
		}
	})
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nPING")
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("ReadResponse = %v, %v; want 101", resp, err)
	}
	got := make([]byte, 4)
	io.ReadFull(cl.br, got)
	cl.send("MORE")
	got2 := make([]byte, 4)
	io.ReadFull(cl.br, got2)
	if string(got) != "PING" || string(got2) != "MORE" {
		t.Errorf("echo = %q %q, want \"PING\" \"MORE\"", got, got2)
	}
}

func TestHandlerPanic(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abort":
			io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		case "/panic":
			panic("boom")
		}
		io.WriteString(w, "ok")
	})
	t.Run("panic gets 500", func(t *testing.T) {
		cl := ts.client(t)
		cl.send("GET /panic HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, _ := cl.response("GET")
		if resp.StatusCode != 500 || !cl.closed() {
			t.Errorf("status = %d, want 500 and the connection closed", resp.StatusCode)
		}
	})
	t.Run("abort closes silently", func(t *testing.T) {
		cl := ts.client(t)
		cl.send("GET /abort HTTP/1.1\r\nHost: h\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(cl.c), nil); err == nil {
			t.Errorf("got a response, want the connection closed without one")
		}
	})
	t.Run("server keeps running", func(t *testing.T) {
		cl := ts.client(t)
		cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := cl.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("response = %d %q, want 200 \"ok\"", resp.StatusCode, body)
		}
	})
}
