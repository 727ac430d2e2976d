package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func sec(n int) Duration { return Duration(time.Duration(n) * time.Second) }

// defaultListener returns a listener with every default and the given name
// and address.
func defaultListener(name, address string) Listener {
	return Listener{
		Name:    name,
		Address: address,
		Timeouts: ListenerTimeouts{
			ReadHeader: sec(10), ReadBody: sec(60), Write: sec(60), Idle: sec(75), Shutdown: sec(30),
		},
		Limits:               ListenerLimits{MaxHeaderBytes: 32 << 10, MaxHeaderCount: 100, MaxBodyBytes: 64 << 20},
		UnderscoresInHeaders: "drop",
	}
}

// defaultUpstream returns an upstream with every default and the given
// backends.
func defaultUpstream(name string, backends ...Backend) Upstream {
	var u Upstream
	u.setDefaults()
	u.Name, u.Backends = name, backends
	return u
}

// withoutPositions returns a copy of cfg without the fields that only
// record where the document came from.
func withoutPositions(cfg *Config) Config {
	c := *cfg
	c.File, c.Dir, c.Positions = "", "", nil
	return c
}

func TestParseDefaults(t *testing.T) {
	cfg := mustParse(t, `
listeners: [{name: web, address: 127.0.0.1:8080}]
routes: [{name: api, upstream: api}]
upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]
`)
	want := Config{
		Runtime:   Runtime{GOGC: 200},
		AccessLog: AccessLog{Output: "stdout", Buffer: 64 << 10, FlushInterval: Duration(time.Second)},
		Listeners: []Listener{defaultListener("web", "127.0.0.1:8080")},
		Routes:    []Route{{Name: "api", Upstream: "api"}},
		Upstreams: []Upstream{defaultUpstream("api", Backend{Address: "127.0.0.1:9001", Weight: 1})},
	}
	if got := withoutPositions(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse() =\n%+v\nwant\n%+v", got, want)
	}
	if cfg.File != "t.yaml" {
		t.Errorf("Parse().File = %q, want %q", cfg.File, "t.yaml")
	}
}

