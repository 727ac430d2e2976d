package server

import (
	"net/http"
	"net/url"
	"strings"

	"palisade/internal/httpsyntax"
)

// requestBlock holds a request, its URL and the first header values in one
// allocation. The handler owns it after ServeHTTP is called, like any
// *http.Request; nothing in it is reused.
type requestBlock struct {
	req  http.Request
	url  url.URL
	vals [8]string
}

// reject is a request refused before the handler runs: the status to answer
// with and, for the log, why.
type reject struct {
	status int
	why    string
}

func badRequest(why string) reject { return reject{http.StatusBadRequest, why} }

// framing is what the connection loop needs to know about a request beyond
// the *http.Request: how its body is delimited and whether the connection
// may be kept.
type framing struct {
	contentLength  int64 // -1 when chunked
	chunked        bool
	expectContinue bool
	keepAlive      bool // the client allows another request on this connection
	http10         bool
	// dropped counts the fields dropped for an underscore in their name;
	// droppedName is the first, for the debug log.
	dropped     int
	droppedName string
}

// parseRequest parses the request head h into blk, whose req is a copy of
// the connection's base request (its context set). h runs from the request
// line to the empty line that ends the head, every line ending in CRLF: the
// connection's head scanner has checked line endings, the byte and line
// limits, and skipped leading empty lines. lines is the number of field
// lines, used to size the Header map. Strings in the request are substrings
// of h.
//
// parseRequest is stricter than net/http on purpose: every input a
// recipient could frame or route differently from another is refused
// (docs/hardening.md lists each rule).
func parseRequest(h string, lines int, o *Options, blk *requestBlock) (framing, reject) {
	var f framing
	r := &blk.req
	eol := strings.IndexByte(h, '\n')
	method, target, proto, rj := splitRequestLine(h[:eol-1])
	if rj.status != 0 {
		return f, rj
	}
	r.Method, r.RequestURI, r.Proto = method, target, proto
	r.ProtoMajor, r.ProtoMinor = 1, int(proto[7]-'0')
	f.http10 = r.ProtoMinor == 0

	u := &blk.url
	r.URL = u
	absolute, rj := parseTarget(method, target, u)
	if rj.status != 0 {
		return f, rj
	}

	hdr := make(http.Header, lines)
	vals := blk.vals[:0]
	if lines > len(blk.vals) {
		vals = make([]string, 0, lines)
	}
	var (
		host, cl, te, trailer string
		hosts, cls, tes       int
		connClose, connKeep   bool
		expect, hasTrailer    bool
	)
	rest := h[eol+1:]
	for {
		eol = strings.IndexByte(rest, '\n')
		line := rest[:eol-1]
		rest = rest[eol+1:]
		if line == "" {
			break
		}
		name, value, why := httpsyntax.SplitField(line)
		if why != "" {
			return f, badRequest(why)
		}
		if strings.IndexByte(name, '_') >= 0 && o.Underscores != UnderscoresKeep {
			if o.Underscores == UnderscoresReject {
				return f, badRequest("underscore in field name")
			}
			if f.dropped == 0 {
				f.droppedName = name
			}
			f.dropped++
			continue
		}
		key := canonicalKey(name)
		switch key {
		case "Host":
			// net/http's server promotes Host to Request.Host and drops
			// it from the map; so do we.
			hosts++
			host = value
			continue
		case "Transfer-Encoding":
			// Framing is ours: a handler sees r.TransferEncoding only.
			tes++
			te = value
			continue
		case "Content-Length":
			cls++
			cl = value
		case "Connection":
			connClose = connClose || hasToken(value, "close")
			connKeep = connKeep || hasToken(value, "keep-alive")
		case "Expect":
			// RFC 9110 §10.1.1: 100-continue is the only expectation.
			if !strings.EqualFold(value, "100-continue") {
				return f, reject{http.StatusExpectationFailed, "unsupported expectation"}
			}
			expect = true
		case "Upgrade":
			// HTTP/2 is spoken with prior knowledge only (RFC 9113 §3.1
			// removed the h2c upgrade).
			if hasToken(value, "h2c") {
				return f, badRequest("h2c upgrade")
			}
		case "Http2-Settings":
			return f, badRequest("h2c upgrade")
		case "Trailer":
			hasTrailer = true
			if trailer != "" {
				trailer += ","
			}
			trailer += value
		}
		if vv := hdr[key]; vv != nil {
			hdr[key] = append(vv, value)
			continue
		}
		vals = append(vals, value)
		n := len(vals)
		hdr[key] = vals[n-1 : n : n]
	}
	r.Header = hdr

	// RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request
	// without Host, with more than one, or with an invalid one.
	switch {
	case hosts == 0 && !f.http10:
		return f, badRequest("missing Host")
	case hosts > 1:
		return f, badRequest("duplicate Host")
	case !validHost(host):
		return f, badRequest("invalid Host")
	}
	r.Host = host
	if absolute {
		// RFC 9112 §3.2.2: the target's authority replaces Host.
		r.Host = u.Host
	}

	if rj := frameBody(&f, cl, te, cls, tes); rj.status != 0 {
		return f, rj
	}
	r.ContentLength = f.contentLength
	if f.chunked {
		r.TransferEncoding = []string{"chunked"}
		if hasTrailer {
			// As net/http: the declaration moves from Header to the keys
			// of Trailer.
			if r.Trailer, rj = declaredTrailers(trailer, o.Underscores); rj.status != 0 {
				return f, rj
			}
			delete(hdr, "Trailer")
		}
	}

	if f.http10 {
		f.keepAlive = connKeep && !connClose
	} else {
		f.keepAlive = !connClose
		// RFC 9110 §10.1.1: a 100-continue from an HTTP/1.0 client is
		// ignored.
		f.expectContinue = expect && (f.chunked || f.contentLength > 0)
	}
	r.Close = !f.keepAlive

	if o.MaxBodyBytes > 0 && f.contentLength > o.MaxBodyBytes {
		return f, reject{http.StatusRequestEntityTooLarge, "body over the limit"}
	}
	return f, reject{}
}

