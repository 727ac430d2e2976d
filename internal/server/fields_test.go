package server

import (
	"strings"
	"testing"

	"palisade/internal/httpsyntax"
)

// TestCharClasses checks the server's bit-set constants against the grammar
// they encode; httpsyntax checks tchar.
func TestCharClasses(t *testing.T) {
	alnum := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for _, tc := range []struct {
		name   string
		lo, hi uint64
		extra  string
	}{
		{"host", hostLo, hostHi, "-._~%!$&'()*+,;=:[]"},
		{"plain path", plainPathLo, plainPathHi, "-._~$&+,/:;=@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 256; i++ {
				c := byte(i)
				want := c < 128 && (alnum(c) || strings.IndexByte(tc.extra, c) >= 0)
				if got := httpsyntax.InSet(c, tc.lo, tc.hi); got != want {
					t.Errorf("InSet(%q) = %v, want %v", c, got, want)
				}
			}
		})
	}
}

func TestValidHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"", true},
		{"example.com", true},
		{"example.com:8080", true},
		{"127.0.0.1:80", true},
		{"[::1]", true},
		{"[::1]:443", true},
		{"a_b-c~d", true},
		{"host:", true},
		{"a b", false},
		{"u@host", false},
		{"host:80:80", false},
		{"host:123456", false},
		{"host:8a", false},
		{"[::1", false},
		{"[::1]x", false},
		{"[1.2.3.4]", false},
		{"[fe80::1%25eth0]", false},
		{":80", false},
		{"a,b", true}, // a sub-delim: a valid reg-name
		{"a/b", false},
	} {
		if got := validHost(tc.host); got != tc.want {
			t.Errorf("validHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestDotSegment(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/", false},
		{"/a/b", false},
		{"/a..", false},
		{"/...", false},
		{"/.well-known/x", false},
		{"/%2e%2e%2e", false},
		{"/.", true},
		{"/..", true},
		{"/a/./b", true},
		{"/a/../b", true},
		{"/%2e", true},
		{"/%2E%2e/", true},
		{"/.%2E/", true},
		{"/%2e./x", true},
	} {
		if got := dotSegment(tc.path); got != tc.want {
			t.Errorf("dotSegment(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestParseContentLength(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want int64
	}{
		{"0", 0},
		{"42", 42},
		{"007", 7},
		{"999999999999999999", 999999999999999999},
		{"1000000000000000000", -1},
		{"", -1},
		{"-1", -1},
		{"1 ", -1},
		{"1,1", -1},
	} {
		if got := parseContentLength(tc.v); got != tc.want {
			t.Errorf("parseContentLength(%q) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

func TestCanonicalKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Host", "Host"},
		{"content-type", "Content-Type"},
		{"X-FORWARDED-FOR", "X-Forwarded-For"},
		{"x-custom_thing", "X-Custom_thing"},
		{strings.Repeat("a", 70), "A" + strings.Repeat("a", 69)},
	} {
		if got := canonicalKey(tc.in); got != tc.want {
			t.Errorf("canonicalKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCanonicalKeyAllocs: common names sent in lower case are interned,
// not allocated per request.
func TestCanonicalKeyAllocs(t *testing.T) {
	name := strings.ToLower("User-Agent")
	if n := testing.AllocsPerRun(100, func() { canonicalKey(name) }); n != 0 {
		t.Errorf("canonicalKey(%q) allocates %v times, want 0", name, n)
	}
}
