package compress

import (
	"palisade/internal/config"

	"regexp"
	"strings"
	"testing"
)

var defaultPrefs = []coding{codingZstd, codingBr, codingGzip}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string // nil: no Accept-Encoding field
		prefs  []coding
		want   coding
	}{
		{"absent field", nil, defaultPrefs, identity},
		{"empty field", []string{""}, defaultPrefs, identity},
		{"browser list takes the server preference", []string{"gzip, deflate, br, zstd"}, defaultPrefs, codingZstd},
		{"only gzip", []string{"gzip"}, defaultPrefs, codingGzip},
		{"higher weight wins over preference", []string{"zstd;q=0.5, gzip"}, defaultPrefs, codingGzip},
		{"tie goes to server preference", []string{"gzip;q=0.8, br;q=0.8"}, defaultPrefs, codingBr},
		{"tie with another preference order", []string{"gzip, br"}, []coding{codingGzip, codingBr}, codingGzip},
		{"q=0 forbids", []string{"zstd;q=0, br;q=0, gzip"}, defaultPrefs, codingGzip},
		{"star takes unlisted codings", []string{"*"}, defaultPrefs, codingZstd},
		{"star with an exclusion", []string{"zstd;q=0, *"}, defaultPrefs, codingBr},
		{"star at zero forbids unlisted", []string{"gzip;q=0.1, *;q=0"}, defaultPrefs, codingGzip},
		{"identity outweighs", []string{"gzip;q=0.5, identity"}, defaultPrefs, identity},
		{"identity tie compresses", []string{"gzip, identity"}, defaultPrefs, codingGzip},
		{"nothing acceptable sends identity", []string{"identity;q=0, *;q=0"}, defaultPrefs, identity},
		{"only unknown codings", []string{"deflate, compress"}, defaultPrefs, identity},
		{"case-insensitive names and q", []string{"GZIP;Q=0.9, Br;q=0.1"}, defaultPrefs, codingGzip},
		{"whitespace around everything", []string{" \tbr \t; \tq=1 \t,\tgzip ; q=0.5 "}, defaultPrefs, codingBr},
		{"x-gzip is gzip", []string{"x-gzip"}, defaultPrefs, codingGzip},
		{"several field lines", []string{"gzip;q=0.5", "br;q=0.7"}, defaultPrefs, codingBr},
		{"malformed weight ignores the element", []string{"zstd;q=2, gzip;q=0.2"}, defaultPrefs, codingGzip},
		{"too many decimals ignores the element", []string{"zstd;q=0.0001, gzip;q=0.2"}, defaultPrefs, codingGzip},
		{"first duplicate wins", []string{"gzip;q=0, gzip"}, []coding{codingGzip}, identity},
		{"empty elements", []string{",, ,gzip,,"}, defaultPrefs, codingGzip},
		{"coding not configured", []string{"br"}, []coding{codingGzip}, identity},
		{"extension parameters are skipped", []string{"br;level=3;q=0.4, gzip;q=0.3"}, defaultPrefs, codingBr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := parseAcceptEncoding(tc.fields)
			if got := a.choose(tc.prefs); got != tc.want {
				t.Errorf("choose(%q, %v) = %v, want %v", tc.fields, tc.prefs, got, tc.want)
			}
		})
	}
}

func TestParseQValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int16
		ok   bool
	}{
		{"1", 1000, true}, {"1.", 1000, true}, {"1.000", 1000, true}, {"0", 0, true},
		{"0.5", 500, true}, {"0.05", 50, true}, {"0.001", 1, true}, {"0.999", 999, true},
		{"1.001", 0, false}, {"0.1234", 0, false}, {"2", 0, false}, {".5", 0, false},
		{"", 0, false}, {"0,5", 0, false}, {"1e0", 0, false}, {"-0", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseQValue(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseQValue(%q) = %d, %v, want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseAcceptEncodingAllocs(t *testing.T) {
	fields := []string{"gzip;q=0.8, deflate, br;q=0.9", "zstd, identity;q=0.1, *;q=0"}
	allocs := testing.AllocsPerRun(100, func() {
		a := parseAcceptEncoding(fields)
		if a.choose(defaultPrefs) != codingZstd {
			t.Fatal("wrong coding")
		}
	})
	if allocs != 0 {
		t.Errorf("parseAcceptEncoding allocates %v times per call, want 0", allocs)
	}
}

func TestListHas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		elem   string
		want   bool
	}{
		{"single", []string{"no-transform"}, "no-transform", true},
		{"in a list", []string{"max-age=60, No-Transform"}, "no-transform", true},
		{"second line", []string{"Origin", "accept-encoding"}, "Accept-Encoding", true},
		{"with a value", []string{"private=\"x\", max-age=5"}, "max-age", true},
		{"prefix is not a match", []string{"no-transformer"}, "no-transform", false},
		{"absent", []string{"Origin, Cookie"}, "Accept-Encoding", false},
		{"no field", nil, "*", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := listHas(tc.values, tc.elem); got != tc.want {
				t.Errorf("listHas(%q, %q) = %v, want %v", tc.values, tc.elem, got, tc.want)
			}
		})
	}
}

