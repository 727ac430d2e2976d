package cache

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	many := "bytes=" + strings.Repeat("0-0,", 101) + "0-0"
	for _, tc := range []struct {
		name    string
		in      string
		size    int64
		want    []byteRange
		wantErr error
	}{
		{"§14.1.2 first and last", "bytes=0-499", 10000, []byteRange{{0, 500}}, nil},
		{"§14.1.2 second 500 bytes", "bytes=500-999", 10000, []byteRange{{500, 500}}, nil},
		{"§14.1.2 suffix range", "bytes=-500", 10000, []byteRange{{9500, 500}}, nil},
		{"§14.1.2 suffix longer than the representation", "bytes=-500", 100, []byteRange{{0, 100}}, nil},
		{"§14.1.2 open-ended", "bytes=9500-", 10000, []byteRange{{9500, 500}}, nil},
		{"§14.1.2 last-pos past the end is clamped", "bytes=9000-20000", 10000, []byteRange{{9000, 1000}}, nil},
		{"§14.1.2 first and last byte", "bytes=0-0,-1", 10000, []byteRange{{0, 1}, {9999, 1}}, nil},
		{"§14.1 unit is case-insensitive", "Bytes=0-1", 10, []byteRange{{0, 2}}, nil},
		{"§14.1.2 whitespace around specs", "bytes= 0-1 , 4-5 ", 10, []byteRange{{0, 2}, {4, 2}}, nil},
		{"§15.3.7.2 order kept when nothing coalesces", "bytes=8-9,0-1", 10, []byteRange{{8, 2}, {0, 2}}, nil},
		{"§15.3.7.2 overlapping ranges coalesce", "bytes=500-700,601-999", 10000, []byteRange{{500, 500}}, nil},
		{"§15.3.7.2 touching ranges coalesce", "bytes=0-4,5-9", 10, []byteRange{{0, 10}}, nil},
		{"§15.3.7.2 coalesced range takes the first member's place", "bytes=8-9,0-1,1-3", 10, []byteRange{{8, 2}, {0, 4}}, nil},
		{"§14.1.1 unsatisfiable first-pos", "bytes=10000-", 10000, nil, errUnsatisfiable},
		{"§14.1.1 zero suffix is unsatisfiable", "bytes=-0", 10000, nil, errUnsatisfiable},
		{"§14.1.1 one satisfiable is enough", "bytes=20000-,0-0", 10000, []byteRange{{0, 1}}, nil},
		{"§14.1.1 last before first is invalid, ignored", "bytes=5-1", 10, nil, nil},
		{"§14.2 unknown unit ignored", "items=0-1", 10, nil, nil},
		{"§14.2 malformed ignored", "bytes=a-b", 10, nil, nil},
		{"§14.2 no specs ignored", "bytes=", 10, nil, nil},
		{"§14.2 missing dash ignored", "bytes=5", 10, nil, nil},
		{"§14.2 more than 100 ranges ignored", many, 10, nil, nil},
		{"§17.15 absurd overlap ignored", "bytes=0-,0-,0-", 10, nil, nil},
		{"§14.1.2 zero-length representation ignored", "bytes=0-", 0, nil, nil},
		{"§14.1.2 huge positions do not overflow", "bytes=99999999999999999999999-", 10, nil, errUnsatisfiable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRange(tc.in, tc.size)
			if !reflect.DeepEqual(got, tc.want) || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("parseRange(%q, %d) = %v, %v, want %v, %v", tc.in, tc.size, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestServeRanges(t *testing.T) {
	body := []byte("0123456789abcdefghij")
	stored := http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"20"}, "Etag": {`"x"`}}

	t.Run("§14.4 one range is a 206 with Content-Range", func(t *testing.T) {
		rec := httptest.NewRecorder()
		serveRanges(rec, 200, stored, body, []byteRange{{2, 3}})
		res := rec.Result()
		if res.StatusCode != 206 || res.Header.Get("Content-Range") != "bytes 2-4/20" || res.Header.Get("Content-Length") != "3" || rec.Body.String() != "234" {
			t.Errorf("serveRanges one range = %d %v %q, want 206, bytes 2-4/20, length 3, %q", res.StatusCode, res.Header, rec.Body.String(), "234")
		}
		if res.Header.Get("Etag") != `"x"` || res.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("serveRanges dropped stored fields: %v", res.Header)
		}
		if stored.Get("Content-Length") != "20" {
			t.Errorf("serveRanges modified the stored header")
		}
	})

	t.Run("§14.6 several ranges are multipart/byteranges", func(t *testing.T) {
		rec := httptest.NewRecorder()
		ranges := []byteRange{{15, 5}, {0, 2}}
		serveRanges(rec, 200, stored, body, ranges)
		res := rec.Result()
		if res.StatusCode != 206 {
			t.Fatalf("status = %d, want 206", res.StatusCode)
		}
		if got, want := res.Header.Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
			t.Errorf("Content-Length = %s, body has %s bytes", got, want)
		}
		mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("Content-Type = %q (%v), want multipart/byteranges", res.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(rec.Body, params["boundary"])
		for i, r := range ranges {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			data, _ := io.ReadAll(p)
			wantRange := fmt.Sprintf("bytes %d-%d/20", r.start, r.start+r.length-1)
			if p.Header.Get("Content-Range") != wantRange || p.Header.Get("Content-Type") != "text/plain" || string(data) != string(body[r.start:r.start+r.length]) {
				t.Errorf("part %d = %v %q, want %s text/plain %q", i, p.Header, data, wantRange, body[r.start:r.start+r.length])
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("after the parts: %v, want EOF", err)
		}
	})

	t.Run("§14.6 parts without a Content-Type", func(t *testing.T) {
		rec := httptest.NewRecorder()
		serveRanges(rec, 200, http.Header{}, body, []byteRange{{0, 1}, {5, 1}})
		if got, want := rec.Result().Header.Get("Content-Length"), strconv.Itoa(rec.Body.Len()); got != want {
			t.Errorf("Content-Length = %s, body has %s bytes", got, want)
		}
	})

	t.Run("§14.2 no ranges sends the whole body", func(t *testing.T) {
		rec := httptest.NewRecorder()
		serveRanges(rec, 200, stored, body, nil)
		if rec.Code != 200 || rec.Body.String() != string(body) || rec.Result().Header.Get("Content-Length") != "20" {
			t.Errorf("serveRanges without ranges = %d %q", rec.Code, rec.Body.String())
		}
	})

	t.Run("§15.5.17 416 with Content-Range bytes */size", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "text/plain")
		serveUnsatisfiable(rec, 20)
		res := rec.Result()
		if res.StatusCode != 416 || res.Header.Get("Content-Range") != "bytes */20" || rec.Body.Len() != 0 {
			t.Errorf("serveUnsatisfiable = %d %v %q, want 416 with bytes */20", res.StatusCode, res.Header, rec.Body.String())
		}
	})
}
