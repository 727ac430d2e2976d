package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
)

// FuzzParseResponseHead checks that the response head parser never panics
// and is stricter than net/http, never different: what it accepts,
// http.ReadResponse accepts too, with the same status and framing.
// Seeds are in testdata/fuzz/FuzzParseResponseHead.
func FuzzParseResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), readBufferSize)
		block, err := peekBlock(br)
		if err != nil {
			return
		}
		var resp http.Response
		fr, err := parseResponseHead(string(block), &resp, nil)
		if err != nil {
			return
		}
		if resp.StatusCode < 100 || resp.StatusCode > 999 {
			t.Fatalf("accepted status %d", resp.StatusCode)
		}
		for k, vv := range resp.Header {
			if !httpsyntax.IsToken(k) {
				t.Fatalf("accepted field name %q", k)
			}
			for _, v := range vv {
				if !httpsyntax.ValidFieldValue(v) {
					t.Fatalf("accepted value %q", v)
				}
			}
		}
		std, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(block)), nil)
		if err != nil {
			// net/http does not take a Content-Length list ("5, 5") that
			// RFC 9110 §8.6 allows.
			if strings.Contains(err.Error(), "Content-Length") {
				return
			}
			t.Fatalf("we accepted %q, net/http rejects it: %v", block, err)
		}
		if std.StatusCode != resp.StatusCode {
			t.Fatalf("status %d, net/http %d", resp.StatusCode, std.StatusCode)
		}
		bodyless := resp.StatusCode < 200 || resp.StatusCode == 204 || resp.StatusCode == 304
		if !bodyless && fr.chunked != (len(std.TransferEncoding) > 0) {
			t.Fatalf("chunked %v, net/http TransferEncoding %v", fr.chunked, std.TransferEncoding)
		}
		if !bodyless && !fr.chunked && fr.contentLength >= 0 && std.ContentLength != fr.contentLength {
			t.Fatalf("length %d, net/http %d", fr.contentLength, std.ContentLength)
		}
	})
}

// nopConn is a net.Conn that does nothing, for decoding bodies from memory.
type nopConn struct{ net.Conn }

func (nopConn) Close() error                       { return nil }
func (nopConn) SetReadDeadline(time.Time) error    { return nil }
func (nopConn) SetDeadline(time.Time) error        { return nil }
func (nopConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzChunkedBody decodes chunked bodies with h1Body and checks it never
// panics and, where httputil's chunked reader also succeeds, both read the
// same bytes. Seeds are in testdata/fuzz/FuzzChunkedBody.
func FuzzChunkedBody(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"))
	tr := newH1Transport(config.Upstream{}, nil)
	p := tr.poolForTest("fuzz")
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), readBufferSize)
		c := &h1Conn{pool: p, nc: nopConn{}, br: br}
		b := &h1Body{c: c, br: br, resp: &http.Response{}, ctx: context.Background(), mode: bodyChunked}
		got, err := io.ReadAll(b)
		if err != nil {
			return
		}
		want, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("decoded %q, httputil %q", got, want)
		}
	})
}
