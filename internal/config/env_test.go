package config

import (
	"slices"
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		problems       []string
	}{
		{"no reference", "127.0.0.1:8080", "127.0.0.1:8080", nil},
		{"whole value", "${ADDR}", "127.0.0.1:7000", nil},
		{"inside text", "http://${HOST}:${PORT}/", "http://api.example.com:9001/", nil},
		{"default unused", "${PORT:-80}", "9001", nil},
		{"default for unset", "${NOPE:-80}", "80", nil},
		{"default for empty", "${EMPTY:-80}", "80", nil},
		{"empty default", "a${NOPE:-}b", "ab", nil},
		{"default with colon", "${NOPE:-localhost:80}", "localhost:80", nil},
		{"set but empty", "a${EMPTY}b", "ab", nil},
		{"escaped", "$${PORT}", "${PORT}", nil},
		{"escaped then reference", "$${PORT}=${PORT}", "${PORT}=9001", nil},
		{"lone dollar", "$5 and $PORT", "$5 and $PORT", nil},
		{"dollar at end", "cost$", "cost$", nil},
		{"unset", "${NOPE}", "", []string{"environment variable NOPE is not set (hint: set it, or give a default: ${NOPE:-default})"}},
		{
			"two unset",
			"${A}:${B}",
			"",
			[]string{
				"environment variable A is not set (hint: set it, or give a default: ${A:-default})",
				"environment variable B is not set (hint: set it, or give a default: ${B:-default})",
			},
		},
		{"unterminated", "x${PORT", "", []string{`unterminated ${ in "${PORT" (hint: close it with }, or write $${ for a literal ${)`}},
		{"empty name", "${}", "", []string{"${} is not a valid reference (hint: write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _; write $${ for a literal ${)"}},
		{"name starts with digit", "${1X}", "", []string{"${1X} is not a valid reference (hint: write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _; write $${ for a literal ${)"}},
		{"shell default without colon", "${X-1}", "", []string{"${X-1} is not a valid reference (hint: write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _; write $${ for a literal ${)"}},
		{"value is not expanded again", "${LOOP}", "${PORT}", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(name string) (string, bool) {
				if name == "LOOP" {
					return "${PORT}", true
				}
				return testEnv(name)
			}
			got, problems := expandEnv(tc.in, lookup)
			var gotProblems []string
			for _, p := range problems {
				gotProblems = append(gotProblems, p.message+" (hint: "+p.hint+")")
			}
			if !slices.Equal(gotProblems, tc.problems) {
				t.Errorf("expandEnv(%q) problems = %q, want %q", tc.in, gotProblems, tc.problems)
			}
			if len(tc.problems) == 0 && got != tc.want {
				t.Errorf("expandEnv(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestParseEnv checks that substitution happens per scalar, before the
// scalar is converted to its type, wherever a value is written.
func TestParseEnv(t *testing.T) {
	cfg := mustParse(t, `listeners:
  - name: web
    address: ${ADDR}
    timeouts:
      idle: ${IDLE}s
    limits: {max_header_count: "${NOPE:-50}"}
routes:
  - name: api
    match: {host: "${HOST}", headers: {X-Port: "${PORT}"}}
    upstream: api
upstreams: [{name: api, backends: [{address: "localhost:${PORT}"}]}]
`)
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"listeners[0].address", cfg.Listeners[0].Address, "127.0.0.1:7000"},
		{"listeners[0].timeouts.idle", cfg.Listeners[0].Timeouts.Idle, sec(5)},
		{"listeners[0].limits.max_header_count", cfg.Listeners[0].Limits.MaxHeaderCount, 50},
		{"routes[0].match.host[0]", cfg.Routes[0].Match.Host[0], "api.example.com"},
		{"routes[0].match.headers.X-Port", cfg.Routes[0].Match.Headers["X-Port"], "9001"},
		{"upstreams[0].backends[0].address", cfg.Upstreams[0].Backends[0].Address, "localhost:9001"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
}

func TestParseEnvProblems(t *testing.T) {
	got := parseErrors(t, `listeners:
  - name: ${NAME}
    address: ${ADDR}
    timeouts: {idle: "${IDLE}"}
    limits: {max_header_count: "${PORT}"}
`)
	want := []string{
		"t.yaml:2:11: listeners[0].name: environment variable NAME is not set (hint: set it, or give a default: ${NAME:-default})",
		`t.yaml:4:22: listeners[0].timeouts.idle: "5" (from ${IDLE}) is not a duration (hint: write 5s)`,
		`t.yaml:5:32: listeners[0].limits.max_header_count: must be between 8 and 1000, got 9001 (hint: the default is 100)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Parse() diagnostics =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
