package testenv

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// Main runs the package's tests and then fails the run if goroutines started
// by the tests are still alive. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "testenv: %d leaked goroutine(s):\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to grace for goroutines to finish and returns
// the stacks of those that remain, ignoring the runtime's and the testing
// package's own.
func leakedGoroutines(grace time.Duration) []string {
	deadline := time.Now().Add(grace)
	for {
		leaked := interesting()
		if len(leaked) == 0 || time.Now().After(deadline) {
			sort.Strings(leaked)
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func interesting() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		g = strings.TrimSpace(g)
		if g == "" || keep(g) {
			continue
		}
		out = append(out, g)
	}
	return out
}

// keep reports whether stack g belongs to the runtime or test framework.
func keep(g string) bool {
	lines := strings.Split(g, "\n")
	if len(lines) < 2 {
		return true
	}
	top := lines[1]
	if strings.HasPrefix(lines[0], "goroutine ") && strings.Contains(g, "testenv.interesting(") {
		return true
	}
	for _, s := range []string{"testing.Main(", "testing.(*M).", "testing.tRunner(", "runtime.goexit", "signal.signal_recv", "os/signal.loop", "runtime.ensureSigM", "created by runtime.gc", "runtime.gopark\nruntime.goparkunlock\nruntime.forcegchelper"} {
		if strings.Contains(top, s) {
			return true
		}
	}
	if strings.Contains(g, "created by testing.(*T).Run") && strings.Contains(top, "testing.") {
		return true
	}
	if strings.Contains(g, "net/http.(*persistConn)") {
		// Idle client connections of http.DefaultTransport: tests close them
		// with CloseIdleConnections, but the reader may lag.
		return true
	}
	return false
}
