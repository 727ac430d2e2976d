package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// testReadTimeout is the read and write timeout of these tests; the
// bounds they check are generous multiples of it.
const testReadTimeout = 300 * time.Millisecond

func bodyTimeouts(proto string) config.Upstream {
	d := config.Duration(testReadTimeout)
	return config.Upstream{Protocol: proto, Timeouts: config.UpstreamTimeouts{Read: d, Write: d}}
}

// stallAfter writes head and then part, and holds the connection open
// without sending more until the proxy closes it.
func stallAfter(head, part string) func(c net.Conn, br *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, head+part)
		io.Copy(io.Discard, c) // until the proxy gives up
	}
}

// fetched is what a client got through the proxy.
type fetched struct {
	resp *http.Response // nil when no response came
	body []byte
	err  error // of the request or of reading the body
	st   *middleware.State
}

// fetchThroughProxy GETs path from a front serving tg, reads the body and
// waits for the handler to return.
func fetchThroughProxy(t *testing.T, tg *Target, path string) fetched {
	t.Helper()
	states := make(chan *middleware.State, 1)
	front, client := newFront(t, withState(New(tg, Options{}, nil), middleware.State{}, states))
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+path, nil)
	var f fetched
	f.resp, f.err = client.Do(req)
	if f.err == nil {
		f.body, f.err = io.ReadAll(f.resp.Body)
		f.resp.Body.Close()
	}
	f.st = <-states
	return f
}

// TestBodyStallAbortsResponse checks the read timeout on HTTP/1.1
// backends: a backend that sends its head and part of its body and then
// stalls gets the client connection aborted (a truncated body, never one
// that looks complete) within a few read timeouts, and the failure is a
// backend timeout. Over h2c the idle timer does the same.
func TestBodyStallAbortsResponse(t *testing.T) {
	for _, tc := range []struct {
		name, proto, head, part string
	}{
		{"content-length", "http1", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "first bytes"},
		{"chunked", "http1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "b\r\nfirst bytes\r\n"},
		{"chunked, stalled in a chunk-size line", "http1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "b\r\nfirst bytes\r\n1"},
		{"until close", "http1", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "first bytes"},
		{"content-length, nothing after the head", "http1", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", ""},
		{"h2c", "h2c", "", "first bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var backend string
			if tc.proto == "h2c" {
				be := newH2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", "1000")
					io.WriteString(w, tc.part)
					w.(http.Flusher).Flush()
					<-r.Context().Done()
				}))
				backend = addr(be)
			} else {
				backend = newRawBackend(t, stallAfter(tc.head, tc.part)).addr()
			}
			start := time.Now()
			f := fetchThroughProxy(t, newTarget(t, bodyTimeouts(tc.proto), backend), "/")
			took := time.Since(start)
			if f.err == nil {
				t.Errorf("the body read as complete (%q) although the backend stalled", f.body)
			}
			// The head reaches the client with the first body bytes;
			// with none, the client sees the connection closed.
			if tc.part != "" {
				if f.resp == nil || f.resp.StatusCode != 200 {
					t.Fatalf("response %v, %v; want the 200 head before the stall", f.resp, f.err)
				}
				if string(f.body) != "first bytes" {
					t.Errorf("body = %q, want the bytes sent before the stall", f.body)
				}
			}
			if !errors.Is(f.st.Err, middleware.ErrBackendTimeout) {
				t.Errorf("State.Err = %v, want a backend timeout", f.st.Err)
			}
			if took > 10*testReadTimeout {
				t.Errorf("the stall was noticed after %v, want within a few times %v", took, testReadTimeout)
			}
		})
	}
}