// splitRequestLine splits "METHOD SP request-target SP HTTP-version"
// (RFC 9112 §3) with exactly one space between parts.
func splitRequestLine(line string) (method, target, proto string, rj reject) {
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 {
		return "", "", "", badRequest("malformed request line")
	}
	method, line = line[:sp], line[sp+1:]
	if !httpsyntax.IsToken(method) {
		return "", "", "", badRequest("invalid method")
	}
	sp = strings.IndexByte(line, ' ')
	if sp <= 0 {
		// "GET /" is HTTP/0.9; "GET  /" has an empty target.
		return "", "", "", badRequest("malformed request line")
	}
	target, proto = line[:sp], line[sp+1:]
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= 0x20 || c >= 0x7f {
			return "", "", "", badRequest("invalid request target")
		}
	}
	// RFC 9112 §2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case
	// sensitive.
	if len(proto) != 8 || proto[:5] != "HTTP/" || proto[6] != '.' ||
		!isDigit(proto[5]) || !isDigit(proto[7]) {
		return "", "", "", badRequest("malformed HTTP version")
	}
	switch {
	case proto[5] == '0':
		return "", "", "", badRequest("HTTP/0.x")
	case proto[5] != '1' || proto[7] > '1':
		return "", "", "", reject{http.StatusHTTPVersionNotSupported, "unsupported HTTP version"}
	}
	return method, target, proto, reject{}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseTarget parses the request-target into u (RFC 9112 §3.2). It reports
// whether the target carries an authority (absolute-form, or authority-form
// for CONNECT), which then names the host.
func parseTarget(method, target string, u *url.URL) (absolute bool, rj reject) {
	if strings.IndexByte(target, '#') >= 0 {
		return false, badRequest("fragment in request target")
	}
	switch {
	case target[0] == '/':
		path, query, hasQuery := strings.Cut(target, "?")
		if dotSegment(path) {
			return false, badRequest("dot segment in path")
		}
		if plainPath(path) {
			u.Path, u.RawQuery, u.ForceQuery = path, query, hasQuery && query == ""
			return false, reject{}
		}
		if rj := parseURL(target, u); rj.status != 0 {
			return false, rj
		}
		// Routes match the decoded path: "/public/..%2Fadmin" must not
		// match /public/ and reach a backend that decodes it to /admin.
		if dotSegment(u.Path) {
			return false, badRequest("dot segment in decoded path")
		}
		return false, reject{}
	case target == "*":
		// RFC 9112 §3.2.4: asterisk-form is for OPTIONS only.
		if method != http.MethodOptions {
			return false, badRequest("asterisk-form target")
		}
		u.Path = "*"
		return false, reject{}
	case method == http.MethodConnect:
		// RFC 9112 §3.2.3: authority-form, host and port.
		if i := strings.LastIndexByte(target, ':'); i <= 0 || i == len(target)-1 || !validHost(target) {
			return false, badRequest("invalid authority-form target")
		}
		u.Host = target
		return true, reject{}
	}
	// RFC 9112 §3.2.2: absolute-form, sent to proxies.
	i := strings.Index(target, "://")
	if i <= 0 || !strings.EqualFold(target[:i], "http") && !strings.EqualFold(target[:i], "https") {
		return false, badRequest("invalid request target")
	}
	after := target[i+3:]
	authority, path := after, ""
	if j := strings.IndexAny(after, "/?"); j >= 0 {
		authority, path = after[:j], after[j:]
	}
	if strings.IndexByte(authority, '@') >= 0 || authority == "" || !validHost(authority) {
		// RFC 9110 §4.2.4: userinfo is refused.
		return false, badRequest("invalid authority")
	}
	path, _, _ = strings.Cut(path, "?")
	if dotSegment(path) {
		return false, badRequest("dot segment in path")
	}
	if rj := parseURL(target, u); rj.status != 0 {
		return false, rj
	}
	if dotSegment(u.Path) {
		return false, badRequest("dot segment in decoded path")
	}
	if u.Host != authority {
		return false, badRequest("invalid authority")
	}
	return true, reject{}
}

