package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestKeepAlive(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})
	for _, tc := range []struct {
		name, req  string
		wantConn   string // the response's Connection header
		wantClosed bool
	}{
		{"HTTP/1.1 default keeps", "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "", false},
		{"HTTP/1.1 close", "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "close", true},
		{"HTTP/1.0 default closes", "GET /a HTTP/1.0\r\n\r\n", "close", true},
		{"HTTP/1.0 keep-alive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := ts.client(t)
			for i := range 2 {
				cl.send(tc.req)
				resp, body := cl.response(http.MethodGet)
				if resp.StatusCode != 200 || body != "/a" {
					t.Fatalf("response %d: %d %q, want 200 \"/a\"", i, resp.StatusCode, body)
				}
				// ReadResponse turns Connection: close into resp.Close.
				if got := resp.Header.Get("Connection"); resp.Close && got == "" {
					got = "close"
				} else if got != tc.wantConn {
					t.Errorf("Connection = %q, want %q", got, tc.wantConn)
				}
				if resp.Close != tc.wantClosed {
					t.Errorf("response Close = %v, want %v", resp.Close, tc.wantClosed)
				}
				if tc.wantClosed {
					if !cl.closed() {
						t.Errorf("connection open, want closed")
					}
					return
				}
			}
		})
	}
}

func TestPipelining(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
		}
		io.WriteString(w, r.URL.Path+":"+string(b))
	})
	cl := ts.client(t)
	cl.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
		"POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"POST /4 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz")
	for _, want := range []string{"/1:", "/2:hello", "/3:abc", "/4:xyz"} {
		resp, body := cl.response(http.MethodPost)
		if resp.StatusCode != 200 || body != want {
			t.Errorf("response = %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
}

// TestUnreadBodyKeepsConnection: a small body the handler ignores is
// discarded and the connection serves the next request.
func TestUnreadBodyKeepsConnection(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), okHandler)
	cl := ts.client(t)
	for _, req := range []string{
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		cl.send(req)
		resp, body := cl.response(http.MethodGet)
		if resp.StatusCode != 200 || body != "ok" || resp.Close {
			t.Fatalf("response = %d %q close=%v, want 200 \"ok\" kept open", resp.StatusCode, body, resp.Close)
		}
	}
}

// TestLargeUnreadBodyCloses: more than maxDrain left unread closes the
// connection, announced in the response.
func TestLargeUnreadBodyCloses(t *testing.T) {
	o := defaultTestOptions()
	o.MaxBodyBytes = 0
	ts := startServer(t, o, okHandler)
	cl := ts.client(t)
	cl.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\n" + strings.Repeat("x", 1000))
	resp, _ := cl.response(http.MethodPost)
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("response = %d close=%v, want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
}
