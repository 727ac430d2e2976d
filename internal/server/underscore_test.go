package server

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"palisade/internal/testenv"
)

// underscoreKeys returns the sorted header keys of h that hold an
// underscore, joined by commas.
func underscoreKeys(h http.Header) string {
	var keys []string
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// Regression (issue 11, item 7): a field named Transfer_Encoding,
// Content_Length or X_Forwarded_For reached the handler, and so a CGI,
// FastCGI, WSGI or Rack backend, which reads it as the field it imitates.
func TestUnderscoreFields(t *testing.T) {
	const raw = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n" +
		"Content_Length: 0\r\nX_Forwarded_For: 1.2.3.4\r\n\r\nhello"
	const chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X_Trailer, X-Ok\r\n\r\n" +
		"5\r\nhello\r\n0\r\nX_Trailer: 1\r\nX-Ok: 2\r\n\r\n"
	for _, tc := range []struct {
		name          string
		policy        UnderscorePolicy
		status        int
		keys, trailer string
	}{
		{"drop", UnderscoresDrop, 200, "", "X-Ok"},
		{"keep", UnderscoresKeep, 200, "Content_length,Transfer_encoding,X_forwarded_for", "X-Ok,X_trailer"},
		{"reject", UnderscoresReject, 400, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultTestOptions()
			o.Underscores = tc.policy
			type seen struct{ keys, body, trailer string }
			got := make(chan seen, 1)
			ts := startServer(t, o, func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, "bad body", http.StatusBadRequest)
					got <- seen{}
					return
				}
				var tr []string
				for k := range r.Trailer {
					tr = append(tr, k)
				}
				slices.Sort(tr)
				got <- seen{underscoreKeys(r.Header), string(body), strings.Join(tr, ",")}
			})

			cl := ts.client(t)
			cl.send(raw)
			resp, _ := cl.response("POST")
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 200 {
				s := <-got
				if s.keys != tc.keys || s.body != "hello" {
					t.Errorf("handler saw fields %q and body %q, want %q and %q", s.keys, s.body, tc.keys, "hello")
				}
			} else if n := ts.calls.Load(); n != 0 {
				t.Errorf("handler ran %d times, want 0", n)
			}

			cl = ts.client(t)
			cl.send(chunked)
			resp, _ = cl.response("POST")
			if resp.StatusCode != tc.status {
				t.Fatalf("chunked: status = %d, want %d", resp.StatusCode, tc.status)
			}
			if s := <-got; s.trailer != tc.trailer {
				t.Errorf("chunked: handler saw trailers %q, want %q", s.trailer, tc.trailer)
			}
		})
	}
}

// TestUnderscoreFieldsH2 covers h2c and h2 over TLS: both go through
// h2Limits in front of the handler.
func TestUnderscoreFieldsH2(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy UnderscorePolicy
		status int
		keys   string
	}{
		{"drop", UnderscoresDrop, 200, ""},
		{"keep", UnderscoresKeep, 200, "Content_length,X_forwarded_for"},
		{"reject", UnderscoresReject, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultTestOptions()
			o.Underscores = tc.policy
			echo := func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, underscoreKeys(r.Header))
			}
			h2c := startServer(t, o, echo)
			h2, ca := startTLSServer(t, o, echo)
			for _, m := range []struct {
				name, url string
				client    *http.Client
			}{
				{"h2c", "http://" + h2c.addr + "/", h2cClient(t)},
				{"h2", "https://" + h2.addr + "/", testenv.TLSClient(t, ca.Pool, testenv.H2)},
			} {
				req, err := http.NewRequest("GET", m.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header["X_Forwarded_For"] = []string{"1.2.3.4"}
				req.Header["Content_Length"] = []string{"0"}
				resp, err := m.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 {
					t.Fatalf("%s: proto = %d, want 2", m.name, resp.ProtoMajor)
				}
				if resp.StatusCode != tc.status {
					t.Errorf("%s: status = %d, want %d", m.name, resp.StatusCode, tc.status)
				} else if tc.status == 200 && string(body) != tc.keys {
					t.Errorf("%s: handler saw fields %q, want %q", m.name, body, tc.keys)
				}
			}
		})
	}
}

// TestParseUnderscoreAllocs: the underscore check allocates nothing, and
// a dropped field costs no allocation.
func TestParseUnderscoreAllocs(t *testing.T) {
	const common = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n" +
		"Accept-Encoding: gzip\r\nX-Request-Id: abc\r\n"
	parse := func(head string, lines int, p UnderscorePolicy) float64 {
		o := defaultTestOptions()
		o.Underscores = p
		var blk requestBlock
		return testing.AllocsPerRun(100, func() {
			blk = requestBlock{}
			if _, rj := parseRequest(head, lines, &o, &blk); rj.status != 0 {
				t.Fatalf("parseRequest refused: %s", rj.why)
			}
		})
	}
	base := parse(common+"\r\n", 5, UnderscoresDrop)
	if keep := parse(common+"\r\n", 5, UnderscoresKeep); keep != base {
		t.Errorf("allocations: keep %v, drop %v on a head without underscores, want equal", keep, base)
	}
	if drop := parse(common+"X_Forwarded_For: 1.2.3.4\r\n\r\n", 5, UnderscoresDrop); drop > base {
		t.Errorf("allocations with a dropped field = %v, want at most %v", drop, base)
	}
	t.Logf("parseRequest allocates %v times for a common head", base)
}
