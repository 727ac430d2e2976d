package main

import (
	"bytes"
	"io/fs"
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
			code, out, errs := runCLI("validate", "-c", filepath.Join("..", "..", "examples", name))
			if code != exitOK {
				t.Errorf("validate %s = exit %d\n%s%s", name, code, out, errs)
			}
		})
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
