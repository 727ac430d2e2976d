package cache

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestCacheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parts  []string
		method string
		target string
		header map[string]string
		want   string
	}{
		{"default", []string{"method", "scheme", "host", "path", "query"}, "GET", "http://Example.COM/a/b?x=1", nil, "http://example.com/a/b?x=1\x00GET"},
		{"head is get", []string{"method", "scheme", "host", "path", "query"}, "HEAD", "http://example.com/a", nil, "http://example.com/a\x00GET"},
		{"no query", []string{"method", "scheme", "host", "path"}, "GET", "http://example.com/a?x=1", nil, "http://example.com/a\x00GET"},
		{"no host", []string{"method", "path"}, "GET", "http://example.com/a", nil, "http:///a\x00GET"},
		{"header and cookie", []string{"scheme", "host", "path", "header:X-Tenant", "cookie:lang"}, "GET", "http://example.com/a",
			map[string]string{"X-Tenant": " t1 ", "Cookie": "a=b; lang=fr"}, "http://example.com/a\x00t1\x00=fr"},
		{"absent cookie differs from empty", []string{"scheme", "host", "path", "cookie:lang"}, "GET", "http://example.com/a",
			map[string]string{"Cookie": "a=b"}, "http://example.com/a\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := compileKey(tc.parts)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for name, v := range tc.header {
				r.Header.Set(name, v)
			}
			if got := string(k.appendKey(nil, r)); got != tc.want {
				t.Errorf("key(%s %s) = %q, want %q", tc.method, tc.target, got, tc.want)
			}
		})
	}
}

func TestAgeFieldHasNoRoomToAppend(t *testing.T) {
	for _, s := range []int{0, 59, 3599} {
		v := ageField(secondsDuration(s))
		if len(v) != 1 || cap(v) != 1 {
			t.Errorf("ageField(%ds) has len %d cap %d, want 1 and 1: an Add would write into the shared table", s, len(v), cap(v))
		}
	}
	if got := ageField(secondsDuration(7200))[0]; got != "7200" {
		t.Errorf("ageField(2h) = %q, want 7200", got)
	}
}

func secondsDuration(s int) time.Duration { return time.Duration(s) * time.Second }
