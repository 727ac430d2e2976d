package cache

import (
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	want := time.Date(1994, time.November, 6, 8, 49, 37, 0, time.UTC)
	for _, tc := range []struct {
		name, in string
		want     time.Time
		ok       bool
	}{
		{"RFC 9110 §5.6.7 IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", want, true},
		{"RFC 9110 §5.6.7 obsolete rfc850", "Sunday, 06-Nov-94 08:49:37 GMT", want, true},
		{"RFC 9110 §5.6.7 obsolete asctime", "Sun Nov  6 08:49:37 1994", want, true},
		{"RFC 9110 §5.6.7 asctime with two-digit day", "Sun Nov 16 08:49:37 1994", want.AddDate(0, 0, 10), true},
		{"RFC 9110 §5.6.7 rfc850 year below 70 is 20yy", "Tuesday, 06-Nov-29 08:49:37 GMT", time.Date(2029, 11, 6, 8, 49, 37, 0, time.UTC), true},
		{"RFC 9110 §5.6.7 surrounding whitespace", " Sun, 06 Nov 1994 08:49:37 GMT ", want, true},
		{"RFC 9110 §5.6.7 leap second", "Sat, 31 Dec 2016 23:59:60 GMT", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"RFC 9110 §5.6.7 zone must be GMT", "Sun, 06 Nov 1994 08:49:37 UTC", time.Time{}, false},
		{"RFC 9110 §5.6.7 month names are case-sensitive", "Sun, 06 nov 1994 08:49:37 GMT", time.Time{}, false},
		{"RFC 9110 §5.6.7 unknown day name", "Xyz, 06 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"RFC 9110 §5.6.7 31 February", "Sun, 31 Feb 1994 08:49:37 GMT", time.Time{}, false},
		{"RFC 9110 §5.6.7 hour 24", "Sun, 06 Nov 1994 24:49:37 GMT", time.Time{}, false},
		{"RFC 9111 §5.3 the value 0", "0", time.Time{}, false},
		{"RFC 9111 §5.3 empty", "", time.Time{}, false},
		{"RFC 9110 §5.6.7 numeric zone", "Sun, 06 Nov 1994 08:49:37 +0000", time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseHTTPDate(tc.in)
			if ok != tc.ok || !got.Equal(tc.want) {
				t.Errorf("parseHTTPDate(%q) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
