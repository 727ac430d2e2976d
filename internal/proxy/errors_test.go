package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

func TestErrorMapping(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	wait := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	slow := newBackend(t, wait)
	slowH2C := newH2CBackend(t, wait)
	healthy := newBackend(t, echo())
	malformed := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		answerOnce(c, br, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	})
	silent := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
	})
	ms := config.Duration(100 * time.Millisecond)

	for _, tc := range []struct {
		name   string
		cfg    config.Upstream
		addrs  []string
		adjust func(*Target)
		want   int
	}{
		{name: "connection refused", addrs: []string{closedAddr(t)}, want: http.StatusBadGateway},
		{name: "response header timeout of the target", addrs: []string{addr(slow)},
			adjust: func(tg *Target) { tg.ResponseHeaderTimeout = 100 * time.Millisecond }, want: http.StatusGatewayTimeout},
		{name: "response header timeout of the upstream", addrs: []string{addr(slow)},
			cfg: config.Upstream{Timeouts: config.UpstreamTimeouts{ResponseHeader: ms}}, want: http.StatusGatewayTimeout},
		{name: "h2c response header timeout", addrs: []string{addr(slowH2C)},
			cfg: config.Upstream{Protocol: "h2c", Timeouts: config.UpstreamTimeouts{ResponseHeader: ms}}, want: http.StatusGatewayTimeout},
		{name: "h2c connection refused", addrs: []string{closedAddr(t)}, cfg: config.Upstream{Protocol: "h2c"}, want: http.StatusBadGateway},
		{name: "no healthy backend", addrs: []string{addr(healthy)},
			adjust: func(tg *Target) { tg.Pool.Primaries()[0].SetHealthy(false, "test") }, want: http.StatusServiceUnavailable},
		{name: "no backend at all", want: http.StatusServiceUnavailable},
		{name: "conflicting framing", addrs: []string{malformed.addr()}, want: http.StatusBadGateway},
		{name: "closed without a response", addrs: []string{silent.addr()}, want: http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, tc.cfg, tc.addrs...)
			if tc.adjust != nil {
				tc.adjust(tg)
			}
			states := make(chan *middleware.State, 1)
			front, client := newFront(t, withState(New(tg, Options{}, nil), middleware.State{ID: "id-7"}, states))
			resp, err := client.Get(front.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			st := <-states
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d (error %v), want %d", resp.StatusCode, st.Err, tc.want)
			}
			if want := http.StatusText(tc.want) + "\n"; string(body) != want {
				t.Errorf("body = %q, want %q", body, want)
			}
			if strings.Contains(string(body), "127.0.0.1") || strings.Contains(resp.Header.Get("X-Request-Id"), ":") {
				t.Errorf("the response leaks a backend address: %q", body)
			}
			if got := resp.Header.Get("X-Request-Id"); got != "id-7" {
				t.Errorf("X-Request-Id = %q, want %q", got, "id-7")
			}
			if st.Err == nil || st.Upstream != "test" {
				t.Errorf("State: Err %v, Upstream %q; want the error recorded for upstream test", st.Err, st.Upstream)
			}
		})
	}
}

func TestBackendClosingMidBodyTruncates(t *testing.T) {
	for _, tc := range []struct{ name, resp string }{
		{"declared length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newRawBackend(t, func(c net.Conn, br *bufio.Reader) { answerOnce(c, br, tc.resp) })
			states := make(chan *middleware.State, 1)
			front, client := newFront(t, withState(New(newTarget(t, config.Upstream{}, be.addr()), Options{}, nil), middleware.State{}, states))
			resp, err := client.Get(front.URL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("the client read a complete body, want it truncated")
			}
			if st := <-states; st.Err == nil {
				t.Errorf("State.Err not recorded")
			}
		})
	}
}

func TestDialFailureMovesToNextBackend(t *testing.T) {
	live := newBackend(t, echo())
	tg := newTarget(t, config.Upstream{}, closedAddr(t), addr(live))
	states := make(chan *middleware.State, 1)
	front, client := newFront(t, withState(New(tg, Options{}, nil), middleware.State{}, states))
	retried := 0
	for i := 0; i < 6; i++ {
		resp, err := client.Get(front.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		st := <-states
		if resp.StatusCode != http.StatusOK || st.Backend != addr(live) {
			t.Fatalf("request %d: status %d from %q, want 200 from the live backend", i, resp.StatusCode, st.Backend)
		}
		if st.Attempts == 2 {
			retried++
		}
	}
	// How many requests meet the dead backend first is the policy's
	// business (lb.RoundRobin also advances on the retry's Pick); each
	// meeting is one failure and one extra attempt.
	if retried == 0 || uint64(retried) != tg.Pool.Primaries()[0].Failures() {
		t.Errorf("%d requests retried and %d failures recorded on the dead backend, want them equal and non-zero",
			retried, tg.Pool.Primaries()[0].Failures())
	}

	t.Run("h2c", func(t *testing.T) {
		live := newH2CBackend(t, echo())
		tg := newTarget(t, config.Upstream{Protocol: "h2c"}, closedAddr(t), addr(live))
		front, client := newFront(t, New(tg, Options{}, nil))
		for i := 0; i < 4; i++ {
			resp, err := client.Get(front.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: status %d, want 200 from the live backend", i, resp.StatusCode)
			}
		}
	})
	t.Run("all backends refuse", func(t *testing.T) {
		tg := newTarget(t, config.Upstream{}, closedAddr(t), closedAddr(t))
		states := make(chan *middleware.State, 1)
		front, client := newFront(t, withState(New(tg, Options{}, nil), middleware.State{}, states))
		resp, err := client.Get(front.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if st := <-states; resp.StatusCode != http.StatusBadGateway || st.Attempts != 2 {
			t.Errorf("status %d after %d attempts, want 502 after 2", resp.StatusCode, st.Attempts)
		}
	})
	t.Run("a response failure is not retried", func(t *testing.T) {
		silent := newRawBackend(t, func(c net.Conn, br *bufio.Reader) { http.ReadRequest(br) })
		tg := newTarget(t, config.Upstream{}, silent.addr(), addr(live))
		states := make(chan *middleware.State, 1)
		front, client := newFront(t, withState(New(tg, Options{}, nil), middleware.State{}, states))
		resp, err := client.Get(front.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if st := <-states; resp.StatusCode != http.StatusBadGateway || st.Attempts != 1 {
			t.Errorf("status %d after %d attempts, want 502 after 1", resp.StatusCode, st.Attempts)
		}
	})
}
