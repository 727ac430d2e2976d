// Command palisade is a reverse proxy, load balancer and application
// gateway. See `palisade --help`.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // invalid config or a runtime failure
	exitUsage  = 2
)

const usage = `palisade: a reverse proxy, load balancer and application gateway.

Usage:
  palisade run [-c palisade.yaml]          serve a config; SIGHUP or a file edit reloads it
  palisade validate [-c palisade.yaml]     check a config; prints every problem as FILE:LINE:COL
  palisade proxy --from ADDR --to ADDR...  quick mode: forward ADDR to backends, round robin
  palisade demo                            start two demo backends and the proxy in front of them
  palisade hash-password [-cost 10]        print the bcrypt hash of a password read from stdin
  palisade version                         print the version

Run 'palisade COMMAND --help' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "proxy":
		return cmdProxy(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "hash-password":
		return cmdHashPassword(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		return cmdVersion(stdout)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "palisade: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
