package proxy

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"palisade/internal/httpsyntax"
	"palisade/internal/middleware"
)

// setForwarded sets X-Forwarded-For, -Proto, -Host and, when the target asks
// for it, Forwarded (RFC 7239). From an untrusted peer the inbound values
// were dropped and ours replace them; a trusted peer's values are kept:
// X-Forwarded-For and Forwarded get this hop appended, X-Forwarded-Proto and
// -Host are passed on as the first proxy set them.
func (ex *exchange) setForwarded() {
	r, in := ex.in, ex.in.Header
	trusted := ex.st.PeerTrusted
	// The peer's port is left out of Forwarded, as HAProxy does by default:
	// it says nothing about the client and X-Forwarded-For has none either.
	ip, _ := peerAddr(r, ex.st)
	if ip != "" {
		if prior := in["X-Forwarded-For"]; trusted && len(prior) > 0 {
			ex.set("X-Forwarded-For", joinList(prior, ip))
		} else {
			ex.set("X-Forwarded-For", ip)
		}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if !trusted || len(in["X-Forwarded-Proto"]) == 0 {
		ex.set("X-Forwarded-Proto", proto)
	}
	if (!trusted || len(in["X-Forwarded-Host"]) == 0) && r.Host != "" {
		ex.set("X-Forwarded-Host", r.Host)
	}
	if ex.h.t.Forwarded {
		elem := forwardedElement(ip, "", r.Host, proto)
		if prior := in["Forwarded"]; trusted && len(prior) > 0 {
			elem = joinList(prior, elem)
		}
		ex.set("Forwarded", elem)
	}
}

// joinList appends item to the list held by the field values prior, as one
// comma-separated value (RFC 9110 §5.3).
func joinList(prior []string, item string) string {
	n := len(item)
	for _, v := range prior {
		n += len(v) + 2
	}
	var b strings.Builder
	b.Grow(n)
	for _, v := range prior {
		b.WriteString(v)
		b.WriteString(", ")
	}
	b.WriteString(item)
	return b.String()
}

// peerAddr returns the address and port of the directly connected peer:
// the State's Peer when the gateway set it, else the request's RemoteAddr.
// It slices RemoteAddr rather than formatting an address when both agree,
// which saves an allocation per request. IPv4-mapped IPv6 addresses are
// written as IPv4.
func peerAddr(r *http.Request, st *middleware.State) (ip, port string) {
	host, port, ok := splitHostPort(r.RemoteAddr)
	var parsed netip.Addr
	if ok {
		parsed, _ = netip.ParseAddr(host)
	}
	if st.Peer.IsValid() {
		peer := st.Peer.Addr().Unmap()
		if parsed.IsValid() && !parsed.Is4In6() && parsed == peer {
			if p, ok := parseDecimal(port); ok && p == int64(st.Peer.Port()) {
				return host, port
			}
		}
		return peer.String(), strconv.Itoa(int(st.Peer.Port()))
	}
	if !ok {
		return "", ""
	}
	if parsed.Is4In6() {
		return parsed.Unmap().String(), port
	}
	return host, port
}

// splitHostPort splits "host:port" or "[host]:port" without allocating.
func splitHostPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return "", "", false
		}
		host = host[1 : len(host)-1]
	}
	return host, port, host != ""
}

// forwardedElement returns this hop's Forwarded element (RFC 7239 §4):
// for= the peer, host= the Host the client asked for, proto= the scheme it
// used. A node with a port or an IPv6 address is a quoted-string (§6), an
// unknown peer is "unknown" (§6.2).
func forwardedElement(ip, port, host, proto string) string {
	var b strings.Builder
	b.Grow(32 + len(ip) + len(host))
	b.WriteString("for=")
	switch {
	case ip == "":
		b.WriteString("unknown")
	case strings.IndexByte(ip, ':') >= 0:
		b.WriteString(`"[`)
		b.WriteString(ip)
		b.WriteByte(']')
		if port != "" {
			b.WriteByte(':')
			b.WriteString(port)
		}
		b.WriteByte('"')
	case port != "":
		b.WriteByte('"')
		b.WriteString(ip)
		b.WriteByte(':')
		b.WriteString(port)
		b.WriteByte('"')
	default:
		b.WriteString(ip)
	}
	if host != "" {
		b.WriteString(";host=")
		writeTokenOrQuoted(&b, host)
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	return b.String()
}

// writeTokenOrQuoted writes v as a token when it is one, else as a
// quoted-string with '"' and '\' escaped (RFC 9110 §5.6.4).
func writeTokenOrQuoted(b *strings.Builder, v string) {
	if httpsyntax.IsToken(v) {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}
