package middleware

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"testing"
	"time"

	"palisade/internal/testenv"
)

func TestResponseWriterRecords(t *testing.T) {
	for _, tc := range []struct {
		name        string
		do          func(rw *ResponseWriter)
		wantStatus  int
		wantBytes   int64
		wantWritten bool
		wantCalls   []int // WriteHeader calls reaching the wrapped writer
		wantBody    string
	}{
		{
			name:       "nothing written",
			do:         func(rw *ResponseWriter) {},
			wantStatus: 0,
		},
		{
			name:        "explicit status",
			do:          func(rw *ResponseWriter) { rw.WriteHeader(http.StatusNotFound) },
			wantStatus:  http.StatusNotFound,
			wantWritten: true,
			wantCalls:   []int{http.StatusNotFound},
		},
		{
			name: "body without status is 200",
			do: func(rw *ResponseWriter) {
				rw.Write([]byte("hello"))
				rw.Write([]byte(", world"))
			},
			wantStatus:  http.StatusOK,
			wantBytes:   12,
			wantWritten: true,
			wantCalls:   []int{http.StatusOK},
			wantBody:    "hello, world",
		},
		{
			name: "status then body",
			do: func(rw *ResponseWriter) {
				rw.WriteHeader(http.StatusCreated)
				io.WriteString(rw, "made")
			},
			wantStatus:  http.StatusCreated,
			wantBytes:   4,
			wantWritten: true,
			wantCalls:   []int{http.StatusCreated},
			wantBody:    "made",
		},
		{
			name: "second WriteHeader ignored",
			do: func(rw *ResponseWriter) {
				rw.WriteHeader(http.StatusAccepted)
				rw.WriteHeader(http.StatusInternalServerError)
			},
			wantStatus:  http.StatusAccepted,
			wantWritten: true,
			wantCalls:   []int{http.StatusAccepted},
		},
		{
			name: "1xx passes through unrecorded",
			do: func(rw *ResponseWriter) {
				rw.WriteHeader(http.StatusEarlyHints)
				rw.WriteHeader(http.StatusContinue)
			},
			wantStatus: 0,
			wantCalls:  []int{http.StatusEarlyHints, http.StatusContinue},
		},
		{
			name: "1xx then final status",
			do: func(rw *ResponseWriter) {
				rw.WriteHeader(http.StatusEarlyHints)
				rw.WriteHeader(http.StatusNoContent)
			},
			wantStatus:  http.StatusNoContent,
			wantWritten: true,
			wantCalls:   []int{http.StatusEarlyHints, http.StatusNoContent},
		},
		{
			name:        "101 is final",
			do:          func(rw *ResponseWriter) { rw.WriteHeader(http.StatusSwitchingProtocols) },
			wantStatus:  http.StatusSwitchingProtocols,
			wantWritten: true,
			wantCalls:   []int{http.StatusSwitchingProtocols},
		},
		{
			name: "1xx after final status ignored",
			do: func(rw *ResponseWriter) {
				rw.WriteHeader(http.StatusOK)
				rw.WriteHeader(http.StatusEarlyHints)
			},
			wantStatus:  http.StatusOK,
			wantWritten: true,
			wantCalls:   []int{http.StatusOK},
		},
		{
			name:        "Flush starts a 200 response",
			do:          func(rw *ResponseWriter) { rw.Flush() },
			wantStatus:  http.StatusOK,
			wantWritten: true,
			wantCalls:   []int{http.StatusOK},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := newSpyWriter()
			var rw ResponseWriter
			rw.Reset(spy)
			tc.do(&rw)
			if got := rw.Status(); got != tc.wantStatus {
				t.Errorf("Status() = %d, want %d", got, tc.wantStatus)
			}
			if got := rw.Bytes(); got != tc.wantBytes {
				t.Errorf("Bytes() = %d, want %d", got, tc.wantBytes)
			}
			if got := rw.Written(); got != tc.wantWritten {
				t.Errorf("Written() = %v, want %v", got, tc.wantWritten)
			}
			if !equalInts(spy.writeHeader, tc.wantCalls) {
				t.Errorf("wrapped WriteHeader calls = %v, want %v", spy.writeHeader, tc.wantCalls)
			}
			if got := string(spy.body); got != tc.wantBody {
				t.Errorf("wrapped body = %q, want %q", got, tc.wantBody)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResponseWriterReset(t *testing.T) {
	first, second := newSpyWriter(), newSpyWriter()
	var rw ResponseWriter
	rw.Reset(first)
	rw.WriteHeader(http.StatusTeapot)
	rw.Write([]byte("short and stout"))
	rw.Reset(second)
	if rw.Status() != 0 || rw.Bytes() != 0 || rw.Written() {
		t.Fatalf("after Reset: Status() = %d, Bytes() = %d, Written() = %v; want 0, 0, false", rw.Status(), rw.Bytes(), rw.Written())
	}
	rw.Write([]byte("ok"))
	if len(first.body) != len("short and stout") || string(second.body) != "ok" {
		t.Errorf("after Reset: first body %q, second body %q; want the second write in the second writer only", first.body, second.body)
	}
}

func TestResponseWriterFlush(t *testing.T) {
	spy := newSpyWriter()
	var rw ResponseWriter
	rw.Reset(spy)
	rw.Write([]byte("event: x\n\n"))
	rw.Flush()
	rw.Flush()
	if spy.flushes != 2 {
		t.Errorf("Flush() reached the wrapped writer %d times, want 2", spy.flushes)
	}

	// A wrapped writer that cannot flush: Flush is a no-op, not a panic.
	var plain ResponseWriter
	plain.Reset(struct{ http.ResponseWriter }{httptest.NewRecorder()})
	plain.Flush()
	if got := plain.Status(); got != http.StatusOK {
		t.Errorf("Flush() on a non-Flusher: Status() = %d, want %d", got, http.StatusOK)
	}
}

func TestResponseWriterFlushRealServer(t *testing.T) {
	release := make(chan struct{})
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rw ResponseWriter
		rw.Reset(w)
		io.WriteString(&rw, "first\n")
		rw.Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(&rw, "second\n")
	}))
	c := testenv.Client(t, testenv.H1)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	// The first line must arrive while the handler is still blocked: only a
	// Flush that reached the server's writer sends it.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	close(release)
	if err != nil || line != "first\n" {
		t.Errorf("first flushed line = %q, %v; want %q", line, err, "first\n")
	}
}

func TestResponseWriterEarlyHintsRealServer(t *testing.T) {
	type seen struct {
		status  int
		written bool
	}
	after1xx := make(chan seen, 1)
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rw ResponseWriter
		rw.Reset(w)
		rw.Header().Set("Link", "</app.css>; rel=preload; as=style")
		rw.WriteHeader(http.StatusEarlyHints)
		after1xx <- seen{rw.Status(), rw.Written()}
		rw.WriteHeader(http.StatusOK)
		io.WriteString(&rw, "ok")
	}))

	var got1xx []int
	var link string
	trace := &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got1xx = append(got1xx, code)
			link = h.Get("Link")
			return nil
		},
	}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := testenv.Client(t, testenv.H1).Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	if s := <-after1xx; s.status != 0 || s.written {
		t.Errorf("after WriteHeader(103): Status() = %d, Written() = %v; want 0, false", s.status, s.written)
	}
	if len(got1xx) != 1 || got1xx[0] != http.StatusEarlyHints {
		t.Errorf("client saw 1xx responses %v, want [103]", got1xx)
	}
	if want := "</app.css>; rel=preload; as=style"; link != want {
		t.Errorf("103 Link = %q, want %q", link, want)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("final status = %d, want %d", resp.StatusCode, http.StatusOK)
	}
}

