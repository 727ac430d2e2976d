package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
)

type listenerNameKey struct{}

func h2cClient(t *testing.T) *http.Client {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestH2CPriorKnowledge(t *testing.T) {
	type seen struct {
		proto    int
		remoteOK bool
		listener any
	}
	got := make(chan seen, 2)
	proceed := make(chan struct{})
	ts := startServerWith(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
		_, err := netip.ParseAddrPort(r.RemoteAddr)
		got <- seen{r.ProtoMajor, err == nil, r.Context().Value(listenerNameKey{})}
		if r.URL.Path == "/stream" {
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			<-proceed
			io.WriteString(w, "second")
			return
		}
		io.WriteString(w, "ok")
	}, func(s *Server) {
		s.SetConnContext(func(ctx context.Context, c net.Conn) context.Context {
			if _, ok := c.(*net.TCPConn); !ok {
				t.Errorf("ConnContext got %T, want the accepted *net.TCPConn", c)
			}
			return context.WithValue(ctx, listenerNameKey{}, "web")
		})
	})

	for _, tc := range []struct {
		name   string
		client *http.Client
		proto  int
	}{
		{"h2c", h2cClient(t), 2},
		{"http/1.1", &http.Client{Transport: &http.Transport{}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Get("http://" + ts.addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tc.client.CloseIdleConnections()
			if resp.ProtoMajor != tc.proto || string(b) != "ok" {
				t.Errorf("response %s %q, want HTTP/%d \"ok\"", resp.Proto, b, tc.proto)
			}
			if s := <-got; s != (seen{tc.proto, true, "web"}) {
				t.Errorf("handler saw %+v, want proto %d, ip:port RemoteAddr, listener \"web\"", s, tc.proto)
			}
		})
	}

	t.Run("streaming", func(t *testing.T) {
		resp, err := h2cClient(t).Get("http://" + ts.addr + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		<-got
		buf := make([]byte, 5)
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
			t.Fatalf("first bytes = %q, %v; want \"first\" before the handler returns", buf, err)
		}
		close(proceed)
		rest, _ := io.ReadAll(resp.Body)
		if string(rest) != "second" {
			t.Errorf("rest = %q, want \"second\"", rest)
		}
	})
}

// TestH2CShutdown: Shutdown stops the h2c server too and leaves no
// goroutine behind (TestMain checks).
func TestH2CShutdown(t *testing.T) {
	ts := startServer(t, defaultTestOptions(), okHandler)
	c := h2cClient(t)
	resp, err := c.Get("http://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
}
