package gateway

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"palisade/internal/testenv"
)

// rawClient sends requests as written: no Accept-Encoding of its own, no
// transparent decompression.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func doRaw(t *testing.T, h *harness, path string, hdr ...string) reply {
	t.Helper()
	req := newRequest(t, "GET", h.url(path), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	status, body, header := get(t, rawClient, req)
	return reply{status, body, header}
}

// TestRFC9111_4_1_AcceptEncodingKeyedByChosenCoding: with compress inside
// the cache on one route, clients whose Accept-Encoding the compressor
// answers with the same coding share one stored variant.
func TestRFC9111_4_1_AcceptEncodingKeyedByChosenCoding(t *testing.T) {
	text := strings.Repeat("all work and no play makes jack a dull boy\n", 100)
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, text)
	}}
	addr := testenv.Backend(t, o).Listener.Addr().String()
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners:
  - {name: web, address: "127.0.0.1:0"}
cache_zones:
  - {name: z, max_size: 16MiB, max_object_size: 1MiB}
routes:
  - name: app
    match: {path_prefix: /}
    middlewares:
      - {kind: compress, encodings: [gzip, br]}
      - {kind: cache, zone: z}
    upstream: app
upstreams:
  - {name: app, backends: [{address: %q}]}
`, addr))
	for _, tc := range []struct {
		name, acceptEncoding string
		wantCoding           string // Content-Encoding sent
		wantOrigin           int64  // origin requests so far
	}{
		{"first gzip client fills", "gzip, br", "gzip", 1},
		{"reordered with weights", "br;q=1, gzip", "gzip", 1},
		{"a coding the route does not produce", "zstd, gzip, br", "gzip", 1},
		{"case and x-gzip", "X-GZIP", "gzip", 1},
		{"br preferred by weight is another variant", "gzip;q=0.5, br", "br", 2},
		{"br again", "br", "br", 2},
		{"no Accept-Encoding is identity", "", "", 3},
		{"identity shares it", "identity", "", 3},
		{"nothing we produce shares it too", "deflate", "", 3},
		{"no-transform is identity whatever it accepts", "gzip", "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.acceptEncoding != "" {
				hdr = append(hdr, "Accept-Encoding", tc.acceptEncoding)
			}
			if strings.HasPrefix(tc.name, "no-transform") {
				hdr = append(hdr, "Cache-Control", "no-transform")
			}
			r := doRaw(t, h, "/doc", hdr...)
			if got := r.header.Get("Content-Encoding"); got != tc.wantCoding {
				t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.acceptEncoding, got, tc.wantCoding)
			}
			if got := o.count(); got != tc.wantOrigin {
				t.Errorf("Accept-Encoding %q: origin has seen %d requests, want %d (Cache-Status %q)", tc.acceptEncoding, got, tc.wantOrigin, r.header.Get("Cache-Status"))
			}
			body := r.body
			if tc.wantCoding == "gzip" {
				zr, err := gzip.NewReader(strings.NewReader(r.body))
				if err != nil {
					t.Fatalf("gzip body: %v", err)
				}
				b, err := io.ReadAll(zr)
				if err != nil {
					t.Fatalf("gzip body: %v", err)
				}
				body = string(b)
			}
			if tc.wantCoding != "br" && body != text {
				t.Errorf("Accept-Encoding %q: body of %d bytes is not the origin's %d", tc.acceptEncoding, len(body), len(text))
			}
		})
	}
}

// TestRFC9111_4_1_AcceptEncodingWithoutCompress: without a compressor the
// variant is keyed by the codings the field accepts, not by how it spells
// them.
func TestRFC9111_4_1_AcceptEncodingWithoutCompress(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Vary", "Accept-Encoding")
		fmt.Fprintf(w, "variant %d", n)
	})
	for _, tc := range []struct {
		acceptEncoding string
		want           string
	}{
		{"gzip, br", "variant 1"},
		{"BR;q=0.5, gzip", "variant 1"},
		{"gzip, br, zstd;q=0", "variant 1"},
		{"br", "variant 2"},
		{"br, gzip;q=0", "variant 2"},
		{"br, identity;q=0", "variant 3"},
	} {
		if r := doRaw(t, h, "/v", "Accept-Encoding", tc.acceptEncoding); r.body != tc.want {
			t.Errorf("Accept-Encoding %q: %q, want %q", tc.acceptEncoding, r.body, tc.want)
		}
	}
	if o.count() != 3 {
		t.Errorf("origin saw %d requests, want 3", o.count())
	}
}