func TestResponseWriterHijackRealServer(t *testing.T) {
	type result struct {
		status  int
		written bool
		err     error
	}
	done := make(chan result, 1)
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rw ResponseWriter
		rw.Reset(w)
		conn, brw, err := http.NewResponseController(&rw).Hijack()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		res := result{status: rw.Status(), written: rw.Written()}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, err := brw.ReadString('\n')
		if err == nil {
			brw.WriteString(line)
			err = brw.Flush()
		}
		res.err = err
		done <- res
	}))

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("ReadResponse: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade status = %d, want %d", resp.StatusCode, http.StatusSwitchingProtocols)
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Errorf("echo over the hijacked connection = %q, %v; want %q", line, err, "ping\n")
	}

	res := <-done
	if res.err != nil {
		t.Fatalf("handler: %v", res.err)
	}
	if res.status != http.StatusSwitchingProtocols || !res.written {
		t.Errorf("after Hijack: Status() = %d, Written() = %v; want %d, true", res.status, res.written, http.StatusSwitchingProtocols)
	}
}

func TestResponseWriterHijackUnsupported(t *testing.T) {
	var rw ResponseWriter
	rw.Reset(httptest.NewRecorder())
	conn, brw, err := rw.Hijack()
	if err == nil || conn != nil || brw != nil {
		t.Errorf("Hijack() on a recorder = %v, %v, %v; want an error", conn, brw, err)
	}
	if rw.Status() != 0 || rw.Written() {
		t.Errorf("failed Hijack: Status() = %d, Written() = %v; want 0, false", rw.Status(), rw.Written())
	}
	if _, _, err := http.NewResponseController(&rw).Hijack(); err == nil {
		t.Errorf("ResponseController.Hijack() on a recorder: err = nil, want an error")
	}
}

func TestResponseWriterUnwrap(t *testing.T) {
	rec := httptest.NewRecorder()
	var rw ResponseWriter
	rw.Reset(rec)
	if got := rw.Unwrap(); got != rec {
		t.Errorf("Unwrap() = %T %p, want the recorder %p", got, got, rec)
	}
	// The recorder has no deadlines: the controller must reach it through
	// Unwrap and report that, rather than stopping at the wrapper.
	if err := http.NewResponseController(&rw).SetWriteDeadline(time.Now()); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("SetWriteDeadline through a recorder = %v, want %v", err, http.ErrNotSupported)
	}
}

func TestResponseWriterResponseControllerRealServer(t *testing.T) {
	errs := make(chan error, 4)
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rw ResponseWriter
		rw.Reset(w)
		rc := http.NewResponseController(&rw)
		errs <- rc.SetReadDeadline(time.Now().Add(time.Minute))
		errs <- rc.SetWriteDeadline(time.Now().Add(time.Minute))
		errs <- rc.EnableFullDuplex()
		io.WriteString(&rw, "ok")
		errs <- rc.Flush()
	}))
	resp, err := testenv.Client(t, testenv.H1).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, name := range []string{"SetReadDeadline", "SetWriteDeadline", "EnableFullDuplex", "Flush"} {
		if err := <-errs; err != nil {
			t.Errorf("ResponseController.%s through ResponseWriter = %v, want nil", name, err)
		}
	}
}
