package cache

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"palisade/internal/httpsyntax"
)

// asciiUpper upper-cases ASCII letters only, keeping every other byte.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// FuzzParseCacheControl checks parseCacheControl's invariants on any input:
// delta-seconds are -1 or within [0, 2^31] (RFC 9111 §1.2.2), qualified
// field names are canonical tokens, directive names are case-insensitive
// (§5.2), and two field lines mean what one line joining them with a comma
// means (RFC 9110 §5.3) when no quoted-string could straddle them. Seeds
// are in testdata/fuzz/FuzzParseCacheControl.
func FuzzParseCacheControl(f *testing.F) {
	f.Add([]byte("public, max-age=60"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := string(in)
		a, b, _ := strings.Cut(s, "\n")
		d := parseCacheControl([]string{a, b})
		for _, v := range []int64{d.maxAge, d.sMaxAge, d.maxStale, d.minFresh, d.staleWhileRevalidate, d.staleIfError} {
			if v < -1 || v > maxDeltaSeconds {
				t.Fatalf("parseCacheControl(%q): delta-seconds %d out of range in %+v", s, v, d)
			}
		}
		if d.maxStaleAny && d.maxStale >= 0 {
			t.Errorf("parseCacheControl(%q): both max-stale forms set", s)
		}
		for _, names := range [][]string{d.noCacheFields, d.privateFields} {
			for _, n := range names {
				if !httpsyntax.IsToken(n) || http.CanonicalHeaderKey(n) != n {
					t.Errorf("parseCacheControl(%q): field name %q is not a canonical token", s, n)
				}
			}
		}
		if up := parseCacheControl([]string{asciiUpper(a), asciiUpper(b)}); !reflect.DeepEqual(up, d) {
			t.Errorf("parseCacheControl of %q upper-cased = %+v, want %+v", s, up, d)
		}
		if !strings.ContainsAny(s, `"\`) {
			if joined := parseCacheControl([]string{a + "," + b}); !reflect.DeepEqual(joined, d) {
				t.Errorf("parseCacheControl(%q joined) = %+v, want %+v as two lines", s, joined, d)
			}
		}
	})
}
