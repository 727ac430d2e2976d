package cache

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestVaryNames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vary     []string
		want     []string
		wantStar bool
	}{
		{"§4.1 no Vary", nil, nil, false},
		{"§4.1 canonical, deduplicated and sorted", []string{"accept-encoding, Accept", "ACCEPT-ENCODING,user-agent"}, []string{"Accept", "Accept-Encoding", "User-Agent"}, false},
		{"§4.1 star", []string{"Accept, *"}, []string{"Accept"}, true},
		{"§4.1 empty members ignored", []string{" , ,Origin, "}, []string{"Origin"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.vary != nil {
				h["Vary"] = tc.vary
			}
			got, star := varyNames(h)
			if !reflect.DeepEqual(got, tc.want) || star != tc.wantStar {
				t.Errorf("varyNames(%q) = %q, %v, want %q, %v", tc.vary, got, star, tc.want, tc.wantStar)
			}
		})
	}
}

func TestVaryKey(t *testing.T) {
	names := []string{"Accept", "Accept-Encoding", "Accept-Language", "X-Mode"}
	key := func(h http.Header) string { return varyKey(names, h, nil) }
	for _, tc := range []struct {
		name string
		a, b http.Header
		same bool
	}{
		{"§4.1 whitespace does not matter", http.Header{"Accept-Encoding": {"gzip,br"}}, http.Header{"Accept-Encoding": {" gzip , br "}}, true},
		{"§4.1 list order of Accept-Encoding does not matter", http.Header{"Accept-Encoding": {"gzip, br"}}, http.Header{"Accept-Encoding": {"br, gzip"}}, true},
		{"§4.1 case of content-codings does not matter", http.Header{"Accept-Encoding": {"GZIP"}}, http.Header{"Accept-Encoding": {"gzip"}}, true},
		{"§4.1 field lines combine as one list", http.Header{"Accept-Language": {"en", "fr;q=0.5"}}, http.Header{"Accept-Language": {"en, fr; q=0.5"}}, true},
		// Regression: Accept-Language members were sorted, so that at
		// equal weights one user's language was served to another.
		{"§4.1 order of Accept-Language matters", http.Header{"Accept-Language": {"en, fr"}}, http.Header{"Accept-Language": {"fr, en"}}, false},
		{"§4.1 order of Accept matters", http.Header{"Accept": {"text/html, application/json"}}, http.Header{"Accept": {"application/json, text/html"}}, false},
		{"§4.1 case of language tags does not matter", http.Header{"Accept-Language": {"en-US, fr;Q=0.5"}}, http.Header{"Accept-Language": {"EN-us,FR ; q=0.5"}}, true},
		{"§4.1 spelling of weights does not matter", http.Header{"Accept-Language": {"en;q=1.000, fr;q=0.50"}}, http.Header{"Accept-Language": {"en;q=1, fr;q=0.5"}}, true},
		{"§4.1 different values differ", http.Header{"Accept-Encoding": {"gzip"}}, http.Header{"Accept-Encoding": {"br"}}, false},
		{"§4.1 absent differs from empty", http.Header{}, http.Header{"X-Mode": {""}}, false},
		{"§4.1 value of another field cannot fake a name", http.Header{"X-Mode": {"a\nAccept-Language:x"}}, http.Header{"X-Mode": {"a"}, "Accept-Language": {"x"}}, false},
		{"§4.1 case of other field values matters", http.Header{"X-Mode": {"A"}}, http.Header{"X-Mode": {"a"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := key(tc.a), key(tc.b)
			if (ka == kb) != tc.same {
				t.Errorf("varyKey(%v) = %q, varyKey(%v) = %q; same = %v, want %v", tc.a, ka, tc.b, kb, ka == kb, tc.same)
			}
		})
	}
	t.Run("§4.1 normalize maps Accept-Encoding to the chosen coding", func(t *testing.T) {
		choose := func(v string) string {
			if strings.Contains(v, "br") {
				return "br"
			}
			return "identity"
		}
		a := varyKey(names, http.Header{"Accept-Encoding": {"gzip, deflate, br"}}, choose)
		b := varyKey(names, http.Header{"Accept-Encoding": {"br;q=1, zstd"}}, choose)
		if a != b {
			t.Errorf("varyKey with normalize = %q and %q, want equal", a, b)
		}
	})
}

func TestNormalizeList(t *testing.T) {
	for _, tc := range []struct {
		in          string
		lowerValues bool
		want        string
	}{
		{"fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", true, "fr-ch,fr;q=0.9,en;q=0.8,*;q=0.5"},
		{"EN , De", true, "en,de"},
		{"en;Q=1.0, de;q=0.000, fr;q=0.", true, "en;q=1,de;q=0,fr;q=0"},
		{"en;q=1.5, de;q=0.0001", true, "en;q=1.5,de;q=0.0001"},
		{"Text/HTML;Level=1;Charset=UTF-8, */*;q=0.10", true, "text/html;level=1;charset=utf-8,*/*;q=0.1"},
		{"Text/HTML;Profile=Abc", false, "text/html;profile=Abc"},
		{`text/html;x="A b"`, false, `text/html;x="A b"`},
		{", ,en,", true, "en"},
	} {
		if got := normalizeList(tc.in, tc.lowerValues); got != tc.want {
			t.Errorf("normalizeList(%q, %v) = %q, want %q", tc.in, tc.lowerValues, got, tc.want)
		}
	}
}

func TestNormalizeCodings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"gzip, br", "br,gzip"},
		{"BR;q=1, gzip", "br,gzip"},
		{" br ; q=0.5 ,gzip;level=9", "br,gzip"},
		{"gzip, br, zstd;q=0", "br,gzip"},
		{"gzip;q=0.000, br", "br"},
		{"gzip, gzip;q=0.2", "gzip"},
		{"br, identity;q=0", "br,identity;q=0"},
		{"*;q=0, gzip", "*;q=0,gzip"},
		{"gzip;q=2", "gzip;q=2"},
		{"gzip;q=1.000", "gzip"},
		{"gzip;q=1.001", "gzip;q=1.001"},
		{", ,", ""},
	} {
		if got := normalizeCodings(tc.in); got != tc.want {
			t.Errorf("normalizeCodings(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCodingSelected(t *testing.T) {
	choose := func(string) string { return "gzip" }
	for _, tc := range []struct {
		name      string
		req, resp http.Header
		want      bool
	}{
		{"identity always fits", http.Header{"Accept-Encoding": {"gzip"}}, http.Header{}, true},
		{"the chosen coding fits", http.Header{"Accept-Encoding": {"gzip"}}, http.Header{"Content-Encoding": {"GZIP"}}, true},
		{"the origin's own other coding does not", http.Header{"Accept-Encoding": {"gzip, br"}}, http.Header{"Content-Encoding": {"br"}}, false},
		{"a coding for a no-transform client does not", http.Header{"Accept-Encoding": {"gzip"}, "Cache-Control": {"no-transform"}}, http.Header{"Content-Encoding": {"gzip"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := codingSelected(tc.req, tc.resp, choose); got != tc.want {
				t.Errorf("codingSelected(%v, %v) = %v, want %v", tc.req, tc.resp, got, tc.want)
			}
		})
	}
}
