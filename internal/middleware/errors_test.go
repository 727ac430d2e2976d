package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
)

// netErr is a net.Error whose Timeout answer the test chooses.
type netErr struct{ timeout bool }

func (e netErr) Error() string   { return fmt.Sprintf("net error (timeout %v)", e.timeout) }
func (e netErr) Timeout() bool   { return e.timeout }
func (e netErr) Temporary() bool { return false }

var _ net.Error = netErr{}

// multiErr wraps several errors the way the proxy's body errors do.
type multiErr []error

func (m multiErr) Error() string   { return "multi" }
func (m multiErr) Unwrap() []error { return m }

func TestStatusFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"body over the limit", &http.MaxBytesError{Limit: 10}, http.StatusRequestEntityTooLarge},
		{"body over the limit, wrapped", fmt.Errorf("copy: %w", &http.MaxBytesError{Limit: 10}), http.StatusRequestEntityTooLarge},
		{"body over the limit inside ErrRequestBody", multiErr{ErrRequestBody, &http.MaxBytesError{Limit: 10}}, http.StatusRequestEntityTooLarge},
		{"body read deadline", multiErr{ErrRequestBody, os.ErrDeadlineExceeded}, http.StatusRequestTimeout},
		{"body read deadline in a net.OpError", multiErr{ErrRequestBody, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}, http.StatusRequestTimeout},
		{"body read, client gone", multiErr{ErrRequestBody, ErrClientGone}, StatusClientClosed},
		{"body read, client gone, wrapped", fmt.Errorf("forward: %w", multiErr{ErrRequestBody, fmt.Errorf("eof: %w", ErrClientGone)}), StatusClientClosed},
		{"body malformed", multiErr{ErrRequestBody, errors.New("malformed chunked encoding")}, http.StatusBadRequest},
		{"body error alone", ErrRequestBody, http.StatusBadRequest},
		{"body error wrapped with %w", fmt.Errorf("%w: unexpected EOF", ErrRequestBody), http.StatusBadRequest},
		{"no backend", ErrNoBackend, http.StatusServiceUnavailable},
		{"no backend, wrapped", fmt.Errorf("upstream %q: %w", "app", ErrNoBackend), http.StatusServiceUnavailable},
		{"backend timeout", ErrBackendTimeout, http.StatusGatewayTimeout},
		{"backend timeout, wrapped", fmt.Errorf("response header: %w", ErrBackendTimeout), http.StatusGatewayTimeout},
		{"context deadline", context.DeadlineExceeded, http.StatusGatewayTimeout},
		{"context deadline, wrapped", fmt.Errorf("dial: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{"os deadline", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, http.StatusGatewayTimeout},
		{"net.Error timeout", netErr{timeout: true}, http.StatusGatewayTimeout},
		{"net.Error timeout, wrapped", fmt.Errorf("dial: %w", netErr{timeout: true}), http.StatusGatewayTimeout},
		{"net.Error without timeout", netErr{timeout: false}, http.StatusBadGateway},
		{"client gone", ErrClientGone, StatusClientClosed},
		{"context canceled", context.Canceled, StatusClientClosed},
		{"context canceled, wrapped", fmt.Errorf("round trip: %w", context.Canceled), StatusClientClosed},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, http.StatusBadGateway},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, http.StatusBadGateway},
		{"unexpected EOF", io.ErrUnexpectedEOF, http.StatusBadGateway},
		{"other error", errors.New("malformed response"), http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatusFor(tc.err); got != tc.want {
				t.Errorf("StatusFor(%q) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

// spyWriter is an http.ResponseWriter that records every call.
type spyWriter struct {
	header      http.Header
	writeHeader []int
	body        []byte
	flushes     int
}

func newSpyWriter() *spyWriter { return &spyWriter{header: make(http.Header)} }

func (w *spyWriter) Header() http.Header { return w.header }
func (w *spyWriter) WriteHeader(code int) {
	w.writeHeader = append(w.writeHeader, code)
}
func (w *spyWriter) Write(p []byte) (int, error) {
	w.body = append(w.body, p...)
	return len(p), nil
}
func (w *spyWriter) Flush() { w.flushes++ }

// requestWithState returns a request whose context carries st.
func requestWithState(method string, st *State) *http.Request {
	r := httptest.NewRequest(method, "http://example.com/x", nil)
	if st != nil {
		r = r.WithContext(WithState(r.Context(), st))
	}
	return r
}

func TestWriteError(t *testing.T) {
	backendErr := errors.New("dial tcp 10.1.2.3:8080: connection refused")
	for _, tc := range []struct {
		name   string
		method string
		status int
		want   string // body
	}{
		{"bad gateway", http.MethodGet, http.StatusBadGateway, "Bad Gateway\n"},
		{"service unavailable", http.MethodPost, http.StatusServiceUnavailable, "Service Unavailable\n"},
		{"gateway timeout", http.MethodGet, http.StatusGatewayTimeout, "Gateway Timeout\n"},
		{"payload too large", http.MethodPut, http.StatusRequestEntityTooLarge, "Request Entity Too Large\n"},
		{"HEAD has no body", http.MethodHead, http.StatusBadGateway, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &State{ID: "0123456789abcdef"}
			r := requestWithState(tc.method, st)
			rec := httptest.NewRecorder()
			// Headers a backend or a feature set before the failure must
			// not leak into the error response.
			rec.Header().Set("Server", "backend/1.0")
			rec.Header().Set("Content-Length", "12345")
			rec.Header().Set("Location", "http://10.1.2.3:8080/")

			WriteError(rec, r, tc.status, backendErr)

			if rec.Code != tc.status {
				t.Errorf("WriteError(%d) status = %d, want %d", tc.status, rec.Code, tc.status)
			}
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("WriteError(%d) body = %q, want %q", tc.status, got, tc.want)
			}
			for name, want := range map[string]string{
				"Content-Type":           "text/plain; charset=utf-8",
				"X-Content-Type-Options": "nosniff",
				"Cache-Control":          "no-store",
				"X-Request-Id":           "0123456789abcdef",
				"Server":                 "",
				"Content-Length":         "",
				"Location":               "",
			} {
				if got := rec.Header().Get(name); got != want {
					t.Errorf("WriteError(%d) header %s = %q, want %q", tc.status, name, got, want)
				}
			}
			if st.Err != backendErr {
				t.Errorf("WriteError(%d) State.Err = %v, want %v", tc.status, st.Err, backendErr)
			}
		})
	}
}

func TestWriteErrorWithoutState(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, requestWithState(http.MethodGet, nil), http.StatusBadGateway, errors.New("boom"))
	if rec.Code != http.StatusBadGateway {
		t.Errorf("WriteError without State: status = %d, want %d", rec.Code, http.StatusBadGateway)
	}
	if got, ok := rec.Header()["X-Request-Id"]; ok {
		t.Errorf("WriteError without State: X-Request-Id = %q, want none", got)
	}
	if got, want := rec.Body.String(), "Bad Gateway\n"; got != want {
		t.Errorf("WriteError without State: body = %q, want %q", got, want)
	}
}

