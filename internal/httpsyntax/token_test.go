package httpsyntax

import "testing"

// TestCharClasses checks the tchar constants against the grammar they
// encode, for every byte.
func TestCharClasses(t *testing.T) {
	for i := 0; i < 256; i++ {
		c := byte(i)
		want := refTchar(c)
		if got := InSet(c, tcharLo, tcharHi); got != want {
			t.Errorf("InSet(%q, tcharLo, tcharHi) = %v, want %v", c, got, want)
		}
		if got := IsTchar(c); got != want {
			t.Errorf("IsTchar(%q) = %v, want %v", c, got, want)
		}
	}
}

func TestIsToken(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		want    bool
	}{
		{"method", "GET", true},
		{"field name", "X-Forwarded-For", true},
		{"every punctuation tchar", "!#$%&'*+-.^_`|~", true},
		{"empty", "", false},
		{"space", "a b", false},
		{"colon", "a:b", false},
		{"separator", "a(b)", false},
		{"DEL", "a\x7f", false},
		{"NUL", "a\x00", false},
		{"obs-text", "caf\xc3\xa9", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsToken(tc.s); got != tc.want {
				t.Errorf("IsToken(%q) = %v, want %v", tc.s, got, tc.want)
			}
		})
	}
}
