package config

import (
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. Whatever the input, Parse must
// not panic and must return exactly one of a Config that validates again
// cleanly, or diagnostics that each say something at a sane position. Seeds
// are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	lookup := func(name string) (string, bool) {
		switch name {
		case "ADDR":
			return "127.0.0.1:7000", true
		case "IDLE":
			return "5s", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Loader{LookupEnv: lookup}.Parse("fuzz.yaml", data)
		if err == nil {
			if cfg == nil {
				t.Fatalf("Parse(%q) = nil, nil", data)
			}
			if ds := cfg.Validate(); ds != nil {
				t.Fatalf("Parse(%q) returned a Config that Validate rejects:\n%v", data, ds)
			}
			return
		}
		if cfg != nil {
			t.Fatalf("Parse(%q) returned both a Config and an error", data)
		}
		ds, ok := err.(Diagnostics)
		if !ok || len(ds) == 0 {
			t.Fatalf("Parse(%q) error = %#v, want non-empty Diagnostics", data, err)
		}
		for _, d := range ds {
			if d.Pos.Line < 0 || d.Pos.Col < 0 || d.Message == "" || d.File != "fuzz.yaml" {
				t.Fatalf("Parse(%q) diagnostic %#v: want a file, a message and a position >= 0", data, d)
			}
			_ = d.String()
		}
	})
}
