package config

import (
	"testing"

	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testEnv is the environment tests parse with: fixed, so no test depends on
// the process's.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"ADDR":  "127.0.0.1:7000",
		"IDLE":  "5",
		"EMPTY": "",
		"PORT":  "9001",
		"HOST":  "api.example.com",
	}[name]
	return v, ok
}

// parseErrors parses doc as "t.yaml" and returns its diagnostics as
// strings; it fails the test if doc parses without any.
func parseErrors(t *testing.T, doc string) []string {
	t.Helper()
	cfg, err := Loader{LookupEnv: testEnv}.Parse("t.yaml", []byte(doc))
	if err == nil {
		t.Fatalf("Parse(%q) = %+v, want diagnostics", doc, cfg)
	}
	ds, ok := err.(Diagnostics)
	if !ok {
		t.Fatalf("Parse(%q) error is %T, want Diagnostics", doc, err)
	}
	got := make([]string, len(ds))
	for i, d := range ds {
		got[i] = d.String()
	}
	return got
}

// mustParse parses doc as "t.yaml" and fails the test on diagnostics.
func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	cfg, err := Loader{LookupEnv: testEnv}.Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse(%q) failed:\n%v", doc, err)
	}
	return cfg
}
