package proxy

import (
	"net/http"
	"strings"

	"palisade/internal/httpsyntax"
)

// Via pseudonyms by received protocol (RFC 9110 §7.6.3). The version is
// that of the message we received: the client's request, the backend's
// response.
const (
	via10 = "1.0 palisade"
	via11 = "1.1 palisade"
	via20 = "2.0 palisade"
	via30 = "3.0 palisade"
)

func viaFor(major, minor int) string {
	switch {
	case major == 1 && minor == 0:
		return via10
	case major == 2:
		return via20
	case major == 3:
		return via30
	}
	return via11
}

// isHopByHop reports whether the canonical field name k is
// connection-specific and never forwarded as it is (RFC 9110 §7.6.1), or a
// framing field that the transport derives itself. TE and Upgrade are added
// back by the handler where they apply.
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// isForwardingHeader reports whether k is one of the fields that say who
// the client is; they are believed only from a trusted peer. Spellings with
// underscores (X_Forwarded_For) count too: CGI, WSGI and Rack backends map
// both to HTTP_X_FORWARDED_FOR, so passing one would let a client spoof
// what we replaced (nginx drops every underscored field by default).
func isForwardingHeader(k string) bool {
	switch k {
	case "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded":
		return true
	}
	if strings.IndexByte(k, '_') < 0 || len(k) < len("Forwarded") {
		return false
	}
	for _, f := range [...]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if len(k) == len(f) && httpsyntax.EqualFoldUnderscore(k, f) {
			return true
		}
	}
	return false
}

// namedByConnection reports whether the Connection field values conn name
// k as a field for this hop only (RFC 9110 §7.6.1).
func namedByConnection(conn []string, k string) bool {
	for _, v := range conn {
		if hasToken(v, k) {
			return true
		}
	}
	return false
}

// buildRequestHeader fills the outbound header: the inbound fields minus
// hop-by-hop ones, the fields named by Connection, Expect (the client-facing
// server answers it; we send the body at once), and, from an untrusted peer,
// the forwarding fields; then TE: trailers when the client accepts
// trailers (gRPC needs it), the upgrade, the forwarding fields, Via and the
// request ID.
func (ex *exchange) buildRequestHeader() {
	r := ex.in
	in, out := r.Header, ex.hdr
	trusted := ex.st.PeerTrusted
	conn := in["Connection"]
	for k, vv := range in {
		if isHopByHop(k) || k == "Expect" || k == "Content-Length" || k == "Host" {
			continue
		}
		if !trusted && isForwardingHeader(k) {
			continue
		}
		if len(conn) > 0 && namedByConnection(conn, k) {
			continue
		}
		out[k] = vv
	}
	if valuesHaveToken(in["Te"], "trailers") {
		ex.set("Te", "trailers")
	}
	if ex.upgrade != "" {
		ex.set("Connection", "Upgrade")
		ex.set("Upgrade", ex.upgrade)
	}
	ex.setForwarded()
	via := viaFor(r.ProtoMajor, r.ProtoMinor)
	if prior := out["Via"]; len(prior) > 0 {
		// Appending to the inbound slice could write into its array.
		out["Via"] = append(prior[:len(prior):len(prior)], via)
	} else {
		ex.set("Via", via)
	}
	if ex.st.ID != "" {
		ex.set("X-Request-Id", ex.st.ID)
	}
	if _, ok := out["User-Agent"]; !ok {
		// An empty value keeps http.Transport from adding its own.
		ex.set("User-Agent", "")
	}
}

// set sets the outbound field k to the single value v, from the
// exchange's value slots.
func (ex *exchange) set(k, v string) {
	if ex.nvals == len(ex.vals) {
		ex.hdr[k] = []string{v}
		return
	}
	i := ex.nvals
	ex.nvals++
	ex.vals[i] = v
	ex.hdr[k] = ex.vals[i : i+1 : i+1]
}

// copyResponseHeader adds the backend's response fields to dst, minus the
// hop-by-hop ones and those named by Connection. Fields already in dst (set
// by outer middleware) keep their values and get the backend's appended, as
// with ReverseProxy. The value slices of src are shared, not copied: src is
// not used after the response.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if isHopByHop(k) || (len(conn) > 0 && namedByConnection(conn, k)) {
			continue
		}
		if prev, ok := dst[k]; ok && len(prev) > 0 {
			dst[k] = append(prev[:len(prev):len(prev)], vv...)
			continue
		}
		dst[k] = vv
	}
}

// addVia appends our Via entry for a response received with the given
// protocol version.
func addVia(h http.Header, major, minor int) {
	v := viaFor(major, minor)
	if prev := h["Via"]; len(prev) > 0 {
		h["Via"] = append(prev[:len(prev):len(prev)], v)
		return
	}
	h["Via"] = viaValues(v)
}

// Shared one-element Via values for the common case of a message that had
// none, so adding ours allocates nothing. They are never written through:
// Header.Add appends past their capacity into a new array, Set replaces.
var (
	viaValues10 = []string{via10}
	viaValues11 = []string{via11}
	viaValues20 = []string{via20}
	viaValues30 = []string{via30}
)

func viaValues(v string) []string {
	switch v {
	case via10:
		return viaValues10[:1:1]
	case via20:
		return viaValues20[:1:1]
	case via30:
		return viaValues30[:1:1]
	}
	return viaValues11[:1:1]
}

// isStreamingType reports whether a response of this Content-Type is a
// stream of events that must reach the client as each is written: server
// sent events and gRPC.
func isStreamingType(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	v := strings.TrimLeft(ct[0], " \t")
	return httpsyntax.HasPrefixFold(v, "text/event-stream") || httpsyntax.HasPrefixFold(v, "application/grpc")
}
