package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// eofConn is a net.Conn with nothing more to read, for parsing a byte
// slice with the connection's head scanner.
type eofConn struct{ net.Conn }

func (eofConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (eofConn) SetReadDeadline(time.Time) error  { return nil }
func (eofConn) SetWriteDeadline(time.Time) error { return nil }

// parseBytes runs the head scanner and parser over data as the connection
// loop does. It returns the request (nil when refused) and the offset of
// the request line in data (after tolerated empty lines).
func parseBytes(data []byte, o *Options) (*http.Request, int) {
	s := New(http.NotFoundHandler(), *o, nil)
	c := &conn{srv: s, nc: eofConn{}, opts: o}
	c.rbuf = make([]byte, max(len(data), blockSize))
	c.rend = copy(c.rbuf, data)
	head, lines, rj, err := c.readHead(o)
	if err != nil || rj.status != 0 {
		return nil, 0
	}
	blk := new(requestBlock)
	if _, rj := parseRequest(head, lines, o, blk); rj.status != 0 {
		return nil, 0
	}
	return &blk.req, c.rpos - len(head)
}

// FuzzParseRequest checks our parser against net/http's: whatever we
// accept, http.ReadRequest accepts too and reads the same method, URL,
// host, header fields and Content-Length. We refuse much that net/http
// accepts (see docs/hardening.md); that direction is not checked.
// Deliberate differences in what is read: the empty lines we tolerate
// before the request line are stripped before net/http sees the bytes
// (its server skips them too, ReadRequest does not); Host is removed from
// the Header map as net/http's server does; net/http's
// fixPragmaCacheControl adds Cache-Control when Pragma: no-cache is sent,
// we do not; fields whose names hold an underscore are dropped
// (Options.Underscores).
func FuzzParseRequest(f *testing.F) {
	for _, tc := range strictCases {
		f.Add([]byte(tc.req))
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("POST /x?y=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-A\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("GET http://h:1/a%20b HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer_Encoding: chunked\r\nX_A: 1\r\n\r\nx"))
	o := Options{MaxHeaderBytes: 4096, MaxHeaderCount: 64}.normalized()
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, off := parseBytes(data, &o)
		if ours == nil {
			return
		}
		theirs, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data[off:])))
		if err != nil {
			t.Fatalf("we accept %q, net/http refuses: %v", data, err)
		}
		if ours.Method != theirs.Method || ours.RequestURI != theirs.RequestURI || ours.Proto != theirs.Proto {
			t.Errorf("request line: ours %q %q %q, net/http %q %q %q", ours.Method, ours.RequestURI, ours.Proto, theirs.Method, theirs.RequestURI, theirs.Proto)
		}
		if *ours.URL != *theirs.URL {
			t.Errorf("URL: ours %#v, net/http %#v", *ours.URL, *theirs.URL)
		}
		if ours.Host != theirs.Host {
			t.Errorf("Host: ours %q, net/http %q", ours.Host, theirs.Host)
		}
		if ours.ContentLength != theirs.ContentLength {
			t.Errorf("ContentLength: ours %d, net/http %d", ours.ContentLength, theirs.ContentLength)
		}
		if !slices.Equal(ours.TransferEncoding, theirs.TransferEncoding) {
			t.Errorf("TransferEncoding: ours %q, net/http %q", ours.TransferEncoding, theirs.TransferEncoding)
		}
		want := theirs.Header.Clone()
		delete(want, "Host")
		// Options.Underscores is UnderscoresDrop: names with "_" go.
		for k := range want {
			if strings.IndexByte(k, '_') >= 0 {
				delete(want, k)
			}
		}
		if _, ok := ours.Header["Cache-Control"]; !ok && ours.Header.Get("Pragma") != "" {
			delete(want, "Cache-Control")
		}
		if len(ours.Header) != len(want) {
			t.Errorf("Header: ours %q, net/http %q", ours.Header, want)
		}
		for k, v := range want {
			if !slices.Equal(ours.Header[k], v) {
				t.Errorf("Header[%q]: ours %q, net/http %q", k, ours.Header[k], v)
			}
		}
		if ours.Close != theirs.Close {
			t.Errorf("Close: ours %v, net/http %v", ours.Close, theirs.Close)
		}
	})
}
