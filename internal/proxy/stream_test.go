package proxy

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// backendFor starts a backend speaking proto ("http1" or "h2c").
func backendFor(t *testing.T, proto string, h http.Handler) *httptest.Server {
	t.Helper()
	if proto == "h2c" {
		return newH2CBackend(t, h)
	}
	return newBackend(t, h)
}

func TestEarlyHintsAreForwarded(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			be := backendFor(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</style.css>; rel=preload; as=style")
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
				w.Write([]byte("final"))
			}))
			proxy := New(newTarget(t, config.Upstream{Protocol: proto}, addr(be)), Options{}, nil)
			outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Outer", "kept")
				proxy.ServeHTTP(w, r)
			})
			front, client := newFront(t, withState(outer, middleware.State{}, nil))

			var mu sync.Mutex
			var hints []textproto.MIMEHeader
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				if code == http.StatusEarlyHints {
					hints = append(hints, h)
				}
				return nil
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(testContext(t), trace), "GET", front.URL, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if len(hints) != 1 || hints[0].Get("Link") != "</style.css>; rel=preload; as=style" {
				t.Fatalf("103 responses = %v, want one with the Link", hints)
			}
			if string(body) != "final" || resp.Header.Get("Link") != "" || resp.Header.Get("X-Outer") != "kept" {
				t.Errorf("final response %q, Link %q, X-Outer %q; want \"final\", no Link, X-Outer kept",
					body, resp.Header.Get("Link"), resp.Header.Get("X-Outer"))
			}
		})
	}
}

// TestStreamsFlushBeforeBackendEnds reads the first event through the proxy
// while the backend still holds the response open: the flush policy must
// send it without waiting for more.
func TestStreamsFlushBeforeBackendEnds(t *testing.T) {
	for _, tc := range []struct{ name, proto, contentType string }{
		{"server-sent events", "http1", "text/event-stream"},
		{"chunked text", "http1", "text/plain"},
		{"server-sent events over h2c", "h2c", "text/event-stream"},
		{"stream over h2c", "h2c", "application/octet-stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			be := backendFor(t, tc.proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				io.WriteString(w, "data: one\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "data: two\n\n")
			}))
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(release) }) })
			front, client := newFront(t, New(newTarget(t, config.Upstream{Protocol: tc.proto}, addr(be)), Options{}, nil))

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", front.URL, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			first, err := br.ReadString('\n')
			if err != nil || first != "data: one\n" {
				t.Fatalf("first line = %q, %v; want the first event before the backend ends", first, err)
			}
			once.Do(func() { close(release) })
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: two\n\n" {
				t.Errorf("rest = %q, %v; want the second event", rest, err)
			}
		})
	}
}

func TestWebSocketEcho(t *testing.T) {
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	states := make(chan *middleware.State, 1)
	front, _ := newFront(t, withState(New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil), middleware.State{ID: "ws-1"}, states))

	ctx := testContext(t)
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/echo", nil)
	if err != nil {
		t.Fatalf("Dial through the proxy: %v", err)
	}
	c.SetReadLimit(1 << 20)
	if got := resp.Header.Get("Via"); got != "1.1 palisade" {
		t.Errorf("101 Via = %q, want %q", got, "1.1 palisade")
	}
	for _, msg := range []string{"hello", strings.Repeat("big", 50000)} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Errorf("echo of %d bytes = %d bytes", len(msg), len(got))
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("Close: %v", err)
	}
	st := <-states
	if st.Err != nil || st.Backend != addr(be) {
		t.Errorf("State after the tunnel: Err %v, Backend %q", st.Err, st.Backend)
	}
}

func TestUpgradeRefusedIsPassedThrough(t *testing.T) {
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			t.Errorf("backend Upgrade = %q, want websocket", r.Header.Get("Upgrade"))
		}
		http.Error(w, "no upgrades here", http.StatusBadRequest)
	}))
	front, _ := newFront(t, New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil))
	resp, body := rawRequest(t, front.Listener.Addr().String(),
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || string(body) != "no upgrades here\n" {
		t.Errorf("got %d %q, want the backend's 400", resp.StatusCode, body)
	}
}

func TestClientGoneCancelsBackendExchange(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			arrived, canceled := make(chan struct{}), make(chan struct{})
			be := backendFor(t, proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				select {
				case <-r.Context().Done():
					close(canceled)
				case <-time.After(10 * time.Second):
				}
			}))
			states := make(chan *middleware.State, 1)
			front, client := newFront(t, withState(New(newTarget(t, config.Upstream{Protocol: proto}, addr(be)), Options{}, nil), middleware.State{}, states))
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", front.URL, nil)
			go func() {
				<-arrived
				cancel()
			}()
			if _, err := client.Do(req); err == nil {
				t.Fatal("request succeeded, want it canceled")
			}
			select {
			case <-canceled:
			case <-time.After(5 * time.Second):
				t.Fatal("the backend exchange was not canceled when the client went away")
			}
			if st := <-states; middleware.StatusFor(st.Err) != middleware.StatusClientClosed {
				t.Errorf("StatusFor(%v) = %d, want 499", st.Err, middleware.StatusFor(st.Err))
			}
		})
	}
}
