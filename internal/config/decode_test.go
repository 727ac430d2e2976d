package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// base is a minimal valid document; decoding cases append one line 3.
const base = "listeners: [{name: web, address: 127.0.0.1:8080}]\nupstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]\n"

func TestDecodeProblems(t *testing.T) {
	const routeKeys = "valid keys: name, listeners, match, priority, middlewares, upstream, retry_non_idempotent"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{
			"unknown top-level key",
			"listener: []\n",
			[]string{
				`t.yaml:1:1: unknown key "listener" (hint: did you mean listeners? valid keys: runtime, access_log, listeners, routes, upstreams, cache_zones, ratelimit_zones)`,
				"t.yaml:1:1: listeners: at least one listener is required (hint: add one, like listeners: [{name: web, address: 127.0.0.1:8080}])",
			},
		},
		{
			"unknown key with no near match",
			base + "routes: [{name: a, upstream: api, colour: red}]\n",
			[]string{`t.yaml:3:35: routes[0]: unknown key "colour" (hint: ` + routeKeys + ")"},
		},
		{
			"unknown key differing in case",
			base + "routes: [{Name: a, upstream: api}]\n",
			[]string{
				"t.yaml:3:10: routes[0].name: missing (hint: every route needs a unique name, like name: api)",
				`t.yaml:3:11: routes[0]: unknown key "Name" (hint: did you mean name? ` + routeKeys + ")",
			},
		},
		{
			"mapping for a list",
			base + "routes: {name: a, upstream: api}\n",
			[]string{`t.yaml:3:9: routes: expected a list, got a mapping (hint: write each entry on its own line starting with "- ")`},
		},
		{
			"list for a mapping",
			base + "routes: [{name: a, upstream: api, match: [path: /]}]\n",
			[]string{`t.yaml:3:42: routes[0].match: expected a mapping, got a list (hint: write key: value lines without a leading "- ")`},
		},
		{
			"list for a string",
			base + "routes: [{name: [a], upstream: api}]\n",
			[]string{"t.yaml:3:17: routes[0].name: expected a string, got a list"},
		},
		{
			"string for a list",
			base + "routes: [{name: a, upstream: api, match: {methods: GET}}]\n",
			[]string{"t.yaml:3:52: routes[0].match.methods: expected a list, got a string (hint: write [GET])"},
		},
		{
			"mapping for a string list",
			base + "routes: [{name: a, upstream: api, match: {host: {a: b}}}]\n",
			[]string{"t.yaml:3:49: routes[0].match.host: expected a string or a list of strings, got a mapping"},
		},
		{
			"mapping for an entry",
			base + "routes: [{name: a, upstream: api, middlewares: [compress]}]\n",
			[]string{"t.yaml:3:49: routes[0].middlewares[0]: expected a mapping, got a string"},
		},
		{
			"duplicate key",
			base + "routes:\n  - name: a\n    upstream: api\n    name: b\n",
			[]string{`t.yaml:6:5: routes[0].name: duplicate key "name" (first defined at 4:5) (hint: remove one of them)`},
		},
		{
			"duplicate section",
			base + "upstreams: []\n",
			[]string{`t.yaml:3:1: upstreams: duplicate key "upstreams" (first defined at 2:1) (hint: remove one of them)`},
		},
		{
			"key that is not a string",
			base + "? [a]\n: b\n",
			[]string{"t.yaml:3:3: expected a string key, got a list"},
		},
		{
			"fraction for an integer",
			base + "routes: [{name: a, upstream: api, priority: 1.5}]\n",
			[]string{`t.yaml:3:45: routes[0].priority: "1.5" is not an integer`},
		},
		{
			"integer out of range",
			base + "runtime: {gogc: 9999999999999999999}\n",
			[]string{`t.yaml:3:17: runtime.gogc: "9999999999999999999" is out of range`},
		},
		{
			"yes for a boolean",
			"listeners: [{name: web, address: 127.0.0.1:8080}]\nupstreams: [{name: api, forwarded: yes, backends: [{address: 127.0.0.1:9001}]}]\n",
			[]string{`t.yaml:2:36: upstreams[0].forwarded: "yes" is not a boolean (hint: write true or false)`},
		},
		{
			"unknown middleware kind",
			base + "routes: [{name: a, upstream: api, middlewares: [{kind: compres}]}]\n",
			[]string{`t.yaml:3:56: routes[0].middlewares[0].kind: unknown middleware kind "compres" (hint: did you mean compress? known kinds: auth, cache, compress, ipfilter, ratelimit)`},
		},
		{
			"missing middleware kind",
			base + "routes: [{name: a, upstream: api, middlewares: [{levels: {gzip: 1}}]}]\n",
			[]string{"t.yaml:3:49: routes[0].middlewares[0].kind: missing (hint: say which middleware this is with kind: one of auth, cache, compress, ipfilter, ratelimit)"},
		},
		{
			"null middleware kind",
			base + "routes: [{name: a, upstream: api, middlewares: [{kind: ~}]}]\n",
			[]string{"t.yaml:3:49: routes[0].middlewares[0].kind: missing (hint: say which middleware this is with kind: one of auth, cache, compress, ipfilter, ratelimit)"},
		},
		{
			"list for a middleware kind",
			base + "routes: [{name: a, upstream: api, middlewares: [{kind: [compress]}]}]\n",
			[]string{"t.yaml:3:56: routes[0].middlewares[0].kind: expected a string, got a list"},
		},
		{
			"unknown middleware key",
			base + "routes: [{name: a, upstream: api, middlewares: [{kind: compress, level: 5}]}]\n",
			[]string{`t.yaml:3:66: routes[0].middlewares[0]: unknown key "level" (hint: did you mean levels? valid keys: kind, encodings, levels, min_length, types)`},
		},
		{
			"bad middleware value",
			base + "routes: [{name: a, upstream: api, middlewares: [{kind: compress, min_length: 5 kB}]}]\n",
			[]string{`t.yaml:3:78: routes[0].middlewares[0].min_length: "5 kB" is not a size (hint: write 5KB)`},
		},
		{
			"merge of a scalar",
			"listeners: [{<<: 5}]\n",
			[]string{"t.yaml:1:18: listeners[0]: expected a mapping or a list of mappings to merge, got an integer"},
		},
		{
			"mapping merged into itself",
			"listeners: [&l {name: web, <<: *l}]\n",
			[]string{"t.yaml:1:32: listeners[0]: merge keys (<<) are nested too deeply"},
		},
		{
			"unknown key under x- is still checked where used",
			"x-listener: &l {name: web, adress: 127.0.0.1:8080}\nlisteners: [*l]\n",
			[]string{
				`t.yaml:1:28: listeners[0]: unknown key "adress" (hint: did you mean address? valid keys: name, address, trusted_proxies, ip_filter, timeouts, limits, underscores_in_headers, tls)`,
				"t.yaml:2:13: listeners[0].address: missing (hint: write host:port, like 127.0.0.1:8080)",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseErrors(t, tc.doc); !slices.Equal(got, tc.want) {
				t.Errorf("Parse(%q) diagnostics =\n%s\nwant\n%s", tc.doc, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		get       func(*Config) any
		want      any
	}{
		{
			"host as one string",
			base + "routes: [{name: a, upstream: api, match: {host: example.com}}]\n",
			func(c *Config) any { return c.Routes[0].Match.Host },
			StringList{"example.com"},
		},
		{
			"host as a list",
			base + "routes: [{name: a, upstream: api, match: {host: [a.example, b.example]}}]\n",
			func(c *Config) any { return c.Routes[0].Match.Host },
			StringList{"a.example", "b.example"},
		},
		{
			"null keeps the default",
			"listeners: [{name: web, address: 127.0.0.1:8080, timeouts: {idle: ~, write: 1s}}]\n",
			func(c *Config) any { return c.Listeners[0].Timeouts },
			ListenerTimeouts{ReadHeader: sec(10), ReadBody: sec(60), Write: sec(1), Idle: sec(75), Shutdown: sec(30)},
		},
		{
			"empty section keeps the defaults",
			"listeners:\n  - name: web\n    address: 127.0.0.1:8080\n    limits:\n",
			func(c *Config) any { return c.Listeners[0].Limits },
			ListenerLimits{MaxHeaderBytes: 32 << 10, MaxHeaderCount: 100, MaxBodyBytes: 64 << 20},
		},
		{
			"explicit zero overrides a default",
			"listeners: [{name: web, address: 127.0.0.1:8080, limits: {max_body_bytes: 0}, timeouts: {idle: 0s}}]\n",
			func(c *Config) any {
				return []any{c.Listeners[0].Limits.MaxBodyBytes, c.Listeners[0].Timeouts.Idle}
			},
			[]any{Size(0), Duration(0)},
		},
		{
			"quoted number for a string",
			base + "routes: [{name: 123, upstream: api}]\n",
			func(c *Config) any { return c.Routes[0].Name },
			"123",
		},
		{
			"alias",
			"x-backends: &b [{address: 127.0.0.1:9001}, {address: 127.0.0.1:9002, weight: 3}]\n" +
				"listeners: [{name: web, address: 127.0.0.1:8080}]\n" +
				"upstreams: [{name: a, backends: *b}, {name: b, backends: *b}]\n",
			func(c *Config) any { return c.Upstreams[1].Backends },
			[]Backend{{Address: "127.0.0.1:9001", Weight: 1}, {Address: "127.0.0.1:9002", Weight: 3}},
		},
		{
			"merge key, own keys win",
			"x-timeouts: &t {connect: 1s, idle: 2s}\n" +
				"listeners: [{name: web, address: 127.0.0.1:8080}]\n" +
				"upstreams: [{name: a, backends: [{address: 127.0.0.1:9001}], timeouts: {<<: *t, idle: 3s}}]\n",
			func(c *Config) any { return c.Upstreams[0].Timeouts },
			UpstreamTimeouts{Connect: sec(1), ResponseHeader: sec(60), Read: sec(60), Write: sec(60), Idle: sec(3)},
		},
		{
			"merge of a list, earlier mappings win",
			"listeners: [{<<: [{name: web}, {name: x, address: 127.0.0.1:1}], limits: {max_header_count: 10}}]\n",
			func(c *Config) any { return []string{c.Listeners[0].Name, c.Listeners[0].Address} },
			[]string{"web", "127.0.0.1:1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.doc)
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q): got %+v, want %+v", tc.doc, got, tc.want)
			}
		})
	}
}

// TestAliasExpansionBounded guards against a document that aliases make
// exponentially large (the "billion laughs"): decoding must stop early and
// say why.
func TestAliasExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &l0 {name: web, address: 127.0.0.1:8080}\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "x-%d: &l%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	b.WriteString("listeners: [*l8]\n")
	start := time.Now()
	got := parseErrors(t, b.String())
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Parse took %v, want it bounded", elapsed)
	}
	want := "the document is too large once its aliases are expanded"
	if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
		t.Errorf("Parse() diagnostics =\n%s\nwant one saying %q", strings.Join(got, "\n"), want)
	}
}

