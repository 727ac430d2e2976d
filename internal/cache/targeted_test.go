package cache

import (
	"net/http"
	"reflect"
	"testing"
)

func TestTargetedDirectives(t *testing.T) {
	tcc := func(edit func(d *directives)) directives {
		d := noDirectives()
		d.targeted = true
		edit(&d)
		return d
	}
	for _, tc := range []struct {
		name         string
		h            http.Header
		cdn          bool
		want         directives
		wantTargeted bool
	}{
		{"RFC 9213 §2.2 own field wins over CDN-Cache-Control", http.Header{"Palisade-Cache-Control": {"max-age=10"}, "Cdn-Cache-Control": {"max-age=20"}, "Cache-Control": {"max-age=30"}}, true, tcc(func(d *directives) { d.maxAge = 10 }), true},
		{"RFC 9213 §2.2 CDN-Cache-Control wins over Cache-Control", http.Header{"Cdn-Cache-Control": {"max-age=20"}, "Cache-Control": {"no-store"}}, true, tcc(func(d *directives) { d.maxAge = 20 }), true},
		{"RFC 9213 §2.2 CDN-Cache-Control off", http.Header{"Cdn-Cache-Control": {"max-age=20"}, "Cache-Control": {"max-age=30"}}, false, cc(func(d *directives) { d.maxAge = 30 }), false},
		{"RFC 9213 §2.2 invalid own field falls back to CDN-Cache-Control", http.Header{"Palisade-Cache-Control": {"max-age=10,"}, "Cdn-Cache-Control": {"max-age=20"}}, true, tcc(func(d *directives) { d.maxAge = 20 }), true},
		{"RFC 9213 §2.2 empty field falls back", http.Header{"Palisade-Cache-Control": {""}, "Cache-Control": {"max-age=30"}}, true, cc(func(d *directives) { d.maxAge = 30 }), false},
		{"RFC 9213 §2.1 upper-case key is invalid", http.Header{"Palisade-Cache-Control": {"Max-Age=10"}, "Cache-Control": {"max-age=30"}}, true, cc(func(d *directives) { d.maxAge = 30 }), false},
		{"RFC 9213 §2.1 quoted max-age is a String, not consumed", http.Header{"Palisade-Cache-Control": {`max-age="10", public`}}, true, tcc(func(d *directives) { d.public = true }), true},
		{"RFC 9213 §2.1 decimal max-age not consumed", http.Header{"Palisade-Cache-Control": {"max-age=1.5"}}, true, tcc(func(d *directives) {}), true},
		{"RFC 9213 §2.1 booleans and delta-seconds", http.Header{"Cdn-Cache-Control": {"s-maxage=60, must-revalidate, no-store=?0, stale-if-error=300"}}, true, tcc(func(d *directives) { d.sMaxAge = 60; d.mustRevalidate = true; d.staleIfError = 300 }), true},
		{"RFC 9213 §2.1 qualified no-cache is a String", http.Header{"Cdn-Cache-Control": {`no-cache="set-cookie, x-a", private`}}, true, tcc(func(d *directives) { d.noCacheFields = []string{"Set-Cookie", "X-A"}; d.private = true }), true},
		{"RFC 9213 §2.1 parameters ignored", http.Header{"Cdn-Cache-Control": {"max-age=60;foo=bar, none"}}, true, tcc(func(d *directives) { d.maxAge = 60 }), true},
		{"RFC 8941 §4.2.2 later member replaces earlier", http.Header{"Cdn-Cache-Control": {"max-age=60, max-age=5"}}, true, tcc(func(d *directives) { d.maxAge = 5 }), true},
		{"RFC 8941 §4.2 field lines combine", http.Header{"Cdn-Cache-Control": {"max-age=60", "no-store"}}, true, tcc(func(d *directives) { d.maxAge = 60; d.noStore = true }), true},
		{"RFC 8941 §4.2 inner list value accepted but not consumed", http.Header{"Cdn-Cache-Control": {`private=("a" b), max-age=1`}}, true, tcc(func(d *directives) { d.maxAge = 1 }), true},
		{"RFC 8941 §4.2 Cache-Control syntax that is no Dictionary falls back", http.Header{"Cdn-Cache-Control": {`max-age=60 junk`}, "Cache-Control": {"no-store"}}, true, cc(func(d *directives) { d.noStore = true }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, targeted := targetedDirectives(tc.h, "Palisade-Cache-Control", tc.cdn)
			if targeted != tc.wantTargeted || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("targetedDirectives(%v) = %+v, %v, want %+v, %v", tc.h, got, targeted, tc.want, tc.wantTargeted)
			}
		})
	}
}

func TestParseSFDictionary(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		ok   bool
	}{
		{"RFC 8941 §3.2 simple", "a=1, b=2", 2, true},
		{"RFC 8941 §3.2 bare key is true", "a, b=?0", 2, true},
		{"RFC 8941 §3.3 every bare item type", `i=-15, d=4.5, s="x\"y", t=foo/bar:1, b=:cHJldGVuZA==:, q=?1`, 6, true},
		{"RFC 8941 §3.1.1 inner list with parameters", `a=(1 2;x);y=z`, 1, true},
		{"RFC 8941 §4.2 leading spaces", "   a=1", 1, true},
		{"RFC 8941 §4.2 trailing comma", "a=1,", 1, false},
		{"RFC 8941 §4.2.3.3 key must start lcalpha", "1a=1", 0, false},
		{"RFC 8941 §4.2.4 integer of 16 digits", "a=1234567890123456", 0, false},
		{"RFC 8941 §4.2.4 decimal with 4 fractional digits", "a=1.2345", 0, false},
		{"RFC 8941 §4.2.4 decimal with trailing dot", "a=1.", 0, false},
		{"RFC 8941 §4.2.5 bad escape", `a="\x"`, 0, false},
		{"RFC 8941 §4.2.5 unterminated string", `a="x`, 0, false},
		{"RFC 8941 §4.2.8 bad boolean", "a=?2", 0, false},
		{"RFC 8941 §4.2.1.2 unterminated inner list", "a=(1 2", 0, false},
		{"RFC 8941 §4.2.1.2 inner list items need a space", "a=(1\"x\")", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := parseSFDictionary(tc.in, func(string, sfItem) {})
			if ok != tc.ok || ok && n != tc.n {
				t.Errorf("parseSFDictionary(%q) = %d, %v, want %d, %v", tc.in, n, ok, tc.n, tc.ok)
			}
		})
	}
}