// TestSteadyBodyIsNotCut checks that the read timeout bounds the gaps of a
// body, not its length: a body that trickles in, a few bytes every 100ms
// for two seconds, arrives whole through a 300ms read timeout, and the
// connection is reused afterwards.
func TestSteadyBodyIsNotCut(t *testing.T) {
	const pieces, piece = 20, "0123456789"
	want := bytes.Repeat([]byte(piece), pieces)
	for _, tc := range []struct{ name, proto string }{
		{"content-length", "http1"},
		{"chunked", "http1"},
		{"h2c", "h2c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := backendFor(t, tc.proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.name != "chunked" {
					w.Header().Set("Content-Length", strconv.Itoa(len(want)))
				}
				for range pieces {
					io.WriteString(w, piece)
					w.(http.Flusher).Flush()
					time.Sleep(100 * time.Millisecond)
				}
			}))
			tg := newTarget(t, bodyTimeouts(tc.proto), addr(be))
			f := fetchThroughProxy(t, tg, "/")
			if f.err != nil || f.resp.StatusCode != 200 || !bytes.Equal(f.body, want) {
				t.Fatalf("got %d bytes, %v (State.Err %v); want 200 with the whole %d-byte body", len(f.body), f.err, f.st.Err, len(want))
			}
			if tc.proto == "http1" {
				if n := h1(t, tg).idleConnsForTest(addr(be)); n != 1 {
					t.Errorf("%d idle connections after the body, want 1 (kept)", n)
				}
			}
		})
	}
}

// TestClientGoneDuringBodyIsNotBackendTimeout checks that a client leaving
// while the proxy waits for body bytes ends the exchange as the client's
// doing (the interrupt moves the read deadline into the past), whether
// the backend stalls or still trickles bytes: never a backend timeout,
// and never taken for progress to wait on.
func TestClientGoneDuringBodyIsNotBackendTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trickle bool
	}{
		{"stalled backend", false},
		{"trickling backend", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes")
				for i := 0; tc.trickle && i < 900; i++ {
					time.Sleep(20 * time.Millisecond)
					if _, err := io.WriteString(c, "x"); err != nil {
						return
					}
				}
				io.Copy(io.Discard, c)
			})
			up := config.Upstream{Timeouts: config.UpstreamTimeouts{Read: config.Duration(10 * time.Second)}}
			if tc.trickle {
				up.Timeouts.Read = config.Duration(50 * time.Millisecond)
			}
			states := make(chan *middleware.State, 1)
			front, _ := newFront(t, withState(New(newTarget(t, up, be.addr()), Options{}, nil), middleware.State{}, states))
			conn, err := net.Dial("tcp", front.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(conn)
			if _, err := http.ReadResponse(br, nil); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			left := time.Now()
			conn.Close()
			select {
			case st := <-states:
				if errors.Is(st.Err, middleware.ErrBackendTimeout) || middleware.StatusFor(st.Err) != middleware.StatusClientClosed {
					t.Errorf("State.Err = %v (status %d), want the client gone (499)", st.Err, middleware.StatusFor(st.Err))
				}
				if d := time.Since(left); d > 5*time.Second {
					t.Errorf("the exchange ended %v after the client left", d)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the exchange did not end after the client left")
			}
		})
	}
}

// TestWriteStallIs504 checks the write timeout: a backend that never reads
// a large request body gets the request answered 504 within a few write
// timeouts, on HTTP/1.1 and h2c backends, and a backend that reads slowly
// but steadily gets the whole body.
func TestWriteStallIs504(t *testing.T) {
	const size = 16 << 20
	body := bytes.Repeat([]byte("u"), size)
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto+" not reading", func(t *testing.T) {
			var backend string
			if proto == "h2c" {
				// A reset stream ends the handler.
				backend = addr(newH2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					<-r.Context().Done()
				})))
			} else {
				// Not reading, it cannot see the proxy close: it waits
				// for the end of the test.
				done := make(chan struct{})
				backend = newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
					http.ReadRequest(br)
					<-done
				}).addr()
				t.Cleanup(func() { close(done) })
			}
			h := New(newTarget(t, bodyTimeouts(proto), backend), Options{}, nil)
			req := httptest.NewRequestWithContext(testContext(t), "POST", "/upload", bytes.NewReader(body))
			var st middleware.State
			start := time.Now()
			rec := serveDirect(h, req, &st)
			if rec.Code != http.StatusGatewayTimeout || !errors.Is(st.Err, middleware.ErrBackendTimeout) {
				t.Errorf("status %d, State.Err %v; want 504 and a backend timeout", rec.Code, st.Err)
			}
			if took := time.Since(start); took > 10*testReadTimeout {
				t.Errorf("answered after %v, want within a few times %v", took, testReadTimeout)
			}
		})
		t.Run(proto+" reading slowly", func(t *testing.T) {
			be := backendFor(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				buf := make([]byte, 1<<20)
				n := 0
				for {
					m, err := io.ReadFull(r.Body, buf)
					n += m
					if err != nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				fmt.Fprint(w, n)
			}))
			h := New(newTarget(t, bodyTimeouts(proto), addr(be)), Options{}, nil)
			req := httptest.NewRequestWithContext(testContext(t), "POST", "/upload", bytes.NewReader(body))
			var st middleware.State
			rec := serveDirect(h, req, &st)
			if rec.Code != 200 || rec.Body.String() != strconv.Itoa(size) {
				t.Errorf("status %d, body %q, State.Err %v; want 200 and the backend having read %d bytes", rec.Code, rec.Body, st.Err, size)
			}
		})
	}
}