// testBody and testOther are kind bodies for testing the generic handling of
// polymorphic entries without depending on a real feature's schema.
type testBody struct {
	Level int      `yaml:"level"`
	Tags  []string `yaml:"tags"`
}

func (b *testBody) setDefaults() {
	b.Level = 6
	b.Tags = []string{"default"}
}

func (b *testBody) check() []Problem {
	var ps []Problem
	if b.Level > 9 {
		ps = append(ps, Problem{Field: "level", Message: fmt.Sprintf("must be at most 9, got %d", b.Level), Hint: "9 is the slowest"})
	}
	if slices.Contains(b.Tags, "") {
		ps = append(ps, Problem{Message: "has an empty tag"})
	}
	return ps
}

type testOther struct {
	Limit Size `yaml:"limit"`
}

type testEntry struct {
	Kind  string     `yaml:"kind"`
	Body  *testBody  `yaml:"-" kind:"body"`
	Other *testOther `yaml:"-" kind:"other"`
}

type testDoc struct {
	Entries []testEntry `yaml:"entries"`
}

// decodeTestDoc decodes doc into a testDoc and checks its entries' bodies,
// as Parse does for middlewares.
func decodeTestDoc(t *testing.T, doc string) (testDoc, []string) {
	t.Helper()
	root, syntax := parseDocument([]byte(doc))
	if syntax != nil {
		t.Fatalf("parseDocument(%q) = %v", doc, syntax)
	}
	d := newDecoder("t.yaml", testEnv, root)
	var out testDoc
	d.decode(root, "", reflect.ValueOf(&out).Elem())
	v := &validator{cfg: &Config{File: "t.yaml", Positions: d.positions}, failed: d.failed}
	for i := range out.Entries {
		v.kindBody(index("entries", i), reflect.ValueOf(&out.Entries[i]).Elem())
	}
	var got []string
	for _, d := range sortDiagnostics(append(d.diags, v.diags...)) {
		got = append(got, d.String())
	}
	return out, got
}

