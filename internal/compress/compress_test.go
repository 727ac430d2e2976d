package compress

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// jsonBody returns n bytes of a JSON-looking array, the same on every call.
func jsonBody(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"user %d","email":"user%d@example.com","active":%t,"tags":["a","b"]},`, i, i%97, i, i%3 == 0)
	}
	return b.Bytes()[:n]
}

// newServer serves handler behind the compress middleware built from cfg on
// a loopback server, and returns a client that does not decompress, so tests
// see the bytes on the wire.
func newServer(t *testing.T, cfg config.Compress, handler http.HandlerFunc) (*httptest.Server, *http.Client) {
	t.Helper()
	mw, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(middleware.Chain(handler, mw))
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return srv, &http.Client{Transport: tr}
}

// get sends a request with the given header fields ("Name: value") and
// returns the response with its whole body read.
func get(t *testing.T, c *http.Client, method, url string, fields ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, ":")
		req.Header.Add(k, strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, body
}

// newDecoder returns a streaming decoder of coding over r.
func newDecoder(coding string, r io.Reader) (io.ReadCloser, error) {
	switch coding {
	case "gzip":
		return gzip.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case "br":
		return io.NopCloser(brotli.NewReader(r)), nil
	case "", "identity":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown coding %q", coding)
}

// decode returns b decoded from coding.
func decode(coding string, b []byte) ([]byte, error) {
	d, err := newDecoder(coding, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return io.ReadAll(d)
}

func decodeAll(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	out, err := decode(coding, b)
	if err != nil {
		t.Fatalf("decoding %s: %v", coding, err)
	}
	return out
}

// serveBody answers with body as type ct, declaring its length.
func serveBody(ct string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

func TestRoundTrip(t *testing.T) {
	// Larger than the encoders' 256 KiB windows, so history wraps.
	body := jsonBody(640 << 10)
	for _, coding := range []string{"zstd", "br", "gzip"} {
		for _, level := range []int{0, 1, 9} {
			name := fmt.Sprintf("%s level %d", coding, level)
			cfg := config.DefaultCompress()
			if level == 0 {
				name = coding + " default level"
			} else {
				cfg.Levels = map[string]int{coding: level}
			}
			t.Run(name, func(t *testing.T) {
				srv, c := newServer(t, cfg, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json; charset=utf-8")
					// Uneven writes, as a proxy copying from a backend
					// makes them.
					for p := body; len(p) > 0; {
						n := min(len(p), 7777)
						w.Write(p[:n])
						p = p[n:]
					}
				})
				resp, raw := get(t, c, "GET", srv.URL, "Accept-Encoding: "+coding)
				if got := resp.Header.Get("Content-Encoding"); got != coding {
					t.Fatalf("Content-Encoding = %q, want %q", got, coding)
				}
				if len(raw) >= len(body)/2 {
					t.Errorf("compressed %d bytes to %d, want less than half", len(body), len(raw))
				}
				if got := decodeAll(t, coding, raw); !bytes.Equal(got, body) {
					t.Errorf("decoded %d bytes, want the original %d", len(got), len(body))
				}
			})
		}
	}
}

func TestEmptyBody(t *testing.T) {
	for _, coding := range []string{"zstd", "br", "gzip"} {
		t.Run(coding, func(t *testing.T) {
			srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusOK)
			})
			resp, raw := get(t, c, "GET", srv.URL, "Accept-Encoding: "+coding)
			if got := resp.Header.Get("Content-Encoding"); got != coding {
				t.Fatalf("Content-Encoding = %q, want %q", got, coding)
			}
			if got := decodeAll(t, coding, raw); len(got) != 0 {
				t.Errorf("decoded %q, want an empty body", got)
			}
		})
	}
}

func TestNegotiation(t *testing.T) {
	body := jsonBody(4 << 10)
	srv, c := newServer(t, config.DefaultCompress(), serveBody("application/json", body))
	for _, tc := range []struct {
		name, accept string // accept "-" sends no Accept-Encoding
		want         string
	}{
		{"no Accept-Encoding", "-", ""},
		{"empty Accept-Encoding", "", ""},
		{"browser", "gzip, deflate, br, zstd", "zstd"},
		{"older browser", "gzip, deflate, br", "gzip"},
		{"Go client", "gzip", "gzip"},
		{"q=0 forbids the preferred", "zstd;q=0, br, gzip", "gzip"},
		{"higher weight wins", "zstd;q=0.2, gzip;q=0.9", "gzip"},
		{"tie goes to server preference", "gzip;q=0.5, br;q=0.5", "gzip"},
		{"brotli when nothing preferred is accepted", "br, deflate", "br"},
		{"star", "*", "zstd"},
		{"star with exclusions", "zstd;q=0, br;q=0, *", "gzip"},
		{"star at zero", "*;q=0, gzip;q=0.1", "gzip"},
		{"identity preferred", "gzip;q=0.3, identity;q=0.9", ""},
		{"identity refused, nothing acceptable", "identity;q=0, deflate", ""},
		{"everything refused sends identity anyway", "*;q=0", ""},
		{"case-insensitive", "GZIP;Q=0.5, BR;Q=0.4", "gzip"},
		{"whitespace", " br \t;\tq=0.7 ,gzip ; q=0.6", "br"},
		{"x-gzip", "x-gzip", "gzip"},
		{"malformed weight ignored", "zstd;q=high, br;q=1.5, gzip", "gzip"},
		{"unknown codings only", "deflate, compress", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fields []string
			if tc.accept != "-" {
				fields = append(fields, "Accept-Encoding: "+tc.accept)
			}
			resp, raw := get(t, c, "GET", srv.URL, fields...)
			if got := resp.Header.Get("Content-Encoding"); got != tc.want {
				t.Errorf("Accept-Encoding %q: Content-Encoding = %q, want %q", tc.accept, got, tc.want)
			}
			if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary = %q, want Accept-Encoding", got)
			}
			if got := decodeAll(t, tc.want, raw); !bytes.Equal(got, body) {
				t.Errorf("decoded body differs from the original")
			}
		})
	}
}

func TestNotCompressed(t *testing.T) {
	big := jsonBody(4 << 10)
	for _, tc := range []struct {
		name     string
		method   string
		fields   []string
		status   int
		header   map[string]string // response header fields
		wantVary bool
	}{
		{"below min_length", "GET", nil, 200,
			map[string]string{"Content-Type": "application/json", "Content-Length": "100"}, true},
		{"already encoded", "GET", nil, 200,
			map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, false},
		{"not a compressible type", "GET", nil, 200,
			map[string]string{"Content-Type": "image/png"}, false},
		{"no Content-Type", "GET", nil, 200,
			map[string]string{}, false},
		{"response no-transform", "GET", nil, 200,
			map[string]string{"Content-Type": "text/html", "Cache-Control": "public, no-transform"}, false},
		{"request no-transform", "GET", []string{"Cache-Control: no-transform"}, 200,
			map[string]string{"Content-Type": "text/html"}, true},
		{"partial content", "GET", []string{"Range: bytes=0-99"}, 206,
			map[string]string{"Content-Type": "text/html", "Content-Range": "bytes 0-99/5000"}, false},
		{"HEAD", "HEAD", nil, 200,
			map[string]string{"Content-Type": "text/html"}, true},
		{"no content", "GET", nil, 204,
			map[string]string{"Content-Type": "text/html"}, false},
		{"not modified", "GET", []string{`If-None-Match: "v1"`}, 304,
			map[string]string{"Content-Type": "text/html", "ETag": `"v1"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				body := big
				if n, err := strconv.Atoi(tc.header["Content-Length"]); err == nil {
					body = big[:n]
				}
				w.Write(body)
			})
			fields := append([]string{"Accept-Encoding: zstd, br, gzip"}, tc.fields...)
			resp, raw := get(t, c, tc.method, srv.URL, fields...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if got, want := resp.Header.Get("Content-Encoding"), tc.header["Content-Encoding"]; got != want {
				t.Errorf("Content-Encoding = %q, want %q", got, want)
			}
			if got := resp.Header.Get("Vary") == "Accept-Encoding"; got != tc.wantVary {
				t.Errorf("Vary = %q, want Accept-Encoding: %v", resp.Header.Get("Vary"), tc.wantVary)
			}
			if tc.method == "GET" && tc.status == 200 && tc.header["Content-Encoding"] == "" {
				want := big
				if n, err := strconv.Atoi(tc.header["Content-Length"]); err == nil {
					want = big[:n]
				}
				if !bytes.Equal(raw, want) {
					t.Errorf("body of %d bytes is not the original %d", len(raw), len(want))
				}
			}
		})
	}
}

