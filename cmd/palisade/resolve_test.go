package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"palisade/internal/testenv"
)

// TestValidateResolvesThroughNameserver: validate resolves backend host
// names as run does, through the upstream's resolve.nameserver, and
// positions a name that does not resolve at its address.
func TestValidateResolvesThroughNameserver(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("app.test", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.1"), TTL: 30})
	path := filepath.Join(t.TempDir(), "palisade.yaml")
	write := func(host string) {
		doc := fmt.Sprintf(`listeners:
  - {name: web, address: 127.0.0.1:0}
routes:
  - {name: all, match: {path_prefix: /}, upstream: app}
upstreams:
  - name: app
    resolve: {nameserver: %q}
    backends:
      - address: %s:8080
`, dns.Addr, host)
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	write("app.test")
	if code, out, errs := runCLI("validate", "-c", path); code != exitOK {
		t.Fatalf("validate with a name the nameserver knows = exit %d\n%s%s", code, out, errs)
	}

	write("missing.test")
	code, _, errs := runCLI("validate", "-c", path)
	if code != exitFailed {
		t.Fatalf("validate with an unknown name = exit %d, want %d", code, exitFailed)
	}
	want := path + `:9:18: upstreams[0].backends[0].address: resolving "missing.test": `
	if !strings.Contains(errs, want) || !strings.Contains(errs, "no such host") {
		t.Errorf("validate output lacks %q ... no such host:\n%s", want, errs)
	}
}
