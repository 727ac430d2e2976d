package server

import (
	"net/http"
	"strings"
	"testing"
)

// strictCases are requests refused before the handler, with the status
// each must get. They are also seeds of FuzzParseRequest.
var strictCases = []struct {
	name, req string
	status    int
}{
	{"extra space before target", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"extra space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
	{"space inside target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"missing version (HTTP/0.9)", "GET /\r\n\r\n", 400},
	{"HTTP/0.9 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 400},
	{"HTTP/2 in text form", "GET / HTTP/2\r\nHost: a\r\n\r\n", 400},
	{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
	{"two-digit version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	{"PRI without full preface", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 505},
	{"method not a token", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target with DEL", "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target with non-ASCII", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"target with fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"dot-dot segment", "GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"dot segment", "GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"trailing dot-dot", "GET /a/.. HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"encoded dot-dot", "GET /a/%2e%2E/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"half encoded dot-dot", "GET /a/.%2e?x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"encoded dot", "GET /%2E/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"dot-dot in absolute-form", "GET http://a/x/../y HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"asterisk-form with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute-form with userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"absolute-form bad scheme", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"bare LF ending request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
	{"bare LF ending field line", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400},
	{"bare LF ending head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
	{"CR alone in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
	{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
	{"first field line folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
	{"tab before colon", "GET / HTTP/1.1\r\nHost: a\r\nX\t: y\r\n\r\n", 400},
	{"empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: y\r\n\r\n", 400},
	{"field name not a token", "GET / HTTP/1.1\r\nHost: a\r\nX(y: z\r\n\r\n", 400},
	{"field line without colon", "GET / HTTP/1.1\r\nHost: a\r\nXy\r\n\r\n", 400},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400},
	{"missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400},
	{"two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
	{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
	{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
	{"Host with bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
	{"Host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400},
	{"two identical Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400},
	{"Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", 400},
	{"Content-Length not digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\nx", 400},
	{"Content-Length signed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", 400},
	{"Content-Length empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
	{"Content-Length overlong", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000001\r\n\r\nx", 400},
	{"Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"Content-Length after Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
	{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"unsupported coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
	{"chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
	{"chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
	{"coding without chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
	{"garbage coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun ked\r\n\r\n0\r\n\r\n", 400},
	{"chunked with parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400},
	{"empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400},
	{"two Transfer-Encoding lines", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
	{"Upgrade to h2c", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 400},
	{"HTTP2-Settings", "GET / HTTP/1.1\r\nHost: a\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", 400},
	{"three empty lines first", "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	{"forbidden trailer declared", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", 400},
	{"body over the limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", 413},
	{"body over the limit with 100-continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n", 413},
	{"unknown expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
	{"too many field lines", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 10) + "\r\n", 431},
	{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("y", 600) + "\r\n\r\n", 431},
}

func strictOptions() Options {
	o := defaultTestOptions()
	o.MaxHeaderCount = 8
	o.MaxHeaderBytes = 512
	o.MaxBodyBytes = 1000
	return o
}

func TestStrictRequests(t *testing.T) {
	ts := startServer(t, strictOptions(), okHandler)
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			cl := ts.client(t)
			cl.send(tc.req)
			resp, _ := cl.response(http.MethodGet)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if !resp.Close {
				t.Errorf("response without Connection: close")
			}
			if !cl.closed() {
				t.Errorf("connection still open after the error response")
			}
		})
	}
	if n := ts.calls.Load(); n != 0 {
		t.Errorf("handler called %d times, want 0", n)
	}
}

// TestAcceptedEdgeCases are requests near a rule that must still reach the
// handler, with what the handler must see.
func TestAcceptedEdgeCases(t *testing.T) {
	type seen struct{ method, host, path, rawQuery, uri string }
	for _, tc := range []struct {
		name, req string
		want      seen
	}{
		{"two empty lines first", "\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n", seen{"GET", "h", "/a", "", "/a"}},
		{"absolute-form authority wins over Host", "GET http://t.example:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", seen{"GET", "t.example:8080", "/p", "q=1", "http://t.example:8080/p?q=1"}},
		{"asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", seen{"OPTIONS", "h", "*", "", "*"}},
		{"HTTP/1.0 without Host", "GET /x HTTP/1.0\r\n\r\n", seen{"GET", "", "/x", "", "/x"}},
		{"dots inside a segment", "GET /a..b/.c/..d HTTP/1.1\r\nHost: h\r\n\r\n", seen{"GET", "h", "/a..b/.c/..d", "", "/a..b/.c/..d"}},
		{"percent-encoded path", "GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\n", seen{"GET", "h", "/a b", "", "/a%20b"}},
		{"IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", seen{"GET", "[::1]:80", "/", "", "/"}},
		{"lowercase field names", "GET / HTTP/1.1\r\nhost: h\r\n\r\n", seen{"GET", "h", "/", "", "/"}},
		{"CONNECT authority-form", "CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n", seen{"CONNECT", "h.example:443", "", "", "h.example:443"}},
		{"custom method", "PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n", seen{"PURGE", "h", "/x", "", "/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan seen, 1)
			ts := startServer(t, defaultTestOptions(), func(w http.ResponseWriter, r *http.Request) {
				got <- seen{r.Method, r.Host, r.URL.Path, r.URL.RawQuery, r.RequestURI}
			})
			cl := ts.client(t)
			cl.send(tc.req)
			resp, _ := cl.response(http.MethodGet)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if g := <-got; g != tc.want {
				t.Errorf("handler saw %+v, want %+v", g, tc.want)
			}
		})
	}
}
