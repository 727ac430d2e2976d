package main

import (
	"fmt"
	"io"
	"strings"

	"palisade/internal/config"
)

func cmdProxy(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("proxy", "proxy --from ADDR --to ADDR [--to ADDR...]", stdout, stderr)
	from := fs.String("from", "127.0.0.1:8080", "address to listen on (host:port)")
	var to stringsFlag
	fs.Var(&to, "to", "backend address host:port (repeat for several; round robin)")
	accessLog := fs.String("access-log", "stdout", "access log output: stdout, stderr, off or a file path")
	var lf logFlags
	lf.register(fs)
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if len(to) == 0 {
		fmt.Fprintln(stderr, "palisade proxy: at least one --to backend is required")
		fs.Usage()
		return exitUsage
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "palisade proxy:", err)
		return exitUsage
	}
	cfg, err := config.Parse("--from/--to", []byte(quickConfig(*from, to, *accessLog)))
	if err != nil {
		printConfigError(stderr, err)
		return exitFailed
	}
	return serve(cfg, log, stderr, nil)
}

// quickConfig is the config quick mode runs: one listener, one catch-all
// route, one round-robin upstream. It goes through the same decoding and
// validation as a file, so bad addresses get the same messages.
func quickConfig(from string, to []string, accessLog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "access_log: {output: %q}\n", accessLog)
	fmt.Fprintf(&b, "listeners:\n  - {name: quick, address: %q}\n", from)
	b.WriteString("routes:\n  - {name: quick, match: {path_prefix: /}, upstream: quick}\n")
	b.WriteString("upstreams:\n  - name: quick\n    backends:\n")
	for _, addr := range to {
		fmt.Fprintf(&b, "      - {address: %q}\n", addr)
	}
	return b.String()
}
