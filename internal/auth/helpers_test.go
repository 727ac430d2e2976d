package auth

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
	"palisade/internal/testenv"
)

// seen is what the backend behind the middleware received.
type seen struct {
	mu     sync.Mutex
	header http.Header
	count  int
}

func (s *seen) last() (http.Header, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header, s.count
}

// front starts a loopback backend recording the requests it gets, and a
// loopback server running the auth middleware built from cfg in front of
// it, forwarding to it as the proxy would.
func front(t *testing.T, cfg config.Auth, log *slog.Logger) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	backend := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.header = r.Header.Clone()
		s.count++
		s.mu.Unlock()
		io.WriteString(w, "backend")
	}))
	mw, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	relay := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, backend.URL+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		resp, err := backend.Client().Do(out)
		if err != nil {
			middleware.WriteError(w, r, http.StatusBadGateway, err)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	h := mw(relay)
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &middleware.State{ID: "req-1"}
		h.ServeHTTP(w, r.WithContext(middleware.WithState(r.Context(), st)))
	}))
	return srv, s
}

// do sends a request with the given headers and returns the status, body
// and response header.
func do(t *testing.T, c *http.Client, method, url string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