func TestKindBodies(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []testEntry
		problems  []string
	}{
		{
			"defaults then written values",
			"entries: [{kind: body}, {kind: body, level: 2, tags: [a, b]}, {kind: other, limit: 1KiB}]\n",
			[]testEntry{
				{Kind: "body", Body: &testBody{Level: 6, Tags: []string{"default"}}},
				{Kind: "body", Body: &testBody{Level: 2, Tags: []string{"a", "b"}}},
				{Kind: "other", Other: &testOther{Limit: 1 << 10}},
			},
			nil,
		},
		{
			"kind anywhere in the mapping",
			"entries:\n  - level: 3\n    kind: body\n",
			[]testEntry{{Kind: "body", Body: &testBody{Level: 3, Tags: []string{"default"}}}},
			nil,
		},
		{
			"check problems positioned at their field",
			"entries:\n  - kind: other\n  - kind: body\n    level: 12\n    tags: [x, '']\n",
			[]testEntry{
				{Kind: "other", Other: &testOther{}},
				{Kind: "body", Body: &testBody{Level: 12, Tags: []string{"x", ""}}},
			},
			[]string{
				"t.yaml:3:5: entries[1]: has an empty tag",
				"t.yaml:4:12: entries[1].level: must be at most 9, got 12 (hint: 9 is the slowest)",
			},
		},
		{
			"key of another kind",
			"entries: [{kind: other, level: 3}]\n",
			[]testEntry{{Kind: "other", Other: &testOther{}}},
			[]string{`t.yaml:1:25: entries[0]: unknown key "level" (hint: valid keys: kind, limit)`},
		},
		{
			"unknown kind sets no body",
			"entries: [{kind: bodys, level: 3}]\n",
			[]testEntry{{Kind: "bodys"}},
			[]string{`t.yaml:1:18: entries[0].kind: unknown test entry kind "bodys" (hint: did you mean body? known kinds: body, other)`},
		},
		{
			"a body that fails to decode is not checked",
			"entries: [{kind: body, level: high}]\n",
			[]testEntry{{Kind: "body", Body: &testBody{Level: 6, Tags: []string{"default"}}}},
			[]string{`t.yaml:1:31: entries[0].level: "high" is not an integer`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := decodeTestDoc(t, tc.doc)
			if !reflect.DeepEqual(got.Entries, tc.want) {
				t.Errorf("decode(%q) = %+v, want %+v", tc.doc, got.Entries, tc.want)
			}
			if !slices.Equal(problems, tc.problems) {
				t.Errorf("decode(%q) diagnostics =\n%s\nwant\n%s", tc.doc, strings.Join(problems, "\n"), strings.Join(tc.problems, "\n"))
			}
		})
	}
}