// FuzzAcceptEncoding checks the allocation-free parser against a plain
// implementation of the same rules written with regular expressions, and
// that the chosen coding is always one the client accepts or identity. A
// newline in the input separates field lines.
func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{
		"gzip, deflate, br, zstd", "*", "identity;q=0, *;q=0", "br;q=0.5, gzip;q=0.5",
		"GZIP;Q=1.000", "zstd;q=0.0001", ";;,,", "gzip\nbr;q=0.9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fields := strings.Split(s, "\n")
		for _, prefs := range [][]coding{defaultPrefs, {codingGzip, codingBr}, {codingBr}} {
			a := parseAcceptEncoding(fields)
			got := a.choose(prefs)
			want := referenceChoose(fields, prefs)
			if got != want {
				t.Fatalf("choose(%q, %v) = %v, reference says %v", fields, prefs, got, want)
			}
			if got != identity {
				q := a.q[got]
				if q == qUnset {
					q = a.star
				}
				if q <= 0 {
					t.Fatalf("choose(%q) = %v with weight %d", fields, got, q)
				}
			}
		}
	})
}

var (
	qvalueRE = regexp.MustCompile(`^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$`)
)

// referenceChoose is the negotiation written for clarity, not speed.
func referenceChoose(fields []string, prefs []coding) coding {
	if len(fields) == 0 {
		return identity
	}
	weights := map[string]int{}
	for _, elem := range strings.Split(strings.Join(fields, ","), ",") {
		parts := strings.Split(elem, ";")
		name := asciiLower(strings.Trim(parts[0], " \t"))
		if name == "" {
			continue
		}
		if name == "x-gzip" {
			name = "gzip"
		}
		q, valid := 1000, true
		for _, p := range parts[1:] {
			if strings.Trim(p, " \t") == "" {
				continue
			}
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				valid = false
				break
			}
			if k = strings.Trim(k, " \t"); k != "q" && k != "Q" {
				continue
			}
			v = strings.Trim(v, " \t")
			if !qvalueRE.MatchString(v) {
				valid = false
				break
			}
			q = 0
			if v[0] == '1' {
				q = 1000
			}
			frac := v[min(len(v), 2):] + "000"
			q += int(frac[0]-'0')*100 + int(frac[1]-'0')*10 + int(frac[2]-'0')
		}
		if !valid {
			continue
		}
		if _, seen := weights[name]; !seen {
			weights[name] = q
		}
	}
	best, bestQ := identity, 0
	for _, c := range prefs {
		q, ok := weights[c.String()]
		if !ok {
			q, ok = weights["*"]
		}
		if ok && q > bestQ {
			best, bestQ = c, q
		}
	}
	if iq, ok := weights["identity"]; ok && best != identity && iq > bestQ {
		return identity
	}
	return best
}

// asciiLower lowercases ASCII letters only, as HTTP token comparison does.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// TestChooser checks that the exported negotiation, which the cache keys
// its Accept-Encoding variants by, is the one the middleware applies.
func TestChooser(t *testing.T) {
	cfg := config.DefaultCompress()
	cfg.Encodings = []string{"gzip", "br"}
	choose := Chooser(cfg)
	for _, tc := range []struct{ acceptEncoding, want string }{
		{"", "identity"},
		{"gzip, br", "gzip"},
		{"br;q=1, gzip", "gzip"},
		{"zstd, gzip, br", "gzip"},
		{"gzip;q=0.5, br", "br"},
		{"zstd", "identity"},
		{"identity", "identity"},
		{"X-GZIP", "gzip"},
	} {
		if got := choose(tc.acceptEncoding); got != tc.want {
			t.Errorf("Chooser([gzip br])(%q) = %q, want %q", tc.acceptEncoding, got, tc.want)
		}
		a := parseAcceptEncoding([]string{tc.acceptEncoding})
		if tc.acceptEncoding != "" {
			if mw := a.choose([]coding{codingGzip, codingBr}).String(); mw != tc.want {
				t.Errorf("the middleware chooses %q for %q, Chooser %q", mw, tc.acceptEncoding, tc.want)
			}
		}
	}
}
