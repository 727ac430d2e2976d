package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"palisade/examples"
	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExamplesValidate(t *testing.T) {
	names, err := fs.Glob(examples.FS, "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, "broken") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "examples", name)
			if files := exampleCertificates[name]; files != nil {
				path = withCertificates(t, name, files)
			}
			code, out, errs := runCLI("validate", "-c", path)
			if code != exitOK {
				t.Errorf("validate %s = exit %d\n%s%s", name, code, out, errs)
			}
		})
	}
}

// exampleCertificates lists, per example, the certificate and key files it
// refers to (relative to its directory) and the host each is for. They are
// not in the repository: the test makes them.
var exampleCertificates = map[string][][3]string{
	"tls.yaml": {{"certs/localhost.pem", "certs/localhost.key", "localhost"}},
}

// withCertificates copies the example name into a temporary directory,
// writes the certificates it refers to beside it, and returns the copy's
// path.
func withCertificates(t *testing.T, name string, files [][3]string) string {
	t.Helper()
	data, err := fs.ReadFile(examples.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ca := testenv.NewCA(t)
	for _, f := range files {
		ca.WriteLeaf(t, filepath.Join(dir, f[0]), filepath.Join(dir, f[1]), f[2])
	}
	return path
}

func TestValidateTLSProblems(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "a.example")
	ca.WriteLeaf(t, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), "b.example")
	write := func(doc string) string {
		path := filepath.Join(dir, "palisade.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// What the schema says is wrong, all at once.
	path := write(`listeners:
  - name: web
    address: 127.0.0.1:8443
    tls:
      certificates: [{cert_file: a.pem}]
      min_version: "1.1"
      alpn: [h2, h3]
`)
	code, _, errs := runCLI("validate", "-c", path)
	if code != exitFailed {
		t.Fatalf("validate = exit %d, want %d", code, exitFailed)
	}
	for _, want := range []string{
		path + `:5:22: listeners[0].tls.certificates[0].key_file: missing`,
		path + `:6:20: listeners[0].tls.min_version: unknown TLS version "1.1"`,
		path + `:7:18: listeners[0].tls.alpn[1]: unknown protocol "h3"`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errs)
		}
	}

	// What only reading the files shows, all at once.
	path = write(`listeners:
  - name: web
    address: 127.0.0.1:8443
    tls:
      certificates:
        - {cert_file: a.pem, key_file: b.key}
        - {cert_file: missing.pem, key_file: b.key}
`)
	code, _, errs = runCLI("validate", "-c", path)
	if code != exitFailed {
		t.Fatalf("validate = exit %d, want %d", code, exitFailed)
	}
	for _, want := range []string{
		path + `:6:40: listeners[0].tls.certificates[0].key_file: the private key in "` + filepath.Join(dir, "b.key") + `" does not match the certificate in "` + filepath.Join(dir, "a.pem") + `"`,
		path + `:7:23: listeners[0].tls.certificates[1].cert_file: cannot read "` + filepath.Join(dir, "missing.pem") + `": no such file or directory`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errs)
		}
	}
}

func TestValidateBrokenExample(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "broken.yaml")
	code, _, errs := runCLI("validate", "-c", path)
	if code != exitFailed {
		t.Fatalf("validate broken.yaml = exit %d, want %d", code, exitFailed)
	}
	for _, want := range []string{
		path + ":7:13: listeners[0].timeouts.idle:",
		path + ":11:15: routes[0].upstream: unknown upstream \"api-v2\" (defined upstreams: api)",
		"duplicate route name \"api\"",
		"upstreams[0].policy",
		"upstreams[0].backends[0].address",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errs)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, ""},
		{[]string{"--help"}, exitOK, "palisade run"},
		{[]string{"run", "--help"}, exitOK, "Usage: palisade run"},
		{[]string{"validate", "--help"}, exitOK, "Usage: palisade validate"},
		{[]string{"proxy", "--help"}, exitOK, "Usage: palisade proxy"},
		{[]string{"demo", "--help"}, exitOK, "Usage: palisade demo"},
		{[]string{"version"}, exitOK, "palisade "},
		{[]string{"bogus"}, exitUsage, ""},
		{[]string{"proxy"}, exitUsage, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, _ := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("palisade %v = exit %d, stdout %q; want exit %d with %q", tc.args, code, out, tc.code, tc.out)
			}
		})
	}
}

func TestValidateMissingFile(t *testing.T) {
	code, _, errs := runCLI("validate", "-c", filepath.Join(t.TempDir(), "nope.yaml"))
	if code != exitFailed || !strings.Contains(errs, "nope.yaml") {
		t.Errorf("validate of a missing file = exit %d, %q", code, errs)
	}
}

// TestValidateAccessLog checks that validate reports an access log file
// that run could not open, as nginx -t does, without creating it.
func TestValidateAccessLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "palisade.yaml")
	check := func(output string, wantOK bool, wantErr string) {
		t.Helper()
		doc := fmt.Sprintf(`access_log: {output: %q}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: "127.0.0.1:9"}]}]
`, output)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI("validate", "-c", path)
		if (code == exitOK) != wantOK || !strings.Contains(errs, wantErr) {
			t.Errorf("validate with output %q = exit %d\n%s%s\nwant ok=%t and %q", output, code, out, errs, wantOK, wantErr)
		}
	}
	check("logs/access.log", false, path+`:1:22: access_log.output: cannot open "`+filepath.Join(dir, "logs", "access.log")+`": no such file or directory`)
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	check("logs/access.log", true, "")
	if _, err := os.Stat(filepath.Join(dir, "logs", "access.log")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("validate created the access log (stat: %v)", err)
	}
	check("logs", false, `cannot open "`+filepath.Join(dir, "logs")+`": is a directory`)
	check("stdout", true, "")
}