// TestMiddlewareKinds checks what the decoder relies on: every kind of
// Middleware is a pointer to a struct body implementing middlewareBody.
func TestMiddlewareKinds(t *testing.T) {
	mt := reflect.TypeFor[Middleware]()
	fields, kinds := structFields(mt)
	if _, ok := findField(fields, "kind"); !ok {
		t.Fatalf("Middleware has no yaml:\"kind\" field")
	}
	if len(kinds) == 0 {
		t.Fatalf("Middleware has no kind:\"...\" fields")
	}
	body := reflect.TypeFor[middlewareBody]()
	for _, k := range kinds {
		ft := mt.Field(k.index).Type
		if ft.Kind() != reflect.Pointer || ft.Elem().Kind() != reflect.Struct || !ft.Implements(body) {
			t.Errorf("Middleware kind %q has type %v, want a pointer to a struct implementing middlewareBody", k.key, ft)
		}
	}
}

func TestSuggestions(t *testing.T) {
	valid := []string{"name", "address", "trusted_proxies", "timeouts", "limits"}
	for _, tc := range []struct{ in, want string }{
		{"adress", "address"},
		{"nmae", "name"},
		{"Name", "name"},
		{"timeout", "timeouts"},
		{"limit", "limits"},
		{"trusted_proxy", "trusted_proxies"},
		{"id", ""},
		{"color", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := closest(tc.in, valid); got != tc.want {
				t.Errorf("closest(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCountNodes(t *testing.T) {
	root, syntax := parseDocument([]byte("a: [1, 2]\n"))
	if syntax != nil {
		t.Fatal(syntax)
	}
	// The mapping, its key, the list and its two items.
	if got := countNodes(root); got != 5 {
		t.Errorf("countNodes(a: [1, 2]) = %d, want 5", got)
	}
}
