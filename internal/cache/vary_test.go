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
	names := []string{"Accept-Encoding", "Accept-Language", "X-Mode"}
	key := func(h http.Header) string { return varyKey(names, h, nil) }
	for _, tc := range []struct {
		name string
		a, b http.Header
		same bool
	}{
		{"§4.1 whitespace does not matter", http.Header{"Accept-Encoding": {"gzip,br"}}, http.Header{"Accept-Encoding": {" gzip , br "}}, true},
		{"§4.1 list order of Accept-Encoding does not matter", http.Header{"Accept-Encoding": {"gzip, br"}}, http.Header{"Accept-Encoding": {"br, gzip"}}, true},
		{"§4.1 case of content-codings does not matter", http.Header{"Accept-Encoding": {"GZIP"}}, http.Header{"Accept-Encoding": {"gzip"}}, true},
		{"§4.1 field lines combine as one list", http.Header{"Accept-Language": {"en", "fr;q=0.5"}}, http.Header{"Accept-Language": {"fr; q=0.5, en"}}, true},
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
		choose := func(name, v string) string {
			if name == "Accept-Encoding" && strings.Contains(v, "br") {
				return "br"
			}
			return v
		}
		a := varyKey(names, http.Header{"Accept-Encoding": {"gzip, deflate, br"}}, choose)
		b := varyKey(names, http.Header{"Accept-Encoding": {"br;q=1, zstd"}}, choose)
		if a != b {
			t.Errorf("varyKey with normalize = %q and %q, want equal", a, b)
		}
	})
}
