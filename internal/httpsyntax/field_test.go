package httpsyntax

import (
	"net/http"
	"testing"
)

func TestSplitField(t *testing.T) {
	for _, tc := range []struct {
		name, line, wantName, wantValue, wantReason string
	}{
		{"plain", "Host: example.com", "Host", "example.com", ""},
		{"no space after colon", "Host:example.com", "Host", "example.com", ""},
		{"OWS trimmed", "X-A: \t v w \t", "X-A", "v w", ""},
		{"empty value", "X-Empty:", "X-Empty", "", ""},
		{"only OWS", "X-Empty: \t ", "X-Empty", "", ""},
		{"colon in value", "Referer: http://a/", "Referer", "http://a/", ""},
		{"obs-text in value", "X-A: caf\xc3\xa9", "X-A", "caf\xc3\xa9", ""},
		{"name kept as sent", "content-TYPE: a", "content-TYPE", "a", ""},
		{"obs-fold SP", " folded", "", "", "obsolete line folding"},
		{"obs-fold HTAB", "\tfolded", "", "", "obsolete line folding"},
		{"no colon", "Host", "", "", "field line without a colon"},
		{"empty line", "", "", "", "field line without a colon"},
		{"no name", ": v", "", "", "field line without a name"},
		{"space before colon", "Host : a", "", "", "invalid field name"},
		{"separator in name", "X(A): a", "", "", "invalid field name"},
		{"CR in value", "X-A: a\rb", "", "", "invalid field value"},
		{"LF in value", "X-A: a\nb", "", "", "invalid field value"},
		{"NUL in value", "X-A: a\x00b", "", "", "invalid field value"},
		{"DEL in value", "X-A: a\x7fb", "", "", "invalid field value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, value, reason := SplitField(tc.line)
			if name != tc.wantName || value != tc.wantValue || reason != tc.wantReason {
				t.Errorf("SplitField(%q) = %q, %q, %q, want %q, %q, %q",
					tc.line, name, value, reason, tc.wantName, tc.wantValue, tc.wantReason)
			}
		})
	}
}

func TestTrimOWS(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{" \ta b\t ", "a b"},
		{" \t ", ""},
		{"\va\v", "\va\v"}, // only SP and HTAB are OWS
	} {
		if got := TrimOWS(tc.in); got != tc.want {
			t.Errorf("TrimOWS(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsCanonical(t *testing.T) {
	for _, name := range []string{
		"Host", "Content-Type", "X-Forwarded-For", "Te", "te", "content-type",
		"X-FORWARDED-FOR", "X-Custom_thing", "x-custom_Thing", "A--B", "-a", "1a", "A1B",
	} {
		want := http.CanonicalHeaderKey(name) == name
		if got := IsCanonical(name); got != want {
			t.Errorf("IsCanonical(%q) = %v, want %v", name, got, want)
		}
	}
}