// TestIdleConnHasNoDeadline checks that a connection goes back to the pool
// without the body's read deadline: an expired one would fail the next
// exchange that sets none (no response header timeout, no client to
// watch) and the liveness probe of a connection idle for a while.
func TestIdleConnHasNoDeadline(t *testing.T) {
	big := bytes.Repeat([]byte("b"), 200<<10)
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
			return
		}
		io.WriteString(w, "small")
	}))
	up := config.Upstream{Timeouts: config.UpstreamTimeouts{Read: config.Duration(50 * time.Millisecond)}}
	tg := newTarget(t, up, addr(be))
	tr := h1(t, tg)
	tr.noWatch, tr.probeAfter = true, 0 // the fallback probe, on every reuse
	h := New(tg, Options{}, nil)
	for i, path := range []string{"/big", "/small", "/big", "/small"} {
		rec := serveDirect(h, httptest.NewRequestWithContext(context.Background(), "GET", path, nil), nil)
		if rec.Code != 200 {
			t.Fatalf("request %d (%s) = %d", i, path, rec.Code)
		}
		time.Sleep(100 * time.Millisecond) // past any deadline left behind
	}
	if n := tr.idleConnsForTest(addr(be)); n != 1 {
		t.Errorf("%d idle connections, want the one connection kept throughout", n)
	}
	if n := tr.StaleRetries(); n != 0 {
		t.Errorf("%d stale retries, want none: a deadline outlived its exchange", n)
	}
}

// TestH2CWriteStallOnLastPiece checks the write timeout on the last piece
// of an h2c request body. Regression: the write timer stopped at the Read
// that reported the body's end, but http.Transport sends the last piece
// after that Read (with a Content-Length it even reads once more to see
// the end before sending it), so a backend that stopped reading just
// before the last piece held the exchange until the client left. The
// backend's flow-control window is 64 KiB and the body's last piece (the
// transport reads at most 16 KiB at a time on a new connection) is the
// one past it. A backend that takes the whole body and answers late is
// still answered: the timer ends once the request is written.
func TestH2CWriteStallOnLastPiece(t *testing.T) {
	const window = 64 << 10
	for _, tc := range []struct {
		name    string
		size    int
		reading bool // the backend reads the whole body, then answers late
	}{
		{"past the window, not reading", window + 8<<10, false},
		{"past the window, reading, late answer", window + 8<<10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tc.reading {
					<-r.Context().Done()
					return
				}
				n, _ := io.Copy(io.Discard, r.Body)
				time.Sleep(3 * testReadTimeout)
				fmt.Fprint(w, n)
			}))
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Config.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: window, MaxReceiveBufferPerStream: window}
			srv.Start()
			t.Cleanup(srv.Close)
			h := New(newTarget(t, bodyTimeouts("h2c"), addr(srv)), Options{}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, "POST", "/upload", bytes.NewReader(make([]byte, tc.size)))
			var st middleware.State
			start := time.Now()
			rec := serveDirect(h, req, &st)
			took := time.Since(start)
			if tc.reading {
				if rec.Code != 200 || rec.Body.String() != strconv.Itoa(tc.size) {
					t.Errorf("status %d, body %q, State.Err %v; want 200 and the backend having read %d bytes", rec.Code, rec.Body, st.Err, tc.size)
				}
				return
			}
			if rec.Code != http.StatusGatewayTimeout || !errors.Is(st.Err, middleware.ErrBackendTimeout) {
				t.Errorf("status %d after %v, State.Err %v; want 504 and a backend timeout", rec.Code, took, st.Err)
			}
			if took > 10*testReadTimeout {
				t.Errorf("answered after %v, want within a few times %v", took, testReadTimeout)
			}
		})
	}
}
