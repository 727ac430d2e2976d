package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunAccessLogProblemNamesResolvedPath: a log file that cannot be
// opened is refused with the path palisade tried, not the one written.
func TestRunAccessLogProblemNamesResolvedPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "palisade.yaml")
	doc := "access_log: {output: missing/access.log}\nlisteners: [{name: web, address: \"127.0.0.1:0\"}]\n"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("run", "-c", file)
	want := file + `:1:22: access_log.output: cannot open "` + filepath.Join(dir, "missing", "access.log") + `": no such file or directory`
	if code != exitFailed || !strings.Contains(stderr, want) {
		t.Errorf("run = exit %d\n%s\nwant exit %d with\n%s", code, stderr, exitFailed, want)
	}
}

// TestProxyQuickModeAccessLogInWorkingDirectory: quick mode has no config
// file, so a relative --access-log is relative to the working directory.
func TestProxyQuickModeAccessLogInWorkingDirectory(t *testing.T) {
	a := named(t, "a")
	workDir := t.TempDir()
	p := startProcessIn(t, workDir, "proxy", "--from", "127.0.0.1:0", "--to", a.Listener.Addr().String(), "--access-log", "quick.log")
	addr := p.waitLog(t, listening)[1]
	if got := curl(t, "http://"+addr+"/quick"); got != "a" {
		t.Errorf("curl = %q, want \"a\"", got)
	}
	p.stop(t)
	data, err := os.ReadFile(filepath.Join(workDir, "quick.log"))
	if err != nil || !strings.Contains(string(data), `"path":"/quick"`) {
		t.Errorf("quick.log in the working directory: %v\n%s\nwant a line for /quick", err, data)
	}
}