// parseURL is the slow path for targets with percent-encoding or other bytes
// url.URL keeps in RawPath, and for absolute-form.
func parseURL(target string, u *url.URL) reject {
	pu, err := url.ParseRequestURI(target)
	if err != nil {
		return badRequest("invalid request target")
	}
	*u = *pu
	return reject{}
}

// plainPath reports whether url.URL would keep path as is, with no RawPath.
func plainPath(path string) bool {
	for i := 0; i < len(path); i++ {
		if !httpsyntax.InSet(path[i], plainPathLo, plainPathHi) {
			return false
		}
	}
	return true
}

// dotSegment reports whether the raw path has a "." or ".." segment, plain
// or percent-encoded (%2e, either case). RFC 3986 §5.2.4 removes them while
// resolving, so two recipients may route such a path differently; we refuse
// it rather than pick one reading.
func dotSegment(path string) bool {
	for path != "" {
		seg := path
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		if seg == "" || len(seg) > 6 {
			continue
		}
		dots := 0
		for seg != "" {
			switch {
			case seg[0] == '.':
				seg = seg[1:]
			case len(seg) >= 3 && seg[0] == '%' && seg[1] == '2' && (seg[2] == 'e' || seg[2] == 'E'):
				seg = seg[3:]
			case seg[0] == ';' && dots > 0:
				// "..;/" is ".." to servlet containers, which drop
				// path parameters before resolving dot segments.
				seg = ""
				continue
			default:
				dots = -1
				seg = ""
				continue
			}
			dots++
		}
		if dots == 1 || dots == 2 {
			return true
		}
	}
	return false
}

// frameBody decides how the request body is delimited (RFC 9112 §6.3) from
// the Content-Length and Transfer-Encoding fields and how many lines of each
// were sent, refusing every combination two recipients could read
// differently.
func frameBody(f *framing, cl, te string, cls, tes int) reject {
	if cls > 1 {
		// Stricter than RFC 9110 §8.6, which allows identical repeats.
		return badRequest("duplicate Content-Length")
	}
	if tes == 0 {
		if cls == 0 {
			return reject{}
		}
		if f.contentLength = parseContentLength(cl); f.contentLength < 0 {
			return badRequest("invalid Content-Length")
		}
		return reject{}
	}
	switch {
	case tes > 1:
		return badRequest("duplicate Transfer-Encoding")
	case f.http10:
		// RFC 9112 §6.1: an HTTP/1.0 recipient may not understand it.
		return badRequest("Transfer-Encoding in HTTP/1.0")
	case cls > 0:
		// RFC 9112 §6.1: the classic smuggling vector.
		return badRequest("Transfer-Encoding with Content-Length")
	}
	if strings.EqualFold(httpsyntax.TrimOWS(te), "chunked") {
		f.chunked, f.contentLength = true, -1
		return reject{}
	}
	// A list: refuse garbage and a misplaced or repeated chunked with 400,
	// and well-formed codings we do not decode with 501 (RFC 9112 §6.1).
	sawChunked := false
	for more := true; more; {
		var item string
		item, te, more = nextListItem(te)
		if !httpsyntax.IsToken(item) || sawChunked {
			return badRequest("invalid Transfer-Encoding")
		}
		sawChunked = strings.EqualFold(item, "chunked")
	}
	if !sawChunked {
		return badRequest("Transfer-Encoding without final chunked")
	}
	return reject{http.StatusNotImplemented, "unsupported transfer coding"}
}

// declaredTrailers returns the trailer fields announced by the Trailer
// header, keys only, as net/http fills Request.Trailer. Fields that frame or
// route a message may not be trailers (RFC 9110 §6.5.1). Names with an
// underscore are left out unless the policy keeps them: such a trailer
// field never reaches the handler.
func declaredTrailers(v string, underscores UnderscorePolicy) (http.Header, reject) {
	t := make(http.Header)
	for more := true; more; {
		var item string
		item, v, more = nextListItem(v)
		if item == "" {
			continue
		}
		if !httpsyntax.IsToken(item) {
			return nil, badRequest("invalid Trailer")
		}
		if underscores != UnderscoresKeep && strings.IndexByte(item, '_') >= 0 {
			continue
		}
		key := canonicalKey(item)
		if forbiddenTrailer(key) {
			return nil, badRequest("forbidden trailer field")
		}
		t[key] = nil
	}
	if len(t) == 0 {
		return nil, reject{}
	}
	return t, reject{}
}

// forbiddenTrailer reports whether the canonical key names a field that
// must not be sent in a trailer section: framing, routing and the trailer
// list itself.
func forbiddenTrailer(key string) bool {
	switch key {
	case "Transfer-Encoding", "Content-Length", "Trailer", "Host":
		return true
	}
	return false
}