// TestUnknownLength checks nginx's rule: min_length applies only to a
// declared length, so a short body without Content-Length is compressed.
func TestUnknownLength(t *testing.T) {
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "short")
	})
	resp, raw := get(t, c, "GET", srv.URL, "Accept-Encoding: gzip")
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", got)
	}
	if got := decodeAll(t, "gzip", raw); string(got) != "short" {
		t.Errorf("decoded %q, want %q", got, "short")
	}
}

func TestRangeAnsweredWhole(t *testing.T) {
	body := jsonBody(8 << 10)
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		// A backend that ignores Range answers 200 with everything.
		w.Header().Set("Accept-Ranges", "bytes")
		serveBody("application/json", body)(w, r)
	})
	resp, raw := get(t, c, "GET", srv.URL, "Accept-Encoding: gzip", "Range: bytes=0-9")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("got %d with Content-Encoding %q, want a gzip 200", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	if got := resp.Header.Get("Accept-Ranges"); got != "" {
		t.Errorf("Accept-Ranges = %q, want none on a compressed response", got)
	}
	if got := decodeAll(t, "gzip", raw); !bytes.Equal(got, body) {
		t.Errorf("decoded body differs from the original")
	}
}

func TestVary(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vary    []string // Vary lines set by the backend
		ct, cl  string
		want    []string
		encoded bool
	}{
		{"added", nil, "text/html", "", []string{"Accept-Encoding"}, true},
		{"merged with another field", []string{"Origin"}, "text/html", "", []string{"Origin", "Accept-Encoding"}, true},
		{"already listed in another case", []string{"origin, accept-encoding"}, "text/html", "", []string{"origin, accept-encoding"}, true},
		{"star left alone", []string{"*"}, "text/html", "", []string{"*"}, true},
		{"added when too small to compress", nil, "text/html", "10", []string{"Accept-Encoding"}, false},
		{"not added for an incompressible type", []string{"Origin"}, "image/png", "", []string{"Origin"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Vary"] = tc.vary
				w.Header().Set("Content-Type", tc.ct)
				body := jsonBody(1 << 10)
				if tc.cl != "" {
					w.Header().Set("Content-Length", tc.cl)
					body = body[:10]
				}
				w.Write(body)
			})
			resp, _ := get(t, c, "GET", srv.URL, "Accept-Encoding: gzip")
			if got := resp.Header.Values("Vary"); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Vary = %q, want %q", got, tc.want)
			}
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.encoded {
				t.Errorf("compressed = %v, want %v", got, tc.encoded)
			}
		})
	}
}

