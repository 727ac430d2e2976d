package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"palisade/internal/config"
)

// newH2CFront serves h over h2c only, with a client speaking h2c.
func newH2CFront(t *testing.T, h http.Handler) (*httptest.Server, *http.Client) {
	t.Helper()
	srv := newH2CBackend(t, h)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr}
}

func TestHTTP2Client(t *testing.T) {
	be := newBackend(t, echo())
	front, client := newH2CFront(t, New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil))
	req, _ := http.NewRequest("GET", front.URL+"/a%2Fb?q=1", nil)
	req.Host = "app.example"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s := decodeSeen(t, resp.Body)
	if resp.ProtoMajor != 2 {
		t.Fatalf("front answered over %s, want HTTP/2", resp.Proto)
	}
	if got := s.Header.Get("Via"); got != "2.0 palisade" {
		t.Errorf("backend Via = %q, want %q", got, "2.0 palisade")
	}
	if s.Host != "app.example" || s.URI != "/a%2Fb?q=1" || s.Proto != "HTTP/1.1" {
		t.Errorf("backend got %s %q host %q, want HTTP/1.1 /a%%2Fb?q=1 host app.example", s.Proto, s.URI, s.Host)
	}
}

// TestGRPCStyleExchange runs an h2c client through the proxy to an h2c
// backend the way gRPC does: TE: trailers, a streamed body, the status in
// trailers.
func TestGRPCStyleExchange(t *testing.T) {
	be := newH2CBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Te") != "trailers" {
			t.Errorf("backend TE = %q, want trailers", r.Header.Get("Te"))
		}
		in, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.Write(in)
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "ok")
	}))
	front, client := newH2CFront(t, New(newTarget(t, config.Upstream{Protocol: "h2c"}, addr(be)), Options{}, nil))
	req, _ := http.NewRequest("POST", front.URL+"/pkg.Service/Method", countingReader{strings.NewReader("\x00\x00\x00\x00\x02hi")})
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "\x00\x00\x00\x00\x02hi" {
		t.Errorf("body = %q, want the echoed message", body)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Message") != "ok" {
		t.Errorf("trailers = %v, want Grpc-Status 0 and Grpc-Message ok", resp.Trailer)
	}
	if got := resp.Header.Get("Via"); got != "2.0 palisade" {
		t.Errorf("response Via = %q, want %q", got, "2.0 palisade")
	}
}

func TestHTTP2ClientUpgradeIsNotForwarded(t *testing.T) {
	be := newBackend(t, echo())
	h := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
	req := httptest.NewRequest("GET", "/", nil)
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	rec := serveDirect(h, req, nil)
	s := decodeSeen(t, rec.Body)
	if s.Header.Get("Upgrade") != "" || s.Header.Get("Connection") != "" {
		t.Errorf("backend got Upgrade %q Connection %q from an HTTP/2 request, want neither",
			s.Header.Get("Upgrade"), s.Header.Get("Connection"))
	}
}
