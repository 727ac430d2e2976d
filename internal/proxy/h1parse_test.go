package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"palisade/internal/config"
)

// parseHead runs the transport's head reading on raw.
func parseHead(raw string) (*http.Response, framing, error) {
	br := bufio.NewReaderSize(strings.NewReader(raw), readBufferSize)
	block, err := peekBlock(br)
	if err != nil {
		return nil, framing{}, err
	}
	resp := &http.Response{}
	f, err := parseResponseHead(string(block), resp, nil)
	return resp, f, err
}

func TestParseResponseHead(t *testing.T) {
	for _, tc := range []struct {
		name, raw   string
		status      int
		cl          int64
		chunked     bool
		closeAfter  bool
		header      map[string]string
		trailerKeys []string
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200, cl: 5},
		{name: "no reason phrase", raw: "HTTP/1.1 204\r\n\r\n", status: 204, cl: -1},
		{name: "empty reason phrase", raw: "HTTP/1.1 404 \r\n\r\n", status: 404, cl: -1},
		{name: "HTTP/1.0 closes", raw: "HTTP/1.0 200 OK\r\n\r\n", status: 200, cl: -1, closeAfter: true},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", status: 200},
		{name: "Connection close", raw: "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", status: 200, closeAfter: true},
		{name: "chunked, any case", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", status: 200, cl: -1, chunked: true},
		{name: "identical lengths in a list", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n",
			status: 200, cl: 5, header: map[string]string{"Content-Length": "5"}},
		{name: "keys canonicalised", raw: "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nx-EMPTY:\r\nContent-Length: 0\r\n\r\n",
			status: 200, header: map[string]string{"Content-Type": "text/html", "X-Empty": ""}},
		{name: "repeated fields", raw: "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
			status: 200, header: map[string]string{"Set-Cookie": "a=1|b=2"}},
		{name: "whitespace around values", raw: "HTTP/1.1 200 OK\r\nX-A: \t v \t\r\nContent-Length: 0\r\n\r\n",
			status: 200, header: map[string]string{"X-A": "v"}},
		{name: "obs-text in a value", raw: "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
			status: 200, header: map[string]string{"X-A": "caf\xc3\xa9"}},
		{name: "trailers declared", raw: "HTTP/1.1 200 OK\r\nTrailer: X-A, x-b\r\nTransfer-Encoding: chunked\r\n\r\n",
			status: 200, cl: -1, chunked: true, trailerKeys: []string{"X-A", "X-B"}, header: map[string]string{"Trailer": ""}},
		{name: "informational", raw: "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", status: 103, cl: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, f, err := parseHead(tc.raw)
			if err != nil {
				t.Fatalf("parse(%q): %v", tc.raw, err)
			}
			if resp.StatusCode != tc.status || f.contentLength != tc.cl || f.chunked != tc.chunked || f.closeAfter != tc.closeAfter {
				t.Errorf("parse(%q) = status %d length %d chunked %v close %v, want %d %d %v %v", tc.raw,
					resp.StatusCode, f.contentLength, f.chunked, f.closeAfter, tc.status, tc.cl, tc.chunked, tc.closeAfter)
			}
			for k, want := range tc.header {
				if got := strings.Join(resp.Header[k], "|"); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			for _, k := range tc.trailerKeys {
				if _, ok := resp.Trailer[k]; !ok {
					t.Errorf("trailer %s not declared (Trailer %v)", k, resp.Trailer)
				}
			}
		})
	}
}

func TestParseResponseHeadRejects(t *testing.T) {
	for _, tc := range []struct{ name, raw string }{
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"},
		{"bare LF in a field", "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0\r\n\r\n"},
		{"obsolete line folding", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n"},
		{"whitespace before colon", "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n"},
		{"no colon", "HTTP/1.1 200 OK\r\nX-A\r\n\r\n"},
		{"invalid field name", "HTTP/1.1 200 OK\r\nX(A): a\r\n\r\n"},
		{"NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n"},
		{"CR in a value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n"},
		{"length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"},
		{"different lengths in a list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"length with a sign", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"},
		{"other transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
		{"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"chunked in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"HTTP/2 status line", "HTTP/2.0 200 OK\r\n\r\n"},
		{"short status code", "HTTP/1.1 20 OK\r\n\r\n"},
		{"status below 100", "HTTP/1.1 099 Odd\r\n\r\n"},
		{"letters in the status", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"no space after the code", "HTTP/1.1 200OK\r\n\r\n"},
		{"control in the reason", "HTTP/1.1 200 O\x01K\r\n\r\n"},
		{"garbage", "hello\r\n\r\n"},
		{"head over the buffer", "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", readBufferSize) + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := parseHead(tc.raw); err == nil {
				t.Errorf("parse(%q) succeeded, want an error", tc.raw)
			}
		})
	}
}

func TestChunkSize(t *testing.T) {
	for _, tc := range []struct {
		line string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"5", 5, true}, {"aF", 0xaf, true}, {"10;name=value", 16, true},
		{"10 ; name", 16, true}, {"7fffffffffffffff", 0, false}, {"", 0, false}, {";x", 0, false},
		{"5 x", 0, false}, {"-5", 0, false}, {"5;a\x00", 0, false},
	} {
		got, err := parseChunkSize([]byte(tc.line))
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseChunkSize(%q) = %d, %v; want %d ok=%v", tc.line, got, err, tc.want, tc.ok)
		}
	}
}

// TestResponseFramingEndToEnd sends hand-written responses through the
// whole path and checks what a client reads: the body, or a truncation.
func TestResponseFramingEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name, resp, body string
		closeAfter       bool
		trailer          string
	}{
		{name: "chunk extensions", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n", body: "hello"},
		{name: "upper-case hex", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", body: "0123456789"},
		{name: "many small chunks", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strings.Repeat("1\r\nx\r\n", 1000) + "0\r\n\r\n", body: strings.Repeat("x", 1000)},
		{name: "undeclared trailer", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 42\r\n\r\n",
			body: "hi", trailer: "42"},
		{name: "body until close", resp: "HTTP/1.1 200 OK\r\n\r\nall of it", body: "all of it", closeAfter: true},
		{name: "HTTP/1.0 with length", resp: "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", body: "abc"},
		{name: "bare LF in a chunk-size line", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"},
		{name: "chunk longer than declared", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n"},
		{name: "chunk size overflow", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n"},
		{name: "invalid trailer", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX A: 1\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				answerOnce(c, br, tc.resp)
				if tc.closeAfter || tc.body == "" {
					c.Close()
					return
				}
				io.Copy(io.Discard, br)
			})
			front, client := newFront(t, New(newTarget(t, config.Upstream{}, be.addr()), Options{}, nil))
			resp, err := client.Get(front.URL)
			if err != nil {
				if tc.body != "" {
					t.Fatal(err)
				}
				// Aborted before the head left the server's buffer.
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.body == "" {
				if err == nil {
					t.Errorf("client read %q completely, want a truncated response", body)
				}
				return
			}
			if err != nil || string(body) != tc.body {
				t.Errorf("client read %q, %v; want %q", body, err, tc.body)
			}
			if tc.trailer != "" && resp.Trailer.Get("X-Sum") != tc.trailer {
				t.Errorf("trailer X-Sum = %q, want %q", resp.Trailer.Get("X-Sum"), tc.trailer)
			}
		})
	}
}
