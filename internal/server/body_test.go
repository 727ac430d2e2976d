package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"palisade/internal/middleware"
)

// echoBody answers with the body it read, or with middleware's status for
// the read error.
func echoBody(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		middleware.WriteError(w, r, middleware.StatusFor(err), err)
		return
	}
	w.Write(b)
}

func TestChunkedRequestBody(t *testing.T) {
	type result struct {
		body           string
		declaredBefore http.Header
		trailerAfter   http.Header
	}
	got := make(chan result, 1)
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		before := r.Trailer.Clone()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("ReadAll: %v", err)
		}
		got <- result{string(b), before, r.Trailer.Clone()}
		if r.ContentLength != -1 || len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
			t.Errorf("ContentLength %d, TransferEncoding %q; want -1 and [chunked]", r.ContentLength, r.TransferEncoding)
		}
		if _, ok := r.Header["Transfer-Encoding"]; ok {
			t.Errorf("Transfer-Encoding left in the Header map")
		}
	})
	cl := ts.client(t)
	cl.send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, X-Other\r\n\r\n" +
		"5\r\nhello\r\n" +
		"1;name=val;q=\"a \\\"b\\\"\"\r\n \r\n" +
		"00000A ; ext\r\n0123456789\r\n" +
		"0\r\nX-Sum: 42\r\nX-Undeclared: yes\r\n\r\n")
	resp, _ := cl.response(http.MethodPost)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	r := <-got
	if r.body != "hello 0123456789" {
		t.Errorf("body = %q, want %q", r.body, "hello 0123456789")
	}
	if _, ok := r.declaredBefore["X-Sum"]; !ok || len(r.declaredBefore) != 2 || r.declaredBefore["X-Sum"] != nil {
		t.Errorf("Trailer before reading = %v, want declared keys X-Sum, X-Other with nil values", r.declaredBefore)
	}
	if r.trailerAfter.Get("X-Sum") != "42" || r.trailerAfter.Get("X-Undeclared") != "yes" {
		t.Errorf("Trailer after EOF = %v, want X-Sum: 42 and X-Undeclared: yes", r.trailerAfter)
	}
}

func TestMalformedChunkedBody(t *testing.T) {
	o := defaultTestOptions()
	o.MaxHeaderBytes = 1024
	ts := startServer(t, o, echoBody)
	const head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct{ name, body string }{
		{"bare LF after size", "5\nhello\r\n0\r\n\r\n"},
		{"CR alone after size", "5\rhello\r\n0\r\n\r\n"},
		{"no CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n"},
		{"missing size", "\r\nhello\r\n0\r\n\r\n"},
		{"non-hex size", "g\r\nhello\r\n0\r\n\r\n"},
		{"17 hex digits", "00000000000000005\r\nhello\r\n0\r\n\r\n"},
		{"size overflows int64", "8000000000000000\r\nhello\r\n0\r\n\r\n"},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n"},
		{"space inside size", "5 5\r\nhello\r\n0\r\n\r\n"},
		{"extension too long", "5;a=" + strings.Repeat("b", 5000) + "\r\nhello\r\n0\r\n\r\n"},
		{"extension with control byte", "5;a\x01\r\nhello\r\n0\r\n\r\n"},
		{"extension name missing", "5;=x\r\nhello\r\n0\r\n\r\n"},
		{"bare LF in trailer", "0\r\nX: y\n\r\n"},
		{"obs-fold in trailer", "0\r\nX: y\r\n z\r\n\r\n"},
		{"forbidden trailer field", "0\r\nContent-Length: 5\r\n\r\n"},
		{"trailer section too large", "0\r\nX: " + strings.Repeat("y", 2000) + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := ts.client(t)
			cl.send(head + tc.body)
			resp, _ := cl.response(http.MethodPost)
			if resp.StatusCode != 400 {
				t.Errorf("status = %d, want 400", resp.StatusCode)
			}
			if !cl.closed() {
				t.Errorf("connection open after a malformed body, want closed")
			}
		})
	}
}

func TestChunkedBodyOverLimit(t *testing.T) {
	o := defaultTestOptions()
	o.MaxBodyBytes = 10
	errc := make(chan error, 1)
	ts := startServer(t, o, func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errc <- err
		middleware.WriteError(w, r, middleware.StatusFor(err), err)
	})
	cl := ts.client(t)
	cl.send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n")
	resp, _ := cl.response(http.MethodPost)
	var mbe *http.MaxBytesError
	if err := <-errc; !errors.As(err, &mbe) || mbe.Limit != 10 {
		t.Errorf("Read error = %v, want *http.MaxBytesError{Limit: 10}", err)
	}
	if resp.StatusCode != 413 {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
}

func TestExpectContinue(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		echoBody(w, r)
	})
	t.Run("read", func(t *testing.T) {
		cl := ts.client(t)
		cl.send("POST /read HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, _ := cl.response(http.MethodPost)
		if resp.StatusCode != 100 {
			t.Fatalf("first response %d, want 100", resp.StatusCode)
		}
		cl.send("hello")
		resp, body := cl.response(http.MethodPost)
		if resp.StatusCode != 200 || body != "hello" {
			t.Errorf("response = %d %q, want 200 \"hello\"", resp.StatusCode, body)
		}
	})
	t.Run("not read", func(t *testing.T) {
		cl := ts.client(t)
		cl.send("POST /ignore HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		resp, _ := cl.response(http.MethodPost)
		if resp.StatusCode != 403 {
			t.Fatalf("response %d, want 403 without 100 first", resp.StatusCode)
		}
		if !resp.Close || !cl.closed() {
			t.Errorf("connection kept although the body was never asked for")
		}
	})
	t.Run("net/http client", func(t *testing.T) {
		tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("POST", "http://"+ts.addr+"/read", strings.NewReader("body"))
		req.Header.Set("Expect", "100-continue")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body" {
			t.Errorf("body = %q, want \"body\"", b)
		}
	})
}

func TestSlowBody(t *testing.T) {
	o := defaultTestOptions()
	o.ReadBodyTimeout = 150 * time.Millisecond
	errc := make(chan error, 1)
	ts := startServer(t, o, func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errc <- err
		middleware.WriteError(w, r, middleware.StatusFor(err), err)
	})
	cl := ts.client(t)
	cl.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
	err := <-errc
	if !errors.Is(err, middleware.ErrRequestBody) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read error = %v, want ErrRequestBody and os.ErrDeadlineExceeded", err)
	}
	resp, _ := cl.response(http.MethodPost)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status = %d, want 408", resp.StatusCode)
	}
}

func TestClientGoneMidBody(t *testing.T) {
	errc := make(chan error, 1)
	ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errc <- err
		if r.Context().Err() == nil {
			t.Errorf("request context alive after the client went away")
		}
	})
	cl := ts.client(t)
	cl.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
	cl.c.Close()
	err := <-errc
	if !errors.Is(err, middleware.ErrRequestBody) || !errors.Is(err, middleware.ErrClientGone) {
		t.Errorf("Read error = %v, want ErrRequestBody and ErrClientGone", err)
	}
}
