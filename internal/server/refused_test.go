package server

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Regression (issue 11, item 8): a request refused before the handler left
// only a debug line, with no request ID for the client to quote.
func TestOnRefused(t *testing.T) {
	var (
		mu  sync.Mutex
		got []RefusedRequest
	)
	o := defaultTestOptions()
	o.MaxHeaderBytes = 1 << 10
	ts := startServerWith(t, o, okHandler, func(s *Server) {
		s.SetOnRefused(func(rr *RefusedRequest) {
			if rr.Request == nil || rr.Request.URL == nil || rr.Request.Context() == nil || rr.Request.RemoteAddr == "" {
				t.Errorf("hook got an incomplete request: %+v", rr.Request)
			}
			mu.Lock()
			c := *rr
			c.Request = nil
			got = append(got, c)
			mu.Unlock()
			rr.RequestID = "rid-" + rr.Reason[:3]
		})
	})
	last := func() RefusedRequest {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return RefusedRequest{}
		}
		return got[len(got)-1]
	}

	for _, tc := range []struct {
		name, raw string
		status    int
		reason    string
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding with Content-Length"},
		{"malformed request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed request line"},
		{"head over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + strings.Repeat("a", 2<<10) + "\r\n\r\n", 431, "head over the byte limit"},
		{"unsupported version", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "unsupported HTTP version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := ts.client(t)
			cl.send(tc.raw)
			resp, _ := cl.response("GET")
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			rr := last()
			if rr.Status != tc.status || rr.Reason != tc.reason {
				t.Errorf("hook got %d %q, want %d %q", rr.Status, rr.Reason, tc.status, tc.reason)
			}
			if id, want := resp.Header.Get("X-Request-Id"), "rid-"+tc.reason[:3]; id != want {
				t.Errorf("X-Request-Id = %q, want %q", id, want)
			}
		})
	}

	t.Run("h2c", func(t *testing.T) {
		req, err := http.NewRequest("GET", "http://"+ts.addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = "/a/../b"
		resp, err := h2cClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("X-Request-Id") != "rid-dot" {
			t.Errorf("status %d, X-Request-Id %q, want 400 and rid-dot", resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
		if rr := last(); rr.Status != 400 || rr.Reason != "dot segment or NUL in path" {
			t.Errorf("hook got %d %q, want 400 for the dot segment", rr.Status, rr.Reason)
		}
	})

	t.Run("head timeout", func(t *testing.T) {
		o := defaultTestOptions()
		o.ReadHeaderTimeout = 100 * time.Millisecond
		var (
			got   RefusedRequest
			urlOK bool
		)
		done := make(chan struct{})
		slow := startServerWith(t, o, okHandler, func(s *Server) {
			s.SetOnRefused(func(rr *RefusedRequest) {
				got, urlOK = *rr, rr.Request.URL != nil
				rr.RequestID = "rid-slow"
				close(done)
			})
		})
		cl := slow.client(t)
		cl.send("GET / HTTP/1.1\r\nHost: a\r\n")
		resp, _ := cl.response("GET")
		<-done
		if resp.StatusCode != 408 || resp.Header.Get("X-Request-Id") != "rid-slow" {
			t.Errorf("status %d, X-Request-Id %q, want 408 and rid-slow", resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
		if got.Status != 408 || got.Reason != "request head timeout" || !urlOK {
			t.Errorf("hook got %d %q (URL set: %v), want 408 request head timeout with a URL", got.Status, got.Reason, urlOK)
		}
	})

	t.Run("served requests skip the hook", func(t *testing.T) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		cl := ts.client(t)
		cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, body := cl.response("GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != n {
			t.Errorf("hook ran for a served request: %+v", got[n:])
		}
	})
}
