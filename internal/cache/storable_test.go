package cache

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

func TestStorable(t *testing.T) {
	lm := http.Header{"Last-Modified": {httpDate(t0.Add(-time.Hour))}}
	for _, tc := range []struct {
		name       string
		method     string
		reqHeader  http.Header
		status     int
		respHeader http.Header
		opts       storeOptions
		want       string // "" when storable
	}{
		{"§3 GET with max-age stored", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, ""},
		{"§3 HEAD not stored", "HEAD", nil, 200, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, "method"},
		{"§3 POST not stored", "POST", nil, 200, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, "method"},
		{"§3 non-final status not stored", "GET", nil, 103, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, "status"},
		{"§3.3 206 not stored", "GET", nil, 206, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, "status"},
		{"§4.3.4 304 not stored", "GET", nil, 304, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, "status"},
		{"§5.2.1.5 request no-store", "GET", http.Header{"Cache-Control": {"no-store"}}, 200, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, "no-store"},
		{"§5.2.2.5 response no-store", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60, no-store"}}, storeOptions{}, "no-store"},
		{"§5.2.2.3 must-understand with an understood status ignores no-store", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60, no-store, must-understand"}}, storeOptions{}, ""},
		{"§5.2.2.3 must-understand with an unknown status not stored", "GET", nil, 299, http.Header{"Cache-Control": {"max-age=60, no-store, must-understand"}}, storeOptions{}, "status"},
		{"§5.2.2.7 private not stored by a shared cache", "GET", nil, 200, http.Header{"Cache-Control": {"private, max-age=60"}}, storeOptions{}, "private"},
		{"§5.2.2.7 private beats public", "GET", nil, 200, http.Header{"Cache-Control": {"public, private, max-age=60"}}, storeOptions{}, "private"},
		{"§5.2.2.7 qualified private stored", "GET", nil, 200, http.Header{"Cache-Control": {`private="X-User", max-age=60`}}, storeOptions{}, ""},
		{"§3.5 Authorization without public not stored", "GET", http.Header{"Authorization": {"Bearer x"}}, 200, http.Header{"Cache-Control": {"max-age=60"}}, storeOptions{}, "authorization"},
		{"§3.5 Authorization with public stored", "GET", http.Header{"Authorization": {"Bearer x"}}, 200, http.Header{"Cache-Control": {"public, max-age=60"}}, storeOptions{}, ""},
		{"§3.5 Authorization with s-maxage stored", "GET", http.Header{"Authorization": {"Bearer x"}}, 200, http.Header{"Cache-Control": {"s-maxage=60"}}, storeOptions{}, ""},
		{"§3.5 Authorization with must-revalidate stored", "GET", http.Header{"Authorization": {"Bearer x"}}, 200, http.Header{"Cache-Control": {"max-age=60, must-revalidate"}}, storeOptions{}, ""},
		{"§3 Set-Cookie not stored by default", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60"}, "Set-Cookie": {"a=b"}}, storeOptions{}, "set-cookie"},
		{"§3 Set-Cookie stored when the route says so", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60"}, "Set-Cookie": {"a=b"}}, storeOptions{storeSetCookie: true}, ""},
		{"§5.2.2.7 Set-Cookie stored when private strips it", "GET", nil, 200, http.Header{"Cache-Control": {`max-age=60, private="set-cookie"`}, "Set-Cookie": {"a=b"}}, storeOptions{}, ""},
		{"§4.1 Vary star not stored", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"Accept, *"}}, storeOptions{}, "vary"},
		{"§4.2.1 Expires is explicit freshness", "GET", nil, 500, http.Header{"Expires": {httpDate(t0)}}, storeOptions{}, ""},
		{"§3 500 with max-age stored", "GET", nil, 500, http.Header{"Cache-Control": {"max-age=5"}}, storeOptions{}, ""},
		{"§4.2.2 heuristically cacheable with Last-Modified", "GET", nil, 200, lm, storeOptions{}, ""},
		{"§4.2.2 404 with Last-Modified", "GET", nil, 404, lm, storeOptions{}, ""},
		{"§4.2.2 302 without explicit freshness not stored", "GET", nil, 302, lm, storeOptions{}, "no-lifetime"},
		{"§3 public allows a 302 with a validator", "GET", nil, 302, http.Header{"Cache-Control": {"public"}, "Etag": {`"x"`}}, storeOptions{}, ""},
		{"§3 200 with nothing to reuse it by not stored", "GET", nil, 200, http.Header{}, storeOptions{}, "no-lifetime"},
		{"§3 200 stored with a default TTL", "GET", nil, 200, http.Header{}, storeOptions{defaultTTL: time.Minute}, ""},
		{"§3 default TTL does not extend to a 500", "GET", nil, 500, http.Header{}, storeOptions{defaultTTL: time.Minute}, "no-lifetime"},
		{"§3 no-cache is stored (reused after validation)", "GET", nil, 200, http.Header{"Cache-Control": {"no-cache"}, "Etag": {`"x"`}}, storeOptions{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://example.com/", nil)
			for k, v := range tc.reqHeader {
				req.Header[k] = v
			}
			reqCC := requestDirectives(req.Header)
			respCC := parseCacheControl(tc.respHeader["Cache-Control"])
			ok, reason := storable(req, reqCC, tc.status, tc.respHeader, respCC, tc.opts)
			if ok != (tc.want == "") || reason != tc.want {
				t.Errorf("storable(%s, %d, %v) = %v, %q, want reason %q", tc.method, tc.status, tc.respHeader, ok, reason, tc.want)
			}
		})
	}
}

func TestStoredHeader(t *testing.T) {
	h := http.Header{
		"Cache-Control":     {`private="X-User", no-cache="X-Fresh"`},
		"Connection":        {"X-Hop, close"},
		"X-Hop":             {"1"},
		"Keep-Alive":        {"timeout=5"},
		"Transfer-Encoding": {"chunked"},
		"X-User":            {"alice"},
		"X-Fresh":           {"1"},
		"Content-Type":      {"text/plain"},
	}
	got := storedHeader(h, parseCacheControl(h["Cache-Control"]))
	want := http.Header{
		"Cache-Control": {`private="X-User", no-cache="X-Fresh"`},
		"X-Fresh":       {"1"},
		"Content-Type":  {"text/plain"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("§3.1 storedHeader = %v, want %v", got, want)
	}
	if len(h["X-User"]) != 1 {
		t.Errorf("storedHeader modified its argument")
	}
}
