package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"palisade/internal/httpsyntax"
)

// errBadResponse is wrapped by every rejection of the backend's response
// framing; the handler answers 502 and the connection is closed.
var errBadResponse = errors.New("malformed backend response")

// errNoResponse is wrapped when a connection ended before the first byte of
// a response head: on a reused connection that is the sign of a stale keep
// alive connection closed by the backend, and the request may be retried.
var errNoResponse = errors.New("backend closed the connection before responding")

func badResponse(what string) error { return fmt.Errorf("%w: %s", errBadResponse, what) }

// maxInformational bounds the 1xx responses accepted before the final one,
// so that a backend cannot keep an exchange busy with them.
const maxInformational = 16

// framing is how the body of a response is delimited (RFC 9112 §6.3).
type framing struct {
	// contentLength is the declared length, or -1 when absent.
	contentLength int64
	chunked       bool
	// closeAfter reports that the backend will not take another request on
	// the connection (Connection: close, or HTTP/1.0 without keep-alive).
	closeAfter bool
}

// peekBlock returns the buffered bytes of br up to and including the first
// empty line, reading more as needed, without consuming them. It rejects a
// bare LF anywhere in the block (RFC 9112 §2.2: we do not accept LF as a line
// terminator from a backend), and a block that does not fit in br's buffer.
func peekBlock(br *bufio.Reader) ([]byte, error) {
	lineStart := 0 // Offset of the first line not yet seen complete.
	for {
		n := br.Buffered()
		buf, _ := br.Peek(n)
		for {
			j := bytes.IndexByte(buf[lineStart:], '\n')
			if j < 0 {
				break
			}
			lf := lineStart + j
			if lf == 0 || buf[lf-1] != '\r' {
				return nil, badResponse("bare LF")
			}
			if lf == lineStart+1 {
				return buf[:lf+1], nil
			}
			lineStart = lf + 1
		}
		if n >= br.Size() {
			return nil, badResponse("head larger than the read buffer")
		}
		if _, err := br.Peek(n + 1); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// parseResponseHead parses a response head (status line, fields, empty line)
// into resp and returns its framing. Field values are sliced from head
// and held in vals when it is long enough, else in a new slice; the caller
// must not reuse vals while resp.Header is in use. It is strict where leniency lets a
// backend smuggle a second response into the body of the first: obsolete
// line folding, whitespace before a colon, invalid bytes in names or values,
// Transfer-Encoding other than chunked, Transfer-Encoding together with
// Content-Length, and Content-Length values that disagree are all rejected
// (RFC 9112 §5, §6.1, §6.3).
func parseResponseHead(head string, resp *http.Response, vals []string) (framing, error) {
	f := framing{contentLength: -1}
	line, rest, ok := strings.Cut(head, "\r\n")
	if !ok {
		return f, badResponse("no status line")
	}
	// RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason ].
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[8] != ' ' {
		return f, badResponse("invalid status line")
	}
	switch line[7] {
	case '0':
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.0", 1, 0
		f.closeAfter = true
	case '1':
		resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	default:
		return f, badResponse("unsupported HTTP version")
	}
	code := 0
	for i := 9; i < 12; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return f, badResponse("invalid status code")
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return f, badResponse("invalid status code")
	}
	// The reason phrase is optional and some servers omit the space before
	// it too; both are harmless.
	if len(line) > 12 {
		if line[12] != ' ' || !httpsyntax.ValidFieldValue(line[13:]) {
			return f, badResponse("invalid reason phrase")
		}
	}
	resp.StatusCode = code
	resp.Status = line[9:]

	n := strings.Count(rest, "\r\n")
	h := make(http.Header, n)
	if len(vals) < n {
		vals = make([]string, n)
	}
	var cl, te []string
	for i := 0; ; i++ {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break
		}
		k, v, err := parseField(line)
		if err != nil {
			return f, err
		}
		switch k {
		case "Content-Length":
			cl = append(cl, v)
		case "Transfer-Encoding":
			te = append(te, v)
			continue
		case "Trailer":
			declareTrailers(resp, v)
			continue
		case "Connection":
			if hasToken(v, "close") {
				f.closeAfter = true
			} else if resp.ProtoMinor == 0 && hasToken(v, "keep-alive") {
				f.closeAfter = false
			}
		}
		if prev, ok := h[k]; ok {
			h[k] = append(prev, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	resp.Header = h

	if te != nil {
		// RFC 9112 §6.1: a sender MUST NOT send Content-Length together with
		// Transfer-Encoding, and an HTTP/1.0 message with Transfer-Encoding
		// has faulty framing; both are treated as errors. We decode no
		// transfer coding but chunked, so anything else cannot be forwarded.
		if cl != nil {
			return f, badResponse("both Transfer-Encoding and Content-Length")
		}
		if resp.ProtoMinor == 0 {
			return f, badResponse("Transfer-Encoding in an HTTP/1.0 response")
		}
		if len(te) != 1 || !strings.EqualFold(httpsyntax.TrimOWS(te[0]), "chunked") {
			return f, badResponse("unsupported Transfer-Encoding")
		}
		f.chunked = true
	}
	if cl != nil {
		n, err := parseContentLength(cl)
		if err != nil {
			return f, err
		}
		f.contentLength = n
		// RFC 9110 §8.6: a list of identical values may be replaced by one.
		if len(cl) > 1 || strings.IndexByte(cl[0], ',') >= 0 {
			h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		}
	}
	return f, nil
}

// parseField splits one field line into its canonical name and its value
// without surrounding whitespace, rejecting what httpsyntax.SplitField
// refuses: obsolete line folding, whitespace between name and colon and
// invalid bytes (RFC 9112 §5).
func parseField(line string) (name, value string, err error) {
	name, value, why := httpsyntax.SplitField(line)
	if why != "" {
		return "", "", badResponse(why)
	}
	if !httpsyntax.IsCanonical(name) {
		name = http.CanonicalHeaderKey(name)
	}
	return name, value, nil
}

// parseFields parses a trailer section (the lines of block before its empty
// line) into h.
func parseFields(block string, h http.Header) error {
	for {
		var line string
		line, block, _ = strings.Cut(block, "\r\n")
		if line == "" {
			return nil
		}
		k, v, err := parseField(line)
		if err != nil {
			return err
		}
		switch k {
		// RFC 9110 §6.5.1: framing and routing fields are not allowed in
		// trailers; they are dropped rather than forwarded.
		case "Content-Length", "Transfer-Encoding", "Trailer", "Host", "Connection":
			continue
		}
		h[k] = append(h[k], v)
	}
}

// declareTrailers records the field names announced by a Trailer field as
// keys of resp.Trailer, as net/http does, so that the handler can announce
// them to the client before the body.
func declareTrailers(resp *http.Response, v string) {
	for v != "" {
		var name string
		name, v, _ = strings.Cut(v, ",")
		name = httpsyntax.TrimOWS(name)
		if name == "" || !httpsyntax.IsToken(name) {
			continue
		}
		name = http.CanonicalHeaderKey(name)
		switch name {
		case "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if resp.Trailer == nil {
			resp.Trailer = make(http.Header)
		}
		resp.Trailer[name] = nil
	}
}

// parseContentLength returns the length declared by the Content-Length
// field lines vv, which must all agree (RFC 9110 §8.6, RFC 9112 §6.3).
func parseContentLength(vv []string) (int64, error) {
	n := int64(-1)
	for _, v := range vv {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			m, ok := parseDecimal(httpsyntax.TrimOWS(item))
			if !ok {
				return 0, badResponse("invalid Content-Length")
			}
			if n >= 0 && m != n {
				return 0, badResponse("conflicting Content-Length values")
			}
			n = m
		}
	}
	if n < 0 {
		return 0, badResponse("empty Content-Length")
	}
	return n, nil
}

// parseDecimal parses a non-negative decimal of at most 18 digits, so that
// it cannot overflow int64.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses a chunk-size line without its CRLF: hexadecimal
// digits, then optional chunk extensions which are validated and ignored
// (RFC 9112 §7.1.1).
func parseChunkSize(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, badResponse("chunk size too large")
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, badResponse("invalid chunk size")
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && (rest[0] != ';' || !httpsyntax.ValidFieldValue(string(rest))) {
		return 0, badResponse("invalid chunk extension")
	}
	return n, nil
}

// hasToken reports whether the comma-separated list v contains token,
// compared case-insensitively.
func hasToken(v, token string) bool {
	for v != "" {
		var item string
		item, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(httpsyntax.TrimOWS(item), token) {
			return true
		}
	}
	return false
}

// valuesHaveToken reports whether any of the field values vv contains token.
func valuesHaveToken(vv []string, token string) bool {
	for _, v := range vv {
		if hasToken(v, token) {
			return true
		}
	}
	return false
}
