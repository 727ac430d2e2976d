package httpsyntax

import "testing"

func TestFold(t *testing.T) {
	for _, tc := range []struct {
		a, b         string
		equal, prefx bool
	}{
		{"gzip", "GZip", true, true},
		{"Bearer abc", "bearer ", false, true},
		{"zſtd", "zstd", false, false},
		{"br", "brotli", false, false},
		{"", "", true, true},
	} {
		if got := EqualFold(tc.a, tc.b); got != tc.equal {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.equal)
		}
		if got := HasPrefixFold(tc.a, tc.b); got != tc.prefx {
			t.Errorf("HasPrefixFold(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.prefx)
		}
	}
}

func TestEqualFoldUnderscore(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"X-Forwarded-For", "x_forwarded_for", true},
		{"X_User", "X-USER", true},
		{"X-User", "X-Users", false},
		{"X.User", "X-User", false},
	} {
		if got := EqualFoldUnderscore(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFoldUnderscore(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
