package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChain(t *testing.T) {
	// tag returns a middleware that logs its name before and after next.
	tag := func(log *[]string, name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				*log = append(*log, name+">")
				next.ServeHTTP(w, r)
				*log = append(*log, "<"+name)
			})
		}
	}
	for _, tc := range []struct {
		name  string
		names []string
		want  string
	}{
		{"no middleware", nil, "h"},
		{"one middleware", []string{"a"}, "a> h <a"},
		{"first is outermost", []string{"a", "b", "c"}, "a> b> c> h <c <b <a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			mws := make([]Middleware, len(tc.names))
			for i, n := range tc.names {
				mws[i] = tag(&log, n)
			}
			h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { log = append(log, "h") }), mws...)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			if got := strings.Join(log, " "); got != tc.want {
				t.Errorf("Chain(%q) ran %q, want %q", tc.names, got, tc.want)
			}
		})
	}
}

func TestChainBuildsOnce(t *testing.T) {
	built := 0
	mw := func(next http.Handler) http.Handler {
		built++
		return next
	}
	h := Chain(http.NotFoundHandler(), mw, mw)
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	if built != 2 {
		t.Errorf("Chain with 2 middlewares called them %d times over 3 requests, want 2 (once each at build)", built)
	}
}

func TestNewRequestID(t *testing.T) {
	seen := make(map[string]bool, 1000)
	for range 1000 {
		id := NewRequestID()
		if len(id) != 16 {
			t.Fatalf("NewRequestID() = %q, want 16 characters", id)
		}
		for _, c := range id {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				t.Fatalf("NewRequestID() = %q, want lowercase hexadecimal only", id)
			}
		}
		if seen[id] {
			t.Fatalf("NewRequestID() = %q twice in %d calls, want distinct IDs", id, len(seen)+1)
		}
		seen[id] = true
	}
}

func TestStateFrom(t *testing.T) {
	st := &State{ID: "abc"}
	if got := StateFrom(WithState(context.Background(), st)); got != st {
		t.Errorf("StateFrom(WithState(st)) = %p, want %p", got, st)
	}
	a, b := StateFrom(context.Background()), StateFrom(context.Background())
	if a == nil || b == nil {
		t.Fatalf("StateFrom(no State) = %v, %v; want non-nil", a, b)
	}
	if a == b {
		t.Errorf("StateFrom(no State) returned the same State twice, want a throwaway each time")
	}
}
