package cache

// PLACEHOLDERS until branch cache-rfc lands them: minimal stand-ins so the
// middleware builds and its flow can be tested. Delete this file when the
// merge brings targetedDirectives, cacheStatus and the range functions.

import (
	"net/http"
	"strconv"
	"time"
)

func targetedDirectives(h http.Header, fields []string) directives {
	for _, f := range fields {
		if v, ok := h[f]; ok {
			d := parseCacheControl(v)
			d.targeted = true
			return d
		}
	}
	return parseCacheControl(h["Cache-Control"])
}

type cacheStatus struct {
	hit       bool
	fwd       string
	fwdStatus int
	stored    bool
	ttl       time.Duration
	hasTTL    bool
}

func (s cacheStatus) appendTo(b []byte, name string) []byte {
	b = append(b, name...)
	if s.hit {
		b = append(b, "; hit"...)
	}
	if s.fwd != "" {
		b = append(b, "; fwd="...)
		b = append(b, s.fwd...)
	}
	if s.fwdStatus != 0 {
		b = append(b, "; fwd-status="...)
		b = strconv.AppendInt(b, int64(s.fwdStatus), 10)
	}
	if s.stored {
		b = append(b, "; stored"...)
	}
	if s.hasTTL {
		b = append(b, "; ttl="...)
		b = strconv.AppendInt(b, int64(s.ttl/time.Second), 10)
	}
	return b
}

func (c *cacher) serveRange(w http.ResponseWriter, r *http.Request, e *Entry) bool { return false }
