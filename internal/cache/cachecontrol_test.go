package cache

import (
	"net/http"
	"reflect"
	"testing"
)

// cc builds expected directives from noDirectives.
func cc(edit func(d *directives)) directives {
	d := noDirectives()
	edit(&d)
	return d
}

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		want   directives
	}{
		{"§5.2 absent", nil, noDirectives()},
		{"§5.2 typical response", []string{"public, max-age=60"}, cc(func(d *directives) { d.public = true; d.maxAge = 60 })},
		{"§5.2 names are case-insensitive", []string{"Public, MAX-AGE=60, S-MaxAge=10"}, cc(func(d *directives) { d.public = true; d.maxAge = 60; d.sMaxAge = 10 })},
		{"§5.2 several field lines", []string{"max-age=60", "no-transform", "must-revalidate"}, cc(func(d *directives) { d.maxAge = 60; d.noTransform = true; d.mustRevalidate = true })},
		{"§5.2 quoted-string argument accepted", []string{`max-age="60"`}, cc(func(d *directives) { d.maxAge = 60 })},
		{"§5.2 whitespace and empty members", []string{" ,, max-age=5 ,\tno-store , "}, cc(func(d *directives) { d.maxAge = 5; d.noStore = true })},
		{"§5.2.3 unknown directives ignored", []string{`foo, bar="a, max-age=9", community="UCI", max-age=3`}, cc(func(d *directives) { d.maxAge = 3 })},
		{"§5.2.3 long unknown name ignored", []string{"a-very-long-extension-directive-name=1, no-store"}, cc(func(d *directives) { d.noStore = true })},
		{"§5.2.2.1 duplicate max-age is stale", []string{"max-age=60, max-age=120"}, cc(func(d *directives) { d.maxAge = 0 })},
		{"§5.2.2.1 duplicate max-age across lines is stale", []string{"max-age=60", "max-age=30"}, cc(func(d *directives) { d.maxAge = 0 })},
		{"§5.2.2.1 identical duplicate max-age kept", []string{"max-age=60, max-age=60"}, cc(func(d *directives) { d.maxAge = 60 })},
		{"§5.2.2.1 non-integer max-age is stale", []string{"max-age=6x0"}, cc(func(d *directives) { d.maxAge = 0 })},
		{"§5.2.2.1 negative max-age is stale", []string{"max-age=-1"}, cc(func(d *directives) { d.maxAge = 0 })},
		{"§5.2.2.1 max-age without value is stale", []string{"max-age"}, cc(func(d *directives) { d.maxAge = 0 })},
		{"§5.2.2.1 max-age with junk is stale", []string{"max-age=60 junk, public"}, cc(func(d *directives) { d.maxAge = 0; d.public = true })},
		{"§5.2.2.1 max-age with spaces around = is stale", []string{"max-age = 60"}, cc(func(d *directives) { d.maxAge = 0 })},
		{"§1.2.2 delta-seconds overflow is 2^31", []string{"max-age=99999999999999999999999"}, cc(func(d *directives) { d.maxAge = 1 << 31 })},
		{"§5.2.2.10 s-maxage duplicate is stale", []string{"s-maxage=1, s-maxage=2"}, cc(func(d *directives) { d.sMaxAge = 0 })},
		{"§5.2.1.2 max-stale without value", []string{"max-stale"}, cc(func(d *directives) { d.maxStaleAny = true })},
		{"§5.2.1.2 max-stale with value wins over without", []string{"max-stale, max-stale=30"}, cc(func(d *directives) { d.maxStale = 30 })},
		{"§5.2.1.2 invalid max-stale ignored", []string{"max-stale=abc"}, noDirectives()},
		{"§5.2.1.2 smallest max-stale kept", []string{"max-stale=30, max-stale=10"}, cc(func(d *directives) { d.maxStale = 10 })},
		{"§5.2.1.3 largest min-fresh kept", []string{"min-fresh=5, min-fresh=20"}, cc(func(d *directives) { d.minFresh = 20 })},
		{"§5.2.1.7 only-if-cached", []string{"only-if-cached"}, cc(func(d *directives) { d.onlyIfCached = true })},
		{"RFC 5861 stale windows", []string{"stale-while-revalidate=30, stale-if-error=600"}, cc(func(d *directives) { d.staleWhileRevalidate = 30; d.staleIfError = 600 })},
		{"RFC 5861 invalid stale window ignored", []string{"stale-if-error=x"}, noDirectives()},
		{"§5.2.2.4 unqualified no-cache", []string{"no-cache"}, cc(func(d *directives) { d.noCache = true })},
		{"§5.2.2.4 qualified no-cache", []string{`no-cache="set-cookie, x-secret"`}, cc(func(d *directives) { d.noCacheFields = []string{"Set-Cookie", "X-Secret"} })},
		{"§5.2.2.4 qualified no-cache token form", []string{`no-cache=set-cookie`}, cc(func(d *directives) { d.noCacheFields = []string{"Set-Cookie"} })},
		{"§5.2.2.4 empty qualified no-cache is unqualified", []string{`no-cache=""`}, cc(func(d *directives) { d.noCache = true })},
		{"§5.2.2.4 unterminated qualified no-cache is unqualified", []string{`no-cache="a, b`}, cc(func(d *directives) { d.noCache = true })},
		{"§5.2.2.7 qualified private", []string{`private="Authorization-Info", max-age=5`}, cc(func(d *directives) { d.privateFields = []string{"Authorization-Info"}; d.maxAge = 5 })},
		{"§5.2.2.7 unqualified private", []string{"private, public"}, cc(func(d *directives) { d.private = true; d.public = true })},
		{"§5.2.2.7 qualified private with quoted-pair", []string{`private="x-\a"`}, cc(func(d *directives) { d.privateFields = []string{"X-A"} })},
		{"§5.2.2.5 no-store", []string{"no-store"}, cc(func(d *directives) { d.noStore = true })},
		{"§5.2.2.3 must-understand", []string{"must-understand, no-store"}, cc(func(d *directives) { d.mustUnderstand = true; d.noStore = true })},
		{"§5.2.2.2 must-revalidate and proxy-revalidate", []string{"must-revalidate, proxy-revalidate"}, cc(func(d *directives) { d.mustRevalidate = true; d.proxyRevalidate = true })},
		{"§4.2.1 malformed public does not count", []string{`public junk`}, noDirectives()},
		{"§4.2.1 malformed no-store still counts", []string{`no-store junk`}, cc(func(d *directives) { d.noStore = true })},
		{"RFC 8246 immutable", []string{"immutable, max-age=31536000"}, cc(func(d *directives) { d.immutable = true; d.maxAge = 31536000 })},
		{"§5.2 comma inside quoted-string does not split", []string{`x="a, no-store", max-age=1`}, cc(func(d *directives) { d.maxAge = 1 })},
		{"§5.2 garbage name skipped", []string{`"quoted", max-age=1`}, cc(func(d *directives) { d.maxAge = 1 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseCacheControl(tc.fields); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseCacheControl(%q) =\n%+v, want\n%+v", tc.fields, got, tc.want)
			}
		})
	}
}

func TestRequestDirectives(t *testing.T) {
	for _, tc := range []struct {
		name        string
		h           http.Header
		wantNoCache bool
	}{
		{"§5.4 Pragma no-cache without Cache-Control", http.Header{"Pragma": {"no-cache"}}, true},
		{"§5.4 Pragma ignored with Cache-Control", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, false},
		{"§5.4 other Pragma ignored", http.Header{"Pragma": {"foo=bar"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requestDirectives(tc.h).noCache; got != tc.wantNoCache {
				t.Errorf("requestDirectives(%v).noCache = %v, want %v", tc.h, got, tc.wantNoCache)
			}
		})
	}
}
