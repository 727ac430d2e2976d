package httpsyntax

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzFieldLine holds IsToken, ValidFieldValue, TrimOWS, IsCanonical and
// SplitField to the plain reading of the RFC grammar in reference_test.go:
// on every input they must agree on what is accepted and, for SplitField,
// on the name and value. Seeds are in testdata/fuzz/FuzzFieldLine.
func FuzzFieldLine(f *testing.F) {
	f.Add("Content-Type: text/html")
	f.Fuzz(func(t *testing.T, line string) {
		if got, want := IsToken(line), refToken(line); got != want {
			t.Errorf("IsToken(%q) = %v, reference %v", line, got, want)
		}
		if got, want := ValidFieldValue(line), refValueBytes(line); got != want {
			t.Errorf("ValidFieldValue(%q) = %v, reference %v", line, got, want)
		}
		if got, want := TrimOWS(line), strings.Trim(line, " \t"); got != want {
			t.Errorf("TrimOWS(%q) = %q, reference %q", line, got, want)
		}
		if refToken(line) {
			if got, want := IsCanonical(line), http.CanonicalHeaderKey(line) == line; got != want {
				t.Errorf("IsCanonical(%q) = %v, http.CanonicalHeaderKey says %v", line, got, want)
			}
		}
		name, value, reason := SplitField(line)
		refName, refValue, ok := refFieldLine(line)
		switch {
		case ok && reason != "":
			t.Errorf("SplitField(%q) refuses it (%s), reference accepts %q: %q", line, reason, refName, refValue)
		case !ok && reason == "":
			t.Errorf("SplitField(%q) accepts %q: %q, reference refuses it", line, name, value)
		case ok && (name != refName || value != refValue):
			t.Errorf("SplitField(%q) = %q, %q, reference %q, %q", line, name, value, refName, refValue)
		}
	})
}