func TestWriteErrorNilErrKeepsRecordedErr(t *testing.T) {
	first := errors.New("first failure")
	st := &State{Err: first}
	WriteError(httptest.NewRecorder(), requestWithState(http.MethodGet, st), http.StatusBadGateway, nil)
	if st.Err != first {
		t.Errorf("WriteError(nil err) State.Err = %v, want %v kept", st.Err, first)
	}
}

func TestWriteErrorClientClosedWritesNothing(t *testing.T) {
	t.Run("plain writer", func(t *testing.T) {
		st := &State{ID: "id"}
		w := newSpyWriter()
		WriteError(w, requestWithState(http.MethodGet, st), StatusClientClosed, context.Canceled)
		if len(w.writeHeader) != 0 || len(w.body) != 0 || len(w.header) != 0 {
			t.Errorf("WriteError(499) wrote status %v, body %q, header %v; want nothing", w.writeHeader, w.body, w.header)
		}
		if st.Err != context.Canceled {
			t.Errorf("WriteError(499) State.Err = %v, want %v", st.Err, context.Canceled)
		}
	})
	t.Run("ResponseWriter records 499", func(t *testing.T) {
		st := &State{ID: "id"}
		spy := newSpyWriter()
		var rw ResponseWriter
		rw.Reset(spy)
		WriteError(&rw, requestWithState(http.MethodGet, st), StatusClientClosed, ErrClientGone)
		if len(spy.writeHeader) != 0 || len(spy.body) != 0 || len(spy.header) != 0 {
			t.Errorf("WriteError(499) wrote status %v, body %q, header %v; want nothing", spy.writeHeader, spy.body, spy.header)
		}
		if got := rw.Status(); got != StatusClientClosed {
			t.Errorf("WriteError(499) ResponseWriter.Status() = %d, want %d", got, StatusClientClosed)
		}
		if rw.Written() {
			t.Errorf("WriteError(499) ResponseWriter.Written() = true, want false")
		}
		if st.Err != ErrClientGone {
			t.Errorf("WriteError(499) State.Err = %v, want %v", st.Err, ErrClientGone)
		}
	})
}

