package config

import (
	"slices"
	"strings"
	"testing"
)

// Documents for validation cases: L is a valid listeners line, U a valid
// upstreams line, R a valid routes line; each case replaces one of them.
const (
	L = "listeners: [{name: web, address: 127.0.0.1:8080}]\n"
	U = "upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}, {name: static, backends: [{address: 127.0.0.1:9002}]}]\n"
	R = "routes: [{name: r, upstream: api}]\n"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		// Names.
		{"listener name missing", "listeners: [{address: 127.0.0.1:8080}]\n" + U, []string{`t.yaml:1:13: listeners[0].name: missing (hint: every listener needs a unique name, like name: web)`}},
		{"listener name empty", "listeners: [{name: '', address: 127.0.0.1:8080}]\n" + U, []string{`t.yaml:1:20: listeners[0].name: must not be empty (hint: every listener needs a unique name, like name: web)`}},
		{"listener name invalid", "listeners: [{name: my web, address: 127.0.0.1:8080}]\n" + U, []string{`t.yaml:1:20: listeners[0].name: "my web" is not a valid name (hint: use letters, digits, _, . and -, starting with a letter or digit)`}},
		{"listener name starts with a dash", "listeners: [{name: -web, address: 127.0.0.1:8080}]\n" + U, []string{`t.yaml:1:20: listeners[0].name: "-web" is not a valid name (hint: use letters, digits, _, . and -, starting with a letter or digit)`}},
		{"duplicate listener name", "listeners:\n  - {name: web, address: 127.0.0.1:8080}\n  - {name: web, address: 127.0.0.1:8081}\n" + U, []string{`t.yaml:3:12: listeners[1].name: duplicate listener name "web" (first defined at 2:12)`}},
		{"route name missing", L + U + "routes: [{upstream: api}]\n", []string{`t.yaml:3:10: routes[0].name: missing (hint: every route needs a unique name, like name: api)`}},
		{"duplicate route name", L + U + "routes:\n  - name: api\n    upstream: api\n  - name: api\n    upstream: static\n", []string{`t.yaml:6:11: routes[1].name: duplicate route name "api" (first defined at 4:11)`}},
		{"duplicate upstream name", L + "upstreams:\n  - {name: api, backends: [{address: 127.0.0.1:9001}]}\n  - {name: api, backends: [{address: 127.0.0.1:9002}]}\n", []string{`t.yaml:4:12: upstreams[1].name: duplicate upstream name "api" (first defined at 3:12)`}},
		{"upstream name invalid", L + "upstreams: [{name: api/v2, backends: [{address: 127.0.0.1:9001}]}]\n", []string{`t.yaml:2:20: upstreams[0].name: "api/v2" is not a valid name (hint: use letters, digits, _, . and -, starting with a letter or digit)`}},

		// Listeners.
		{"no listeners", "listeners: []\n" + U, []string{`t.yaml:1:12: listeners: at least one listener is required (hint: add one, like listeners: [{name: web, address: 127.0.0.1:8080}])`}},
		{"listener address missing", "listeners: [{name: web}]\n", []string{`t.yaml:1:13: listeners[0].address: missing (hint: write host:port, like 127.0.0.1:8080)`}},
		{"listener address without port", "listeners: [{name: web, address: localhost}]\n", []string{`t.yaml:1:34: listeners[0].address: "localhost" has no port (hint: write localhost:8080, with the port you mean)`}},
		{"listener address with scheme", "listeners: [{name: web, address: 'http://127.0.0.1:8080/'}]\n", []string{`t.yaml:1:34: listeners[0].address: "http://127.0.0.1:8080/" must not include a scheme (hint: write 127.0.0.1:8080)`}},
		{"listener address not host:port", "listeners: [{name: web, address: '::1:8080'}]\n", []string{`t.yaml:1:34: listeners[0].address: "::1:8080" is not host:port (hint: put an IPv6 address in brackets, like [::1]:8080)`}},
		{"listener port not a number", "listeners: [{name: web, address: 'localhost:http'}]\n", []string{`t.yaml:1:34: listeners[0].address: "localhost:http" has a port that is not a number (hint: ports are numbers from 1 to 65535)`}},
		{"listener port too large", "listeners: [{name: web, address: 'localhost:80800'}]\n", []string{`t.yaml:1:34: listeners[0].address: "localhost:80800" has a port above 65535`}},
		{"listener host invalid", "listeners: [{name: web, address: 'local host:80'}]\n", []string{`t.yaml:1:34: listeners[0].address: "local host:80" has an invalid host (hint: write a host name or an IP address before the port)`}},
		{"duplicate listener address", "listeners:\n  - {name: a, address: '[::1]:8080'}\n  - {name: b, address: '[0:0::1]:8080'}\n", []string{`t.yaml:3:24: listeners[1].address: duplicate listener address "[0:0::1]:8080" (first defined at 2:24)`}},
		{"max_header_bytes too small", "listeners: [{name: web, address: ':80', limits: {max_header_bytes: 512B}}]\n", []string{`t.yaml:1:68: listeners[0].limits.max_header_bytes: must be between 1KiB and 1MiB, got 512B (hint: the default is 32KiB)`}},
		{"max_header_bytes too large", "listeners: [{name: web, address: ':80', limits: {max_header_bytes: 2MiB}}]\n", []string{`t.yaml:1:68: listeners[0].limits.max_header_bytes: must be between 1KiB and 1MiB, got 2MiB (hint: the default is 32KiB)`}},
		{"max_header_count too small", "listeners: [{name: web, address: ':80', limits: {max_header_count: 7}}]\n", []string{`t.yaml:1:68: listeners[0].limits.max_header_count: must be between 8 and 1000, got 7 (hint: the default is 100)`}},
		{"unknown underscores_in_headers", "listeners: [{name: web, address: ':80', underscores_in_headers: rejct}]\n", []string{`t.yaml:1:65: listeners[0].underscores_in_headers: unknown value "rejct" (hint: did you mean reject? known values: drop, keep, reject)`}},
		{"max_header_count too large", "listeners: [{name: web, address: ':80', limits: {max_header_count: 1001}}]\n", []string{`t.yaml:1:68: listeners[0].limits.max_header_count: must be between 8 and 1000, got 1001 (hint: the default is 100)`}},

		// Listener TLS.
		{"tls without certificates", "listeners: [{name: web, address: ':443', tls: {}}]\n", []string{`t.yaml:1:47: listeners[0].tls.certificates: no certificates (hint: add at least one, like certificates: [{cert_file: cert.pem, key_file: key.pem}])`}},
		{"tls certificates empty", "listeners: [{name: web, address: ':443', tls: {certificates: []}}]\n", []string{`t.yaml:1:62: listeners[0].tls.certificates: no certificates (hint: add at least one, like certificates: [{cert_file: cert.pem, key_file: key.pem}])`}},
		{"tls key_file missing", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c.pem}]}}]\n", []string{`t.yaml:1:63: listeners[0].tls.certificates[0].key_file: missing (hint: name the PEM file with the private key, like key_file: key.pem)`}},
		{"tls cert_file empty", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: '', key_file: k.pem}]}}]\n", []string{`t.yaml:1:75: listeners[0].tls.certificates[0].cert_file: missing (hint: name the PEM file with the certificate chain, like cert_file: cert.pem)`}},
		{"tls version obsolete", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c, key_file: k}], min_version: 1.1}}]\n", []string{`t.yaml:1:106: listeners[0].tls.min_version: unknown TLS version "1.1" (hint: TLS 1.0 and 1.1 are obsolete (RFC 8996); write 1.2)`}},
		{"tls version unknown", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c, key_file: k}], min_version: TLSv1.3}}]\n", []string{`t.yaml:1:106: listeners[0].tls.min_version: unknown TLS version "TLSv1.3" (hint: known versions: 1.2, 1.3)`}},
		{"tls alpn unknown and twice", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c, key_file: k}], alpn: [h3, http/1.1, http/1.1]}}]\n", []string{
			`t.yaml:1:100: listeners[0].tls.alpn[0]: unknown protocol "h3" (hint: did you mean h2? known protocols: h2, http/1.1)`,
			`t.yaml:1:114: listeners[0].tls.alpn[2]: "http/1.1" is listed twice (hint: remove one)`,
		}},
		{"tls alpn empty", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c, key_file: k}], alpn: []}}]\n", []string{`t.yaml:1:99: listeners[0].tls.alpn: no protocols (hint: write [h2, http/1.1], or [http/1.1] to turn HTTP/2 off)`}},
		{"tls every problem at once", "listeners:\n  - name: web\n    address: ':443'\n    tls:\n      certificates: [{key_file: k.pem}]\n      min_version: '1.0'\n      alpn: [spdy]\n", []string{
			`t.yaml:5:22: listeners[0].tls.certificates[0].cert_file: missing (hint: name the PEM file with the certificate chain, like cert_file: cert.pem)`,
			`t.yaml:6:20: listeners[0].tls.min_version: unknown TLS version "1.0" (hint: TLS 1.0 and 1.1 are obsolete (RFC 8996); write 1.2)`,
			`t.yaml:7:14: listeners[0].tls.alpn[0]: unknown protocol "spdy" (hint: known protocols: h2, http/1.1)`,
		}},
		{"tls unknown key", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c, key_file: k}], ciphers: [x]}}]\n", []string{`t.yaml:1:93: listeners[0].tls: unknown key "ciphers" (hint: valid keys: certificates, min_version, alpn)`}},

		// Routes.
		{"route upstream missing", L + U + "routes: [{name: r}]\n", []string{`t.yaml:3:10: routes[0].upstream: missing (hint: name the upstream that serves this route; defined upstreams: api, static)`}},
		{"unknown upstream", L + U + "routes: [{name: r, upstream: api-v2}]\n", []string{`t.yaml:3:30: routes[0].upstream: unknown upstream "api-v2" (defined upstreams: api, static)`}},
		{"unknown upstream, close to one", L + U + "routes: [{name: r, upstream: statc}]\n", []string{`t.yaml:3:30: routes[0].upstream: unknown upstream "statc" (defined upstreams: api, static) (hint: did you mean static?)`}},
		{"unknown upstream, none defined", L + "routes: [{name: r, upstream: api}]\n", []string{`t.yaml:2:30: routes[0].upstream: unknown upstream "api" (no upstreams are defined)`}},
		{"unknown listener", L + U + "routes: [{name: r, upstream: api, listeners: [web, admin]}]\n", []string{`t.yaml:3:52: routes[0].listeners[1]: unknown listener "admin" (defined listeners: web)`}},
		{"listener listed twice", L + U + "routes: [{name: r, upstream: api, listeners: [web, web]}]\n", []string{`t.yaml:3:52: routes[0].listeners[1]: listener "web" is listed twice (hint: remove one)`}},
		{"path and path_prefix", L + U + "routes: [{name: r, upstream: api, match: {path: /a, path_prefix: /b/}}]\n", []string{`t.yaml:3:66: routes[0].match.path_prefix: cannot be combined with path (hint: a route matches on at most one of path, path_prefix and path_regex)`}},
		{"all three path kinds", L + U + "routes: [{name: r, upstream: api, match: {path_regex: ^/a, path: /a, path_prefix: /b/}}]\n", []string{
			`t.yaml:3:66: routes[0].match.path: cannot be combined with path_regex (hint: a route matches on at most one of path, path_prefix and path_regex)`,
			`t.yaml:3:83: routes[0].match.path_prefix: cannot be combined with path_regex (hint: a route matches on at most one of path, path_prefix and path_regex)`,
		}},
		{"path without slash", L + U + "routes: [{name: r, upstream: api, match: {path: api/users}}]\n", []string{`t.yaml:3:49: routes[0].match.path: "api/users" does not start with "/" (hint: write /api/users)`}},
		{"path_prefix without slash", L + U + "routes: [{name: r, upstream: api, match: {path_prefix: v1/}}]\n", []string{`t.yaml:3:56: routes[0].match.path_prefix: "v1/" does not start with "/" (hint: write /v1/)`}},
		{"path with query", L + U + "routes: [{name: r, upstream: api, match: {path: '/a?b=c'}}]\n", []string{`t.yaml:3:49: routes[0].match.path: "/a?b=c" includes a query or fragment (hint: match query parameters with match.query)`}},
		{"path_regex invalid", L + U + "routes: [{name: r, upstream: api, match: {path_regex: '^/(a'}}]\n", []string{"t.yaml:3:55: routes[0].match.path_regex: invalid regular expression: missing closing ): `^/(a`"}},
		{"method lower-case", L + U + "routes: [{name: r, upstream: api, match: {methods: [get]}}]\n", []string{`t.yaml:3:53: routes[0].match.methods[0]: "get" is not upper-case (hint: write GET; methods are case-sensitive)`}},
		{"method not a token", L + U + "routes: [{name: r, upstream: api, match: {methods: ['GET POST']}}]\n", []string{`t.yaml:3:53: routes[0].match.methods[0]: "GET POST" is not a method (hint: methods are tokens like GET or POST)`}},
		{"method twice", L + U + "routes: [{name: r, upstream: api, match: {methods: [GET, PUT, GET]}}]\n", []string{`t.yaml:3:63: routes[0].match.methods[2]: "GET" is listed twice (hint: remove one)`}},
		{"host with scheme", L + U + "routes: [{name: r, upstream: api, match: {host: 'https://example.com:8443/x'}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "https://example.com:8443/x" must not include a scheme (hint: write example.com)`}},
		{"host with port", L + U + "routes: [{name: r, upstream: api, match: {host: [a.example, 'b.example:8080']}}]\n", []string{`t.yaml:3:61: routes[0].match.host[1]: "b.example:8080" must not include a port (hint: write b.example; routes match the host without its port)`}},
		{"host with path", L + U + "routes: [{name: r, upstream: api, match: {host: example.com/api}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "example.com/api" must not include a path (hint: write example.com and match the path with path or path_prefix)`}},
		{"host star", L + U + "routes: [{name: r, upstream: api, match: {host: '*'}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "*" is not needed (hint: omit host to match every host)`}},
		{"host wildcard inside", L + U + "routes: [{name: r, upstream: api, match: {host: 'api.*.example.com'}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "api.*.example.com" is not a valid wildcard (hint: a wildcard is "*." and a domain, like *.example.com)`}},
		{"host wildcard without domain", L + U + "routes: [{name: r, upstream: api, match: {host: '*.'}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "*." is not a valid wildcard (hint: write "*." and a domain, like *.example.com)`}},
		{"host trailing dot", L + U + "routes: [{name: r, upstream: api, match: {host: example.com.}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "example.com." ends with a dot (hint: write example.com)`}},
		{"host invalid", L + U + "routes: [{name: r, upstream: api, match: {host: 'ex ample.com'}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "ex ample.com" is not a valid host name (hint: use letters, digits, - and ., like api.example.com; write internationalized names in their xn-- form)`}},
		{"host empty", L + U + "routes: [{name: r, upstream: api, match: {host: ''}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "" is empty (hint: omit host to match every host)`}},
		{"header name invalid", L + U + "routes: [{name: r, upstream: api, match: {headers: {'X Canary': '1'}}}]\n", []string{"t.yaml:3:65: routes[0].match.headers.X Canary: \"X Canary\" is not a valid header name (hint: names are tokens: letters, digits and !#$%&'*+-.^_`|~)"}},
		{"header name twice in different case", L + U + "routes:\n  - name: r\n    upstream: api\n    match:\n      headers:\n        X-Canary: '1'\n        x-canary: '2'\n", []string{`t.yaml:9:19: routes[0].match.headers.x-canary: duplicate header name "x-canary" (first defined at 8:19 as "X-Canary") (hint: header names are case-insensitive; keep one)`}},
		{"cookie name invalid", L + U + "routes: [{name: r, upstream: api, match: {cookies: {'a;b': '1'}}}]\n", []string{"t.yaml:3:60: routes[0].match.cookies.a;b: \"a;b\" is not a valid cookie name (hint: names are tokens: letters, digits and !#$%&'*+-.^_`|~)"}},
		{"Host as a header", L + U + "routes: [{name: r, upstream: api, match: {headers: {host: a.example}}}]\n", []string{`t.yaml:3:59: routes[0].match.headers.host: Host cannot be matched as a header (hint: use match.host)`}},
		{"cookie value invalid", L + U + "routes: [{name: r, upstream: api, match: {cookies: {a: 'x;y'}}}]\n", []string{`t.yaml:3:56: routes[0].match.cookies.a: "x;y" cannot be a cookie value (hint: cookie values are printable ASCII without ", ; and \)`}},
		{"host IPv4 in brackets", L + U + "routes: [{name: r, upstream: api, match: {host: '[10.0.0.1]'}}]\n", []string{`t.yaml:3:49: routes[0].match.host: "[10.0.0.1]" is not an IPv6 literal (hint: write [2001:db8::1], or an IPv4 address without brackets)`}},
		{"query name empty", L + U + "routes: [{name: r, upstream: api, match: {query: {'': '1'}}}]\n", []string{`t.yaml:3:50: routes[0].match.query: a query parameter name is empty`}},

		// Upstreams.
		{"no backends", L + "upstreams: [{name: api}]\n", []string{`t.yaml:2:13: upstreams[0].backends: no backends (hint: add at least one, like backends: [{address: 127.0.0.1:9001}])`}},
		{"empty backends", L + "upstreams: [{name: api, backends: []}]\n", []string{`t.yaml:2:35: upstreams[0].backends: no backends (hint: add at least one, like backends: [{address: 127.0.0.1:9001}])`}},
		{"backend address missing", L + "upstreams: [{name: api, backends: [{weight: 2}]}]\n", []string{`t.yaml:2:36: upstreams[0].backends[0].address: missing (hint: write host:port, like 127.0.0.1:9001)`}},
		{"backend without host", L + "upstreams: [{name: api, backends: [{address: ':9001'}]}]\n", []string{`t.yaml:2:46: upstreams[0].backends[0].address: ":9001" has no host (hint: write 127.0.0.1:9001)`}},
		{"backend port zero", L + "upstreams: [{name: api, backends: [{address: 'localhost:0'}]}]\n", []string{`t.yaml:2:46: upstreams[0].backends[0].address: "localhost:0" has port 0 (hint: write the port the backend listens on)`}},
		{"backend with scheme", L + "upstreams: [{name: api, backends: [{address: 'http://localhost:9001'}]}]\n", []string{`t.yaml:2:46: upstreams[0].backends[0].address: "http://localhost:9001" must not include a scheme (hint: write localhost:9001)`}},
		{"duplicate backend", L + "upstreams:\n  - name: api\n    backends:\n      - address: LOCALHOST:9001\n      - address: localhost:9001\n", []string{`t.yaml:6:18: upstreams[0].backends[1].address: duplicate backend address "localhost:9001" (first defined at 5:18) (hint: give a backend more traffic with weight)`}},
		{"weight zero", L + "upstreams: [{name: api, backends: [{address: 'localhost:1', weight: 0}]}]\n", []string{`t.yaml:2:69: upstreams[0].backends[0].weight: must be at least 1, got 0 (hint: remove the backend to send it no traffic)`}},
		{"weight negative", L + "upstreams: [{name: api, backends: [{address: 'localhost:1', weight: -2}]}]\n", []string{`t.yaml:2:69: upstreams[0].backends[0].weight: must be at least 1, got -2 (hint: remove the backend to send it no traffic)`}},
		{"policy unknown", L + "upstreams: [{name: api, policy: roundrobin, backends: [{address: 'localhost:1'}]}]\n", []string{`t.yaml:2:33: upstreams[0].policy: unknown policy "roundrobin" (hint: did you mean round_robin? known policies: round_robin, least_conn, p2c, random, ip_hash, hash, consistent_hash, ewma)`}},
		{"protocol unknown", L + "upstreams: [{name: api, protocol: http2, backends: [{address: 'localhost:1'}]}]\n", []string{`t.yaml:2:35: upstreams[0].protocol: unknown protocol "http2" (hint: did you mean http1? known protocols: http1, h2c)`}},
		{"hash_key without a hash policy", L + "upstreams: [{name: api, hash_key: 'header:X-User', backends: [{address: 'localhost:1'}]}]\n", []string{`t.yaml:2:35: upstreams[0].hash_key: applies only to policy hash or consistent_hash, not round_robin (hint: remove it, or set the policy)`}},
		{"balance_factor without consistent_hash", L + "upstreams: [{name: api, policy: hash, balance_factor: 1.5, backends: [{address: 'localhost:1'}]}]\n", []string{`t.yaml:2:55: upstreams[0].balance_factor: applies only to policy consistent_hash, not hash (hint: remove it, or set the policy)`}},
		{"max_idle_conns negative", L + "upstreams: [{name: api, max_idle_conns: -1, backends: [{address: 'localhost:1'}]}]\n", []string{`t.yaml:2:41: upstreams[0].max_idle_conns: must be 0 or more, got -1 (hint: write 0 to keep no idle connections)`}},

		// Runtime and access log.
		{"gogc zero", L + "runtime: {gogc: 0}\n", []string{`t.yaml:2:17: runtime.gogc: must be -1 (collector off) or a percentage of 1 or more, got 0 (hint: the default is 200; Go's own default is 100)`}},
		{"gogc below -1", L + "runtime: {gogc: -2}\n", []string{`t.yaml:2:17: runtime.gogc: must be -1 (collector off) or a percentage of 1 or more, got -2 (hint: the default is 200; Go's own default is 100)`}},
		{"access log output empty", L + "access_log: {output: ''}\n", []string{`t.yaml:2:22: access_log.output: must not be empty (hint: write stdout, stderr, off or a file path)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseErrors(t, tc.doc); !slices.Equal(got, tc.want) {
				t.Errorf("Parse(%q) diagnostics =\n%s\nwant\n%s", tc.doc, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestValidateAccepts lists documents near the edges of the rules that are
// valid.
func TestValidateAccepts(t *testing.T) {
	for _, tc := range []struct{ name, doc string }{
		{"listener on every interface", "listeners: [{name: web, address: ':8080'}]\n"},
		{"listeners on port 0 twice", "listeners: [{name: a, address: '127.0.0.1:0'}, {name: b, address: '127.0.0.1:0'}]\n"},
		{"IPv6 listener", "listeners: [{name: web, address: '[::1]:8080'}]\n"},
		{"tls with defaults", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c.pem, key_file: k.pem}]}}]\n"},
		{"tls 1.3 and http/1.1 only", "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c.pem, key_file: k.pem}], min_version: '1.3', alpn: [http/1.1]}}]\n"},
		{"tls null is plain", "listeners: [{name: web, address: ':80', tls: ~}]\n"},
		{"names with dots, dashes and underscores", "listeners: [{name: web-1.a_b, address: ':8080'}]\n"},
		{"limits at their bounds", "listeners: [{name: web, address: ':80', limits: {max_header_bytes: 1KiB, max_header_count: 8}}, {name: b, address: ':81', limits: {max_header_bytes: 1MiB, max_header_count: 1000}}]\n"},
		{"underscores_in_headers keep and reject", "listeners: [{name: web, address: ':80', underscores_in_headers: keep}, {name: b, address: ':81', underscores_in_headers: reject}]\n"},
		{"gogc off", L + "runtime: {gogc: -1}\n"},
		{"gogc 1", L + "runtime: {gogc: 1}\n"},
		{"unused upstream", L + U},
		{"route on every listener with no match", L + U + R},
		{"hosts of every form", L + U + "routes: [{name: r, upstream: api, match: {host: [example.com, '*.example.com', API.Example.COM, 10.0.0.1, '::1', '[::1]', localhost, my_host.internal]}}]\n"},
		{"custom upper-case method", L + U + "routes: [{name: r, upstream: api, match: {methods: [PURGE, GET]}}]\n"},
		{"header names that are tokens", L + U + "routes: [{name: r, upstream: api, match: {headers: {X-Canary: '1', 'X_Weird!': ''}}}]\n"},
		{"path_regex alone", L + U + "routes: [{name: r, upstream: api, match: {path_regex: '^/v[0-9]+/'}}]\n"},
		{"same backend in two upstreams", L + "upstreams: [{name: a, backends: [{address: 'localhost:1'}]}, {name: b, backends: [{address: 'localhost:1'}]}]\n"},
		{"IPv6 and host name backends", L + "upstreams: [{name: api, backends: [{address: '[::1]:9001'}, {address: 'backend-1.internal:80'}]}]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustParse(t, tc.doc)
		})
	}
}
