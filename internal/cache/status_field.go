package cache

import (
	"strconv"
	"time"

	"palisade/internal/httpsyntax"
)

// cacheStatus is what this cache did with one request, for the
// Cache-Status field (RFC 9211).
type cacheStatus struct {
	// hit: served from the cache without going forward (§2.1).
	hit bool
	// fwd is why the request went forward (§2.2): bypass, method,
	// uri-miss, vary-miss, miss, request, stale or partial; fwdStatus the
	// status the next hop returned (§2.3).
	fwd       string
	fwdStatus int
	// stored: the response was stored (§2.5).
	stored bool
	// collapsed: whether the request was collapsed with another (§2.6).
	collapsed collapse
	// ttl is the response's remaining freshness, negative when stale
	// (§2.4); hasTTL says whether to send it.
	ttl    time.Duration
	hasTTL bool
	// key is the cache key (§2.7); detail a reason, such as storable's
	// (§2.8).
	key, detail string
}

// collapse is the collapsed parameter of Cache-Status (RFC 9211 §2.6).
type collapse int8

const (
	collapseNone collapse = iota // not sent: the request did not wait on another
	collapsedYes                 // waited on another request and was sent its response
	collapsedNo                  // waited on another request in vain and went forward itself
)

// appendTo appends s as one Cache-Status list member (RFC 9211 §2) named
// cacheName to dst, for example `Palisade; hit; ttl=30` or `Palisade;
// fwd=uri-miss; fwd-status=200; stored`. hit and fwd are exclusive (§2.2),
// hit winning; fwd-status comes only with fwd. The name, and detail, are
// sent as an sf-token when they are one and else as an sf-string; key is
// always an sf-string (RFC 8941 §3.3.3, §3.3.4), with bytes a String cannot
// hold percent-encoded. ttl is whole seconds, rounded down. It allocates
// only when dst lacks the capacity.
func (s cacheStatus) appendTo(dst []byte, cacheName string) []byte {
	dst = appendSFTokenOrString(dst, cacheName)
	switch {
	case s.hit:
		dst = append(dst, "; hit"...)
	case s.fwd != "":
		dst = append(dst, "; fwd="...)
		dst = appendSFTokenOrString(dst, s.fwd)
		if s.fwdStatus > 0 {
			dst = append(dst, "; fwd-status="...)
			dst = strconv.AppendInt(dst, int64(s.fwdStatus), 10)
		}
	}
	if s.hasTTL {
		secs := int64(s.ttl / time.Second)
		if s.ttl < 0 && s.ttl%time.Second != 0 {
			secs-- // floor: a response stale by half a second is not fresh
		}
		const maxSFInteger = 999_999_999_999_999 // RFC 8941 §3.3.1
		secs = max(-maxSFInteger, min(secs, maxSFInteger))
		dst = append(dst, "; ttl="...)
		dst = strconv.AppendInt(dst, secs, 10)
	}
	if s.stored {
		dst = append(dst, "; stored"...)
	}
	switch s.collapsed {
	case collapsedYes:
		dst = append(dst, "; collapsed"...)
	case collapsedNo:
		dst = append(dst, "; collapsed=?0"...)
	}
	if s.key != "" {
		dst = append(dst, "; key="...)
		dst = appendSFString(dst, s.key)
	}
	if s.detail != "" {
		dst = append(dst, "; detail="...)
		dst = appendSFTokenOrString(dst, s.detail)
	}
	return dst
}

// isSFToken reports whether s is an RFC 8941 §3.3.4 sf-token:
// ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func isSFToken(s string) bool {
	if s == "" {
		return false
	}
	if c := s[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '*') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !httpsyntax.IsTchar(c) && c != ':' && c != '/' {
			return false
		}
	}
	return true
}

func appendSFTokenOrString(dst []byte, s string) []byte {
	if isSFToken(s) {
		return append(dst, s...)
	}
	return appendSFString(dst, s)
}

// appendSFString appends s as an RFC 8941 §3.3.3 sf-string: quotes and
// backslashes escaped, and bytes outside printable ASCII, which a String
// cannot carry, percent-encoded.
func appendSFString(dst []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c > 0x7e:
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
