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

// FuzzParseRange checks parseRange's result on any Range value against a
// set of representation sizes: every range lies inside the representation
// and is non-empty, none overlaps or touches another (they were
// coalesced, RFC 9110 §15.3.7.2), there are at most maxRanges, and they add
// up to no more than the representation. Seeds are in
// testdata/fuzz/FuzzParseRange.
func FuzzParseRange(f *testing.F) {
	f.Add([]byte("bytes=0-499,-500"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := string(in)
		for _, size := range []int64{0, 1, 10, 10000, 1 << 40} {
			rs, err := parseRange(s, size)
			if err != nil {
				if err != errUnsatisfiable || rs != nil {
					t.Fatalf("parseRange(%q, %d) = %v, %v", s, size, rs, err)
				}
				continue
			}
			if len(rs) > maxRanges {
				t.Errorf("parseRange(%q, %d) gives %d ranges", s, size, len(rs))
			}
			var total int64
			for i, r := range rs {
				if r.start < 0 || r.length <= 0 || r.start+r.length > size {
					t.Errorf("parseRange(%q, %d): range %+v outside the representation", s, size, r)
				}
				total += r.length
				for _, o := range rs[i+1:] {
					if r.start <= o.start+o.length && o.start <= r.start+r.length {
						t.Errorf("parseRange(%q, %d): ranges %+v and %+v overlap or touch", s, size, r, o)
					}
				}
			}
			if total > size {
				t.Errorf("parseRange(%q, %d): %d bytes in all", s, size, total)
			}
		}
	})
}

// FuzzTargeted checks targetedDirectives on any targeted field (one line,
// or two separated by a newline) with Cache-Control: no-store beside it:
// an invalid field falls back to Cache-Control, a valid one gives targeted
// directives with in-range delta-seconds, leading spaces do not change the
// reading (RFC 8941 §4.2), and repeating a valid one-line value changes
// nothing, since a Dictionary's later member replaces the earlier (§4.2.2).
// Seeds are in testdata/fuzz/FuzzTargeted.
func FuzzTargeted(f *testing.F) {
	f.Add([]byte("max-age=60, must-revalidate"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := string(in)
		lines := strings.Split(s, "\n")
		h := http.Header{"Cdn-Cache-Control": lines, "Cache-Control": {"no-store"}}
		d, targeted := targetedDirectives(h, "", true)
		if targeted != d.targeted {
			t.Fatalf("targetedDirectives(%q) = %+v, %v: flag disagrees", s, d, targeted)
		}
		if !targeted {
			if !d.noStore {
				t.Errorf("targetedDirectives(%q) did not fall back to Cache-Control", s)
			}
			return
		}
		for _, v := range []int64{d.maxAge, d.sMaxAge, d.staleWhileRevalidate, d.staleIfError} {
			if v < -1 || v > maxDeltaSeconds {
				t.Errorf("targetedDirectives(%q): delta-seconds %d out of range", s, v)
			}
		}
		spaced := http.Header{"Cdn-Cache-Control": {"  " + lines[0]}}
		if len(lines) == 1 {
			if d2, ok := targetedDirectives(spaced, "", true); !ok || !reflect.DeepEqual(d2, d) {
				t.Errorf("targetedDirectives with leading spaces of %q = %+v, %v, want %+v", s, d2, ok, d)
			}
			twice := http.Header{"Cdn-Cache-Control": {s + ", " + s}}
			if d2, ok := targetedDirectives(twice, "", true); !ok || !reflect.DeepEqual(d2, d) {
				t.Errorf("targetedDirectives of %q repeated = %+v, %v, want %+v", s, d2, ok, d)
			}
		}
	})
}