func TestETag(t *testing.T) {
	for _, tc := range []struct {
		name, etag, want string
	}{
		{"strong is weakened", `"v1"`, `W/"v1"`},
		{"weak is kept", `W/"v1"`, `W/"v1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", tc.etag)
				serveBody("text/html", jsonBody(1<<10))(w, r)
			})
			resp, _ := get(t, c, "GET", srv.URL, "Accept-Encoding: br")
			if got := resp.Header.Get("ETag"); got != tc.want {
				t.Errorf("ETag = %q, want %q", got, tc.want)
			}
			resp, _ = get(t, c, "GET", srv.URL)
			if got := resp.Header.Get("ETag"); got != tc.etag {
				t.Errorf("uncompressed ETag = %q, want %q unchanged", got, tc.etag)
			}
		})
	}
}

// TestConditionalRoundTrip revalidates with the weak ETag a compressed
// response carried, against a backend that answers 304 only when
// If-None-Match holds its strong ETag exactly.
func TestConditionalRoundTrip(t *testing.T) {
	const etag = `"abc,123"` // a comma inside the quotes is legal
	body := jsonBody(2 << 10)
	var sawINM []string
	var mu sync.Mutex
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		inm := r.Header.Get("If-None-Match")
		mu.Lock()
		sawINM = append(sawINM, inm)
		mu.Unlock()
		for _, tag := range strings.Split(inm, ", ") {
			if tag == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		serveBody("application/json", body)(w, r)
	})
	resp, _ := get(t, c, "GET", srv.URL, "Accept-Encoding: zstd")
	weak := resp.Header.Get("ETag")
	if weak != "W/"+etag {
		t.Fatalf("first response ETag = %q, want %q", weak, "W/"+etag)
	}

	for _, tc := range []struct {
		name, inm  string
		wantStatus int
		wantETag   string
	}{
		{"weak validator", weak, 304, weak},
		{"weak validator in a list", `"other", ` + weak, 304, weak},
		{"strong validator", etag, 304, etag},
		{"stale validator", `W/"old"`, 200, weak},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := get(t, c, "GET", srv.URL, "Accept-Encoding: zstd", "If-None-Match: "+tc.inm)
			if resp.StatusCode != tc.wantStatus {
				mu.Lock()
				saw := sawINM[len(sawINM)-1]
				mu.Unlock()
				t.Fatalf("status = %d, want %d (backend saw If-None-Match %q)", resp.StatusCode, tc.wantStatus, saw)
			}
			if got := resp.Header.Get("ETag"); got != tc.wantETag {
				t.Errorf("ETag = %q, want %q", got, tc.wantETag)
			}
			if resp.StatusCode == 304 {
				if len(raw) != 0 {
					t.Errorf("304 has a body of %d bytes", len(raw))
				}
				if tc.wantETag == weak && resp.Header.Get("Vary") != "Accept-Encoding" {
					t.Errorf("Vary = %q on a 304 for a compressed response, want Accept-Encoding", resp.Header.Get("Vary"))
				}
			}
		})
	}
}

// TestServerSentEvents checks that a flushed event reaches the client, and
// decodes there, while the handler is still running, for each coding.
func TestServerSentEvents(t *testing.T) {
	for _, coding := range []string{"zstd", "br", "gzip"} {
		for _, flush := range []string{"Flusher", "ResponseController"} {
			t.Run(coding+" "+flush, func(t *testing.T) {
				release := make(chan struct{})
				srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					w.Header().Set("Cache-Control", "no-cache")
					io.WriteString(w, "event: greeting\ndata: hello\n\n")
					if flush == "Flusher" {
						w.(http.Flusher).Flush()
					} else if err := http.NewResponseController(w).Flush(); err != nil {
						t.Errorf("Flush: %v", err)
					}
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
					io.WriteString(w, "data: bye\n\n")
				})
				defer close(release)
				req, _ := http.NewRequest("GET", srv.URL, nil)
				req.Header.Set("Accept-Encoding", coding)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if got := resp.Header.Get("Content-Encoding"); got != coding {
					t.Fatalf("Content-Encoding = %q, want %q", got, coding)
				}

				first := make(chan string, 1)
				var dec io.ReadCloser
				var br *bufio.Reader
				go func() {
					// gzip.NewReader reads the header, so build the
					// decoder here too: it must not block either.
					var err error
					if dec, err = newDecoder(coding, resp.Body); err != nil {
						first <- err.Error()
						return
					}
					br = bufio.NewReader(dec)
					var ev strings.Builder
					for {
						line, err := br.ReadString('\n')
						ev.WriteString(line)
						if err != nil || line == "\n" {
							break
						}
					}
					first <- ev.String()
				}()
				select {
				case ev := <-first:
					if ev != "event: greeting\ndata: hello\n\n" {
						t.Fatalf("first event = %q", ev)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the flushed event did not arrive while the handler was running")
				}
				defer dec.Close()
				release <- struct{}{}
				rest, err := io.ReadAll(br)
				if err != nil {
					t.Fatalf("reading the rest: %v", err)
				}
				if string(rest) != "data: bye\n\n" {
					t.Errorf("rest = %q, want the second event", rest)
				}
			})
		}
	}
}

func TestInformational(t *testing.T) {
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		serveBody("text/html", jsonBody(1<<10))(w, r)
	})
	var got1xx []int
	var link string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got1xx = append(got1xx, code)
		link = h.Get("Link")
		if h.Get("Content-Encoding") != "" || h.Get("Vary") != "" {
			t.Errorf("103 carries compression headers: %v", h)
		}
		return nil
	}}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if len(got1xx) != 1 || got1xx[0] != 103 || link == "" {
		t.Errorf("1xx responses = %v with Link %q, want one 103 with the Link", got1xx, link)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("final response %d with Content-Encoding %q, want a gzip 200", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
}

func TestHijack(t *testing.T) {
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nraw!!")
		brw.Flush()
	})
	resp, raw := get(t, c, "GET", srv.URL, "Accept-Encoding: gzip")
	if string(raw) != "raw!!" || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("got %q with Content-Encoding %q, want the raw bytes the handler wrote", raw, resp.Header.Get("Content-Encoding"))
	}
}

func TestUnwrap(t *testing.T) {
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the compress writer: %v", err)
		}
		serveBody("text/plain", jsonBody(1<<10))(w, r)
	})
	get(t, c, "GET", srv.URL, "Accept-Encoding: gzip")
}

// TestPanicReturnsEncoder checks that a handler panicking mid-body aborts
// the response and leaves the pooled encoders usable for the next requests.
func TestPanicReturnsEncoder(t *testing.T) {
	body := jsonBody(64 << 10)
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/panic" {
			w.Write(body[:40<<10])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write(body)
	})
	for _, coding := range []string{"zstd", "br", "gzip"} {
		for range 3 {
			req, _ := http.NewRequest("GET", srv.URL+"/panic", nil)
			req.Header.Set("Accept-Encoding", coding)
			resp, err := c.Do(req)
			if err == nil {
				var raw []byte
				if raw, err = io.ReadAll(resp.Body); err == nil {
					_, err = decode(coding, raw)
				}
				resp.Body.Close()
			}
			if err == nil {
				t.Errorf("%s: a panicking handler's response read as complete", coding)
			}
			_, raw := get(t, c, "GET", srv.URL+"/ok", "Accept-Encoding: "+coding)
			if got := decodeAll(t, coding, raw); !bytes.Equal(got, body) {
				t.Errorf("%s: response after a panic decoded to %d bytes, want %d", coding, len(got), len(body))
			}
		}
	}
}

func TestConcurrent(t *testing.T) {
	bodies := [][]byte{jsonBody(300), jsonBody(20 << 10), jsonBody(200 << 10)}
	srv, c := newServer(t, config.DefaultCompress(), func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("b"))
		w.Header().Set("Content-Type", "application/json")
		w.Write(bodies[i])
	})
	codings := []string{"zstd", "br", "gzip", "identity"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 12 {
				coding, bi := codings[(g+i)%len(codings)], (g*7+i)%len(bodies)
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s?b=%d", srv.URL, bi), nil)
				req.Header.Set("Accept-Encoding", coding)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if got := resp.Header.Get("Content-Encoding"); got != strings.TrimPrefix(coding, "identity") {
					errs <- fmt.Errorf("Content-Encoding = %q, want %q", got, coding)
					return
				}
				if got, err := decode(coding, raw); err != nil || !bytes.Equal(got, bodies[bi]) {
					errs <- fmt.Errorf("%s body %d decoded to %d bytes (%v), want %d", coding, bi, len(got), err, len(bodies[bi]))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTypes(t *testing.T) {
	cfg := config.DefaultCompress()
	mw, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := mw(http.NotFoundHandler()).(*handler).c
	for _, tc := range []struct {
		ct   string
		want bool
	}{
		{"text/html", true},
		{"TEXT/HTML; charset=utf-8", true},
		{"application/json", true},
		{"application/problem+json", true},
		{"application/graphql-response+json", true},
		{"application/atom+xml;charset=utf-8", true},
		{"image/svg+xml", true},
		{"application/wasm", true},
		{"application/x-ndjson", true},
		{"text/event-stream", true},
		{"image/png", false},
		{"application/octet-stream", false},
		{"application/+json", false},
		{"application/jsonx", false},
		{"text", false},
		{"", false},
	} {
		t.Run(tc.ct, func(t *testing.T) {
			if got := c.typeMatches(tc.ct); got != tc.want {
				t.Errorf("typeMatches(%q) = %v, want %v", tc.ct, got, tc.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Compress
	}{
		{"unknown encoding", config.Compress{Encodings: []string{"deflate"}}},
		{"duplicate encoding", config.Compress{Encodings: []string{"br", "br"}}},
		{"gzip level", config.Compress{Encodings: []string{"gzip"}, Levels: map[string]int{"gzip": 12}}},
		{"zstd level", config.Compress{Encodings: []string{"zstd"}, Levels: map[string]int{"zstd": 0}}},
		{"br level", config.Compress{Encodings: []string{"br"}, Levels: map[string]int{"br": 12}}},
		{"bad type", config.Compress{Encodings: []string{"br"}, Types: []string{"json"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, nil); err == nil {
				t.Errorf("New(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
