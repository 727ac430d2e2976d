package route

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestBuildConflicts(t *testing.T) {
	// at names the specs' positions after their names, so expected
	// messages stay readable.
	at := func(specs ...Spec) []Spec {
		for i := range specs {
			specs[i].Where = "palisade.yaml:" + specs[i].Name
			specs[i].Handler = namedHandler(specs[i].Name)
		}
		return specs
	}
	for _, tc := range []struct {
		name  string
		specs []Spec
		want  []string // Conflict.Error() of each reported pair, in order
	}{
		{
			name: "same exact host and prefix",
			specs: at(
				Spec{Name: "a", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/"},
				Spec{Name: "b", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/"},
			),
			want: []string{`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match host "api.example.com", path prefix "/v1/" (hint: give one a distinct match or a priority)`},
		},
		{
			name: "hosts equal after normalization",
			specs: at(
				Spec{Name: "a", Hosts: []string{"API.example.com."}, Path: "/x"},
				Spec{Name: "b", Hosts: []string{"api.example.com"}, Path: "/x"},
			),
			want: []string{`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match host "api.example.com", path "/x" (hint: give one a distinct match or a priority)`},
		},
		{
			name: "same wildcard",
			specs: at(
				Spec{Name: "a", Hosts: []string{"*.example.com"}, PathRegex: "^/a"},
				Spec{Name: "b", Hosts: []string{"*.Example.com"}, PathRegex: "^/a"},
			),
			want: []string{`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match host "*.example.com", path regex "^/a" (hint: give one a distinct match or a priority)`},
		},
		{
			name: "both any host and any path",
			specs: at(
				Spec{Name: "a"},
				Spec{Name: "b"},
			),
			want: []string{`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match any host, any path (hint: give one a distinct match or a priority)`},
		},
		{
			name: "one shared host of several",
			specs: at(
				Spec{Name: "a", Hosts: []string{"a.example", "b.example", "c.example"}, PathPrefix: "/"},
				Spec{Name: "b", Hosts: []string{"c.example", "d.example", "b.example"}, PathPrefix: "/"},
			),
			want: []string{`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match hosts "b.example", "c.example", path prefix "/" (hint: give one a distinct match or a priority)`},
		},
		{
			name: "overlapping methods",
			specs: at(
				Spec{Name: "a", Path: "/x", Methods: []string{"GET", "POST"}},
				Spec{Name: "b", Path: "/x", Methods: []string{"PUT", "GET"}},
			),
			want: []string{`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match any host, path "/x", method GET (hint: give one a distinct match or a priority)`},
		},
		{
			name: "identical headers, query and cookies at a priority",
			specs: at(
				Spec{Name: "a", Priority: 2, PathPrefix: "/p/", Methods: []string{"GET", "HEAD"}, Headers: map[string]string{"x-canary": "1"}, Query: map[string]string{"v": "2"}, Cookies: map[string]string{"beta": "on"}},
				Spec{Name: "b", Priority: 2, PathPrefix: "/p/", Methods: []string{"HEAD", "GET"}, Headers: map[string]string{"X-Canary": "1"}, Query: map[string]string{"v": "2"}, Cookies: map[string]string{"beta": "on"}},
			),
			want: []string{`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match any host, path prefix "/p/", methods GET, HEAD, header X-Canary "1", query v "2", cookie beta "on", at priority 2 (hint: give one a distinct match or a priority)`},
		},
		{
			name: "every pair of three",
			specs: at(
				Spec{Name: "a", Path: "/x"},
				Spec{Name: "b", Path: "/x"},
				Spec{Name: "ok", Path: "/y"},
				Spec{Name: "c", Path: "/x"},
			),
			want: []string{
				`route "b" (palisade.yaml:b) conflicts with route "a" (palisade.yaml:a): both match any host, path "/x" (hint: give one a distinct match or a priority)`,
				`route "c" (palisade.yaml:c) conflicts with route "a" (palisade.yaml:a): both match any host, path "/x" (hint: give one a distinct match or a priority)`,
				`route "c" (palisade.yaml:c) conflicts with route "b" (palisade.yaml:b): both match any host, path "/x" (hint: give one a distinct match or a priority)`,
			},
		},
		{
			name:  "no position",
			specs: []Spec{{Name: "a", Handler: namedHandler("a")}, {Name: "b", Handler: namedHandler("b")}},
			want:  []string{`route "b" conflicts with route "a": both match any host, any path (hint: give one a distinct match or a priority)`},
		},

		{name: "different exact hosts", specs: at(Spec{Name: "a", Hosts: []string{"a.example"}}, Spec{Name: "b", Hosts: []string{"b.example"}})},
		{name: "exact host and its wildcard", specs: at(Spec{Name: "a", Hosts: []string{"a.example.com"}}, Spec{Name: "b", Hosts: []string{"*.example.com"}})},
		{name: "host and any host", specs: at(Spec{Name: "a", Hosts: []string{"a.example"}}, Spec{Name: "b"})},
		{name: "different priorities", specs: at(Spec{Name: "a"}, Spec{Name: "b", Priority: 1})},
		{name: "exact path and prefix of the same value", specs: at(Spec{Name: "a", Path: "/x"}, Spec{Name: "b", PathPrefix: "/x"})},
		{name: "different prefixes", specs: at(Spec{Name: "a", PathPrefix: "/api"}, Spec{Name: "b", PathPrefix: "/api/"})},
		{name: "different regexps", specs: at(Spec{Name: "a", PathRegex: "^/a"}, Spec{Name: "b", PathRegex: "^/a$"})},
		{name: "disjoint methods", specs: at(Spec{Name: "a", Methods: []string{"GET"}}, Spec{Name: "b", Methods: []string{"POST"}})},
		{name: "method restriction and none", specs: at(Spec{Name: "a", Methods: []string{"GET"}}, Spec{Name: "b"})},
		{name: "different header values", specs: at(Spec{Name: "a", Headers: map[string]string{"X-A": "1"}}, Spec{Name: "b", Headers: map[string]string{"X-A": "2"}})},
		{name: "different header names", specs: at(Spec{Name: "a", Headers: map[string]string{"X-A": "1"}}, Spec{Name: "b", Headers: map[string]string{"X-B": "1"}})},
		{name: "header and query of one name", specs: at(Spec{Name: "a", Headers: map[string]string{"V": "1"}}, Spec{Name: "b", Query: map[string]string{"V": "1"}})},
		{name: "extra cookie", specs: at(Spec{Name: "a", Cookies: map[string]string{"a": "1"}}, Spec{Name: "b", Cookies: map[string]string{"a": "1", "b": "1"}})},
		{name: "query names differ in case", specs: at(Spec{Name: "a", Query: map[string]string{"v": "1"}}, Spec{Name: "b", Query: map[string]string{"V": "1"}})},
		{name: "duplicate host within one route", specs: at(Spec{Name: "a", Hosts: []string{"a.example", "A.example."}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := Build(tc.specs)
			if len(tc.want) == 0 {
				if err != nil || tbl == nil {
					t.Errorf("Build() = %v, %v; want a table and no error", tbl, err)
				}
				return
			}
			var ce *ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("Build() error = %v, want a *ConflictError", err)
			}
			if tbl != nil {
				t.Errorf("Build() table = %v, want nil with an error", tbl)
			}
			var got []string
			for _, c := range ce.Conflicts {
				got = append(got, c.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Build() conflicts =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if err.Error() != strings.Join(tc.want, "\n") {
				t.Errorf("Build() error = %q, want one line per conflict", err)
			}
		})
	}
}

func TestConflictFields(t *testing.T) {
	_, err := Build([]Spec{
		{Name: "a", Where: "palisade.yaml:12:5", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/", Handler: namedHandler("a")},
		{Name: "b", Where: "palisade.yaml:20:5", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/", Handler: namedHandler("b")},
	})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 {
		t.Fatalf("Build() error = %v, want one conflict", err)
	}
	want := Conflict{
		Name: "b", Where: "palisade.yaml:20:5",
		OtherName: "a", OtherWhere: "palisade.yaml:12:5",
		Shared: `host "api.example.com", path prefix "/v1/"`,
		Hint:   "give one a distinct match or a priority",
	}
	if got := ce.Conflicts[0]; got != want {
		t.Errorf("Build() conflict = %+v, want %+v", got, want)
	}
	if got, want := ce.Conflicts[0].Message(), `conflicts with route "a" (palisade.yaml:12:5): both match host "api.example.com", path prefix "/v1/"`; got != want {
		t.Errorf("Conflict.Message() = %q, want %q", got, want)
	}
}

func TestBuildSpecErrors(t *testing.T) {
	h := namedHandler("r")
	for _, tc := range []struct {
		name string
		spec Spec
		want []string // regexps, one per expected problem, in order
	}{
		{"no handler", Spec{Name: "r", Where: "p.yaml:1:1"}, []string{`^route "r" \(p\.yaml:1:1\): no handler$`}},
		{"bad regexp", Spec{Name: "r", PathRegex: "(", Handler: h}, []string{`^route "r": path_regex: error parsing regexp`}},
		{"two path predicates", Spec{Name: "r", Path: "/a", PathPrefix: "/a", Handler: h}, []string{`more than one of path, path_prefix and path_regex`}},
		{"relative path", Spec{Name: "r", Path: "a", Handler: h}, []string{`path "a" does not start with "/"`}},
		{"relative prefix", Spec{Name: "r", PathPrefix: "api/", Handler: h}, []string{`path_prefix "api/" does not start with "/"`}},
		{"host with port", Spec{Name: "r", Hosts: []string{"a.example:80"}, Handler: h}, []string{`host "a.example:80": a host must not carry a port`}},
		{"wildcard in the middle", Spec{Name: "r", Hosts: []string{"a.*.example"}, Handler: h}, []string{`a wildcard must be the whole first label`}},
		{"bare wildcard", Spec{Name: "r", Hosts: []string{"*"}, Handler: h}, []string{`a wildcard must be the whole first label`}},
		{"empty wildcard suffix", Spec{Name: "r", Hosts: []string{"*."}, Handler: h}, []string{`the part after "\*\." is not a host name`}},
		{"empty label", Spec{Name: "r", Hosts: []string{"a..example"}, Handler: h}, []string{`host "a\.\.example" is not a host name`}},
		{"unicode host", Spec{Name: "r", Hosts: []string{"bücher.example"}, Handler: h}, []string{`xn-- form`}},
		{"bad IPv6 literal", Spec{Name: "r", Hosts: []string{"[::1"}, Handler: h}, []string{`not an IPv6 literal`}},
		{"empty host", Spec{Name: "r", Hosts: []string{""}, Handler: h}, []string{`host "" is not a host name`}},
		{"bad method", Spec{Name: "r", Methods: []string{"GET POST"}, Handler: h}, []string{`method "GET POST" is not a token`}},
		{"bad header name", Spec{Name: "r", Headers: map[string]string{"X A": "1"}, Handler: h}, []string{`header name "X A" is not a token`}},
		{"host header", Spec{Name: "r", Headers: map[string]string{"host": "a"}, Handler: h}, []string{`header Host cannot be matched as a header \(hint: use host\)`}},
		{"bad cookie name", Spec{Name: "r", Cookies: map[string]string{"a=b": "1"}, Handler: h}, []string{`cookie name "a=b" is not a token`}},
		{"bad cookie value", Spec{Name: "r", Cookies: map[string]string{"a": "x;y"}, Handler: h}, []string{`cookie "a": value "x;y" holds a byte`}},
		{"every problem", Spec{Name: "r", Hosts: []string{"*", "a:1"}, PathRegex: "[", Path: "/"}, []string{`no handler`, `wildcard`, `port`, `path_regex`, `more than one`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := Build([]Spec{{Name: "fine", Handler: h, Path: "/fine"}, tc.spec})
			if tbl != nil {
				t.Errorf("Build() table = %v, want nil with an error", tbl)
			}
			var got []string
			if joined, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range joined.Unwrap() {
					var se *SpecError
					if !errors.As(e, &se) || se.Name != "r" {
						t.Errorf("Build() error %v is not a *SpecError for route r", e)
					}
					got = append(got, e.Error())
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Build() errors = %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(got[i]) {
					t.Errorf("Build() error %d = %q, want a match for %q", i, got[i], w)
				}
			}
		})
	}
}