func TestParseFull(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatalf("Load(testdata/full.yaml) failed:\n%v", err)
	}
	internal := defaultListener("internal", "[::1]:8081")
	want := Config{
		Runtime:   Runtime{GOGC: -1, MemoryLimit: 2 << 30},
		AccessLog: AccessLog{Output: "stderr", Buffer: 64 << 10, FlushInterval: Duration(time.Second)},
		Listeners: []Listener{
			{
				Name:           "web",
				Address:        "127.0.0.1:8080",
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")},
				Timeouts: ListenerTimeouts{
					ReadHeader: sec(5), ReadBody: sec(30), Write: sec(90), Idle: 0, Shutdown: sec(10),
				},
				Limits:               ListenerLimits{MaxHeaderBytes: 64 << 10, MaxHeaderCount: 50, MaxBodyBytes: 0},
				UnderscoresInHeaders: "reject",
			},
			internal,
		},
		Routes: []Route{
			{
				Name:      "api",
				Listeners: []string{"web"},
				Priority:  10,
				Match: Match{
					Host:       StringList{"api.example.com", "*.api.example.com"},
					PathPrefix: "/v1/",
					Methods:    []string{"GET", "POST"},
					Headers:    map[string]string{"X-Canary": "1"},
					Query:      map[string]string{"debug": "true"},
					Cookies:    map[string]string{"session": "abc"},
				},
				Middlewares: []Middleware{{
					Kind: "compress",
					Compress: &Compress{
						Encodings: []string{"gzip"},
						Levels:    map[string]int{"gzip": 5},
						MinLength: 1 << 10,
						Types:     []string{"text/html"},
					},
				}},
				Upstream: "api",
			},
			{
				Name:     "static",
				Match:    Match{Host: StringList{"static.example.com"}, PathRegex: `^/assets/.*\.css$`},
				Upstream: "static",
			},
		},
		Upstreams: []Upstream{
			func() Upstream {
				u := defaultUpstream("api",
					Backend{Address: "127.0.0.1:9001", Weight: 2},
					Backend{Address: "localhost:9002", Weight: 1})
				u.Protocol = "h2c"
				u.Timeouts = UpstreamTimeouts{Connect: sec(1), ResponseHeader: sec(30), Read: sec(45), Write: sec(15), Idle: sec(60)}
				u.MaxIdleConns = 0
				u.Forwarded = true
				return u
			}(),
			defaultUpstream("static", Backend{Address: "127.0.0.1:9101", Weight: 1}),
		},
	}
	if got := withoutPositions(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(testdata/full.yaml) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPositions(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatalf("Load(testdata/full.yaml) failed:\n%v", err)
	}
	for _, tc := range []struct {
		path string
		want Pos
	}{
		{"listeners", Pos{7, 1}},
		{"listeners[0]", Pos{8, 5}},
		{"listeners[0].timeouts.idle", Pos{15, 13}},
		{"listeners[0].limits", Pos{17, 5}},
		{"listeners[0].underscores_in_headers", Pos{21, 29}},
		{"routes[0].match", Pos{28, 5}},
		{"routes[0].match.host[1]", Pos{29, 31}},
		{"routes[0].match.headers.X-Canary", Pos{32, 27}},
		{"routes[0].middlewares[0]", Pos{36, 9}},
		{"routes[0].middlewares[0].levels.gzip", Pos{38, 24}},
		{"routes[1]", Pos{42, 5}},
		{"routes[1].match", Pos{43, 12}},
		{"upstreams[0].backends[1].address", Pos{51, 19}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := cfg.Positions[tc.path]; got != tc.want {
				t.Errorf("Positions[%q] = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestConfigPos(t *testing.T) {
	cfg := mustParse(t, `listeners:
  - name: web
    address: 127.0.0.1:8080
routes:
  - name: api
    upstream: api
upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]
`)
	for _, tc := range []struct {
		name, path string
		want       Pos
	}{
		{"written", "routes[0].upstream", Pos{6, 15}},
		{"default falls back to its entry", "routes[0].match.path", Pos{5, 5}},
		{"default falls back to its section", "listeners[0].timeouts.idle", Pos{2, 5}},
		{"section not written falls back to the root", "runtime.gogc", Pos{1, 1}},
		{"out of range index", "routes[7].name", Pos{4, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cfg.Pos(tc.path); got != tc.want {
				t.Errorf("Pos(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
	d := cfg.Diagnostic("routes[0].match", "conflicts with routes[1]", "")
	if got, want := d.String(), "t.yaml:5:5: routes[0].match: conflicts with routes[1]"; got != want {
		t.Errorf("Diagnostic().String() = %q, want %q", got, want)
	}
}

func TestParseDocument(t *testing.T) {
	const noListener = "listeners: at least one listener is required (hint: add one, like listeners: [{name: web, address: 127.0.0.1:8080}])"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"empty", "", []string{"t.yaml: " + noListener}},
		{"only comments", "# nothing yet\n\n# still nothing\n", []string{"t.yaml: " + noListener}},
		{"only a document marker", "---\n", []string{"t.yaml: " + noListener}},
		{"no listeners key", "routes: []\n", []string{"t.yaml:1:1: " + noListener}},
		{"root is a list", "- name: web\n", []string{"t.yaml:1:1: expected a mapping, got a list (hint: write key: value lines without a leading \"- \")"}},
		{"root is a string", "listeners\n", []string{"t.yaml:1:1: expected a mapping, got a string"}},
		{
			"two documents",
			"listeners: []\n---\nroutes: []\n",
			[]string{"t.yaml:2:1: a second YAML document starts here (hint: a config file holds one document; remove this --- and merge what follows into the first)"},
		},
		{
			"unclosed flow list",
			"listeners: [\n",
			[]string{"t.yaml:2:1: did not find expected node content while parsing a flow node"},
		},
		{
			"tab indentation",
			"listeners:\n\t- name: web\n",
			[]string{"t.yaml:2:1: found character that cannot start any token while scanning for the next token (hint: indent with spaces; YAML does not allow tabs for indentation)"},
		},
		{
			"unquoted reference in a flow mapping",
			"listeners: [{name: web, address: ${ADDR}}]\n",
			[]string{"t.yaml:1:35: did not find expected ',' or '}' while parsing a flow mapping that starts at 1:13 (hint: quote ${NAME} references inside [ ] and { }, like {idle: \"${IDLE}\"})"},
		},
		{
			"unknown anchor",
			"listeners: *nowhere\n",
			[]string{"t.yaml:1:12: unknown anchor 'nowhere' referenced"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseErrors(t, tc.doc); !slices.Equal(got, tc.want) {
				t.Errorf("Parse(%q) diagnostics =\n%s\nwant\n%s", tc.doc, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "palisade.yaml")
	if err := os.WriteFile(path, []byte("listeners: [{name: web, address: 127.0.0.1}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:1:34: listeners[0].address: "127.0.0.1" has no port (hint: write 127.0.0.1:8080, with the port you mean)`
	if err == nil || err.Error() != want {
		t.Errorf("Load(%q) error = %v, want %v", path, err, want)
	}

	missing := filepath.Join(dir, "missing.yaml")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%q) error = %v, want one wrapping fs.ErrNotExist", missing, err)
	}
}

// TestSourceOrder checks that problems found by decoding and by validation
// come out in one list ordered by position.
func TestSourceOrder(t *testing.T) {
	got := parseErrors(t, `upstreams:
  - name: api
    backends: []
routes:
  - name: api
    upstream: nope
    priority: high
listeners:
  - name: web
    address: ":8080"
    timeouts: {idle: 5}
`)
	want := []string{
		"t.yaml:3:15: upstreams[0].backends: no backends (hint: add at least one, like backends: [{address: 127.0.0.1:9001}])",
		`t.yaml:6:15: routes[0].upstream: unknown upstream "nope" (defined upstreams: api)`,
		`t.yaml:7:15: routes[0].priority: "high" is not an integer`,
		`t.yaml:11:22: listeners[0].timeouts.idle: "5" is not a duration (hint: write 5s)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Parse() diagnostics =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestListenerTLSDefaults(t *testing.T) {
	cfg := mustParse(t, "listeners: [{name: web, address: ':443', tls: {certificates: [{cert_file: c.pem, key_file: k.pem}]}}, {name: plain, address: ':80'}]\n")
	want := &ListenerTLS{
		Certificates: []Certificate{{CertFile: "c.pem", KeyFile: "k.pem"}},
		MinVersion:   "1.2",
		ALPN:         []string{"h2", "http/1.1"},
	}
	if got := cfg.Listeners[0].TLS; !reflect.DeepEqual(got, want) {
		t.Errorf("Listeners[0].TLS = %+v, want %+v", got, want)
	}
	if got := cfg.Listeners[1].TLS; got != nil {
		t.Errorf("Listeners[1].TLS = %+v, want nil for a listener without a tls block", got)
	}
}

// TestLoadResolvesPaths guards the rule that every file path in a config
// file is relative to the file's directory, whatever the working
// directory: the access log was once opened relative to the working
// directory while certificates were read beside the config.
func TestLoadResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "keys", "b.key")
	doc := `access_log: {output: logs/access.log}
listeners:
  - name: web
    address: 127.0.0.1:8443
    tls:
      certificates:
        - {cert_file: certs/a.pem, key_file: ../keys/a.key}
        - {cert_file: b.pem, key_file: ` + abs + `}
`
	if err := os.WriteFile(filepath.Join(conf, "palisade.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	// Loaded by a relative name from elsewhere: still resolved against
	// the file's directory, and made absolute.
	t.Chdir(dir)
	cfg, err := Load(filepath.Join("conf", "palisade.yaml"))
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	certs := cfg.Listeners[0].TLS.Certificates
	for _, tc := range []struct{ key, got, want string }{
		{"Dir", cfg.Dir, conf},
		{"access_log.output", cfg.AccessLog.Output, filepath.Join(conf, "logs", "access.log")},
		{"certificates[0].cert_file", certs[0].CertFile, filepath.Join(conf, "certs", "a.pem")},
		{"certificates[0].key_file", certs[0].KeyFile, filepath.Join(dir, "keys", "a.key")},
		{"certificates[1].cert_file", certs[1].CertFile, filepath.Join(conf, "b.pem")},
		{"certificates[1].key_file (absolute)", certs[1].KeyFile, abs},
	} {
		if tc.got != tc.want {
			t.Errorf("Load: %s = %q, want %q", tc.key, tc.got, tc.want)
		}
	}
	// Positions are those of the values as written.
	if got, want := cfg.Pos("listeners[0].tls.certificates[1].cert_file"), (Pos{Line: 8, Col: 23}); got != want {
		t.Errorf("Pos(cert_file) = %v, want %v", got, want)
	}

	// Bytes with no file (quick mode): relative to the working directory.
	parsed := mustParse(t, doc)
	if parsed.Dir != "" || parsed.AccessLog.Output != "logs/access.log" || parsed.Listeners[0].TLS.Certificates[0].CertFile != "certs/a.pem" {
		t.Errorf("Parse: Dir %q, output %q, cert_file %q; want \"\", logs/access.log, certs/a.pem as written",
			parsed.Dir, parsed.AccessLog.Output, parsed.Listeners[0].TLS.Certificates[0].CertFile)
	}
}

func TestAccessLogStreamsNotResolved(t *testing.T) {
	dir := t.TempDir()
	for _, out := range []string{"stdout", "stderr", "off"} {
		file := filepath.Join(dir, "palisade.yaml")
		doc := "access_log: {output: " + out + "}\nlisteners: [{name: web, address: 127.0.0.1:8080}]\n"
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(file)
		if err != nil {
			t.Fatalf("Load:\n%v", err)
		}
		if cfg.AccessLog.Output != out {
			t.Errorf("Load: access_log.output %q became %q, want it kept", out, cfg.AccessLog.Output)
		}
	}
}