func TestWriteErrorAfterResponseStarted(t *testing.T) {
	st := &State{ID: "id"}
	spy := newSpyWriter()
	var rw ResponseWriter
	rw.Reset(spy)
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusOK)
	rw.Write([]byte(`{"partial":`))

	failure := errors.New("backend reset")
	WriteError(&rw, requestWithState(http.MethodGet, st), http.StatusBadGateway, failure)

	if want := []int{http.StatusOK}; len(spy.writeHeader) != 1 || spy.writeHeader[0] != http.StatusOK {
		t.Errorf("WriteError after start: WriteHeader calls = %v, want %v", spy.writeHeader, want)
	}
	if got, want := string(spy.body), `{"partial":`; got != want {
		t.Errorf("WriteError after start: body = %q, want %q", got, want)
	}
	if got, want := spy.header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("WriteError after start: Content-Type = %q, want %q", got, want)
	}
	if got := rw.Status(); got != http.StatusOK {
		t.Errorf("WriteError after start: Status() = %d, want %d", got, http.StatusOK)
	}
	if st.Err != failure {
		t.Errorf("WriteError after start: State.Err = %v, want %v", st.Err, failure)
	}
}

func TestWriteErrorThroughResponseWriter(t *testing.T) {
	st := &State{ID: "feedfacecafebeef"}
	rec := httptest.NewRecorder()
	var rw ResponseWriter
	rw.Reset(rec)
	WriteError(&rw, requestWithState(http.MethodGet, st), http.StatusServiceUnavailable, ErrNoBackend)
	if got := rw.Status(); got != http.StatusServiceUnavailable {
		t.Errorf("WriteError(503) Status() = %d, want %d", got, http.StatusServiceUnavailable)
	}
	if got, want := rw.Bytes(), int64(len("Service Unavailable\n")); got != want {
		t.Errorf("WriteError(503) Bytes() = %d, want %d", got, want)
	}
	if got := rec.Header().Get("X-Request-Id"); got != st.ID {
		t.Errorf("WriteError(503) X-Request-Id = %q, want %q", got, st.ID)
	}
}

// featureWriter stands for a feature's own ResponseWriter wrapper (such as
// compress's), which passes writes through and unwraps to the writer it
// wraps.
type featureWriter struct{ http.ResponseWriter }

func (w featureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestWriteErrorBehindFeatureWriter guards a bug: WriteError found the
// gateway's *ResponseWriter only when handed it directly, so behind a
// feature's writer (every route with compress) a client that went away was
// not recorded as 499 and the access log showed the request as 200, and a
// response already started got the error text appended to its body.
func TestWriteErrorBehindFeatureWriter(t *testing.T) {
	t.Run("499 recorded", func(t *testing.T) {
		spy := newSpyWriter()
		var rw ResponseWriter
		rw.Reset(spy)
		WriteError(featureWriter{&rw}, requestWithState(http.MethodGet, &State{}), StatusClientClosed, ErrClientGone)
		if got := rw.Status(); got != StatusClientClosed {
			t.Errorf("WriteError(499) behind a feature writer: Status() = %d, want %d", got, StatusClientClosed)
		}
		if len(spy.writeHeader) != 0 || len(spy.body) != 0 {
			t.Errorf("WriteError(499) behind a feature writer wrote status %v, body %q; want nothing", spy.writeHeader, spy.body)
		}
	})
	t.Run("nothing written after start", func(t *testing.T) {
		spy := newSpyWriter()
		var rw ResponseWriter
		rw.Reset(spy)
		w := featureWriter{&rw}
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		WriteError(w, requestWithState(http.MethodGet, &State{}), http.StatusBadGateway, errors.New("reset"))
		if got := string(spy.body); got != "partial" {
			t.Errorf("WriteError(502) behind a feature writer after start: body = %q, want %q", got, "partial")
		}
	})
}
