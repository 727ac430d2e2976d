package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// rawRequest writes req on a new connection to addr and reads the response.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, body
}

func TestRawTargetIsForwardedByteExact(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			be := newBackend(t, echo())
			if proto == "h2c" {
				be = newH2CBackend(t, echo())
			}
			front, _ := newFront(t, New(newTarget(t, config.Upstream{Protocol: proto}, addr(be)), Options{}, nil))
			for _, tc := range []struct{ name, method, target string }{
				{"encoded slash and semicolons", "GET", "/a%2Fb;c=d/e?x=%2F&y=;z"},
				{"unparsable query kept", "GET", "/p?r=%zz&s"},
				{"lowercase escapes kept", "GET", "/caf%c3%a9/%7e"},
				{"empty query kept", "GET", "/path?"},
				{"double slash", "GET", "//twice//x?q"},
				{"plus and spaces encoded", "GET", "/s?q=a+b%20c"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					resp, body := rawRequest(t, front.Listener.Addr().String(),
						tc.method+" "+tc.target+" HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n")
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("status = %d, want 200", resp.StatusCode)
					}
					if s := decodeSeen(t, bytes.NewReader(body)); s.URI != tc.target {
						t.Errorf("backend target = %q, want %q", s.URI, tc.target)
					}
				})
			}
		})
	}
}

func TestAsteriskTarget(t *testing.T) {
	be := httptest.NewUnstartedServer(echo())
	be.Config.DisableGeneralOptionsHandler = true
	be.Start()
	t.Cleanup(be.Close)
	h := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
	req := httptest.NewRequest("OPTIONS", "*", nil)
	rec := serveDirect(h, req, nil)
	if s := decodeSeen(t, rec.Body); s.URI != "*" || s.Method != "OPTIONS" {
		t.Errorf("backend got %s %q, want OPTIONS \"*\"", s.Method, s.URI)
	}
}

// hashBody answers with the length and SHA-256 of the request body and its
// trailers.
func hashBody() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %s %s te=%q cl=%d", n, hex.EncodeToString(h.Sum(nil)), r.Trailer.Get("X-Checksum"),
			strings.Join(r.TransferEncoding, ","), r.ContentLength)
	})
}

// countingReader hides the length of a reader, to force chunking.
type countingReader struct{ r io.Reader }

func (c countingReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestRequestBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			be := newBackend(t, hashBody())
			if proto == "h2c" {
				be = newH2CBackend(t, hashBody())
			}
			front, client := newFront(t, New(newTarget(t, config.Upstream{Protocol: proto}, addr(be)), Options{}, nil))
			for _, tc := range []struct {
				name    string
				method  string
				body    []byte
				chunked bool
				trailer string
			}{
				{name: "small with length", method: "POST", body: []byte("hello")},
				{name: "small chunked", method: "PUT", body: []byte("hello"), chunked: true},
				{name: "5 MiB with length", method: "POST", body: big},
				{name: "5 MiB chunked", method: "POST", body: big, chunked: true},
				{name: "chunked with trailer", method: "POST", body: []byte("data"), chunked: true, trailer: "sum-1"},
				{name: "empty POST", method: "POST", body: nil},
				{name: "DELETE with body", method: "DELETE", body: []byte("x")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var body io.Reader = bytes.NewReader(tc.body)
					if tc.chunked {
						body = countingReader{body}
					}
					req, _ := http.NewRequest(tc.method, front.URL+"/upload", body)
					if tc.trailer != "" {
						req.Trailer = http.Header{"X-Checksum": nil}
						body = io.MultiReader(body, readerFunc(func(p []byte) (int, error) {
							req.Trailer.Set("X-Checksum", tc.trailer)
							return 0, io.EOF
						}))
						req.Body = io.NopCloser(body)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					sum := sha256.Sum256(tc.body)
					want := fmt.Sprintf("%d %s %s", len(tc.body), hex.EncodeToString(sum[:]), tc.trailer)
					if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(got), want+" ") {
						t.Errorf("backend answered %d %q, want 200 %q", resp.StatusCode, got, want)
					}
				})
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestResponseTrailers(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Declared")
				w.Write([]byte("body"))
				w.(http.Flusher).Flush()
				w.Header().Set("X-Declared", "one")
				w.Header().Set(http.TrailerPrefix+"X-Late", "two")
			})
			be := newBackend(t, h)
			if proto == "h2c" {
				be = newH2CBackend(t, h)
			}
			front, client := newFront(t, New(newTarget(t, config.Upstream{Protocol: proto}, addr(be)), Options{}, nil))
			resp, err := client.Get(front.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "body" {
				t.Errorf("body = %q, want %q", body, "body")
			}
			for k, want := range map[string]string{"X-Declared": "one", "X-Late": "two"} {
				if got := resp.Trailer.Get(k); got != want {
					t.Errorf("trailer %s = %q, want %q (trailers %v)", k, got, want, resp.Trailer)
				}
			}
		})
	}
}

func TestRequestBodyFailures(t *testing.T) {
	be := newBackend(t, hashBody())
	proxy := New(newTarget(t, config.Upstream{}, addr(be)), Options{}, nil)
	states := make(chan *middleware.State, 1)
	limited := withState(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 10)
		proxy.ServeHTTP(w, r)
	}), middleware.State{ID: "id-1"}, states)
	front, client := newFront(t, limited)

	t.Run("body over the limit is 413", func(t *testing.T) {
		resp, err := client.Post(front.URL, "text/plain", countingReader{strings.NewReader(strings.Repeat("x", 100))})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d, want 413", resp.StatusCode)
		}
		if st := <-states; st.Err == nil {
			t.Errorf("State.Err not recorded")
		}
	})
	t.Run("client closing mid-body is not the backend's fault", func(t *testing.T) {
		c, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
		c.Close()
		st := <-states
		if got := middleware.StatusFor(st.Err); got != http.StatusBadRequest && got != middleware.StatusClientClosed {
			t.Errorf("StatusFor(%v) = %d, want 400 or 499", st.Err, got)
		}
	})
}
