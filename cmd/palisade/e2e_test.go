package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary builds palisade once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "palisade-e2e")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "palisade")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is a running palisade whose stderr is collected line by line.
type process struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan error
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	return startProcessIn(t, "", args...)
}

// startProcessIn is startProcess with dir as the working directory ("" is
// the test's).
func startProcessIn(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Dir = dir
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
	}()
	go func() {
		<-scanned
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitLog waits for a stderr line matching re and returns its submatches.
func (p *process) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, l := range p.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				p.mu.Unlock()
				return m
			}
		}
		p.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("no log line matching %s in:\n%s", re, strings.Join(p.lines, "\n"))
	return nil
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("palisade exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("palisade did not stop within 15s of SIGTERM")
	}
}

var listening = regexp.MustCompile(`msg=listening .*address=(\S+)`)

// curl runs the real curl client and returns its stdout.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "10"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return string(out)
}

func named(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return s
}

func TestProxyQuickMode(t *testing.T) {
	a, b := named(t, "a"), named(t, "b")
	p := startProcess(t, "proxy", "--from", "127.0.0.1:0", "--to", a.Listener.Addr().String(), "--to", b.Listener.Addr().String(), "--access-log", "off")
	addr := p.waitLog(t, listening)[1]
	seen := curl(t, "http://"+addr+"/") + curl(t, "http://"+addr+"/")
	if seen != "ab" && seen != "ba" {
		t.Errorf("two requests answered %q, want one from each backend", seen)
	}
	p.stop(t)
}

func TestRunReloadsOnEditAndSIGHUP(t *testing.T) {
	a, b := named(t, "a"), named(t, "b")
	file := filepath.Join(t.TempDir(), "palisade.yaml")
	cfg := func(backend string) string {
		return fmt.Sprintf("access_log: {output: \"off\"}\nlisteners: [{name: web, address: \"127.0.0.1:0\"}]\n"+
			"routes: [{name: all, match: {path_prefix: /}, upstream: app}]\nupstreams: [{name: app, backends: [{address: %q}]}]\n", backend)
	}
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg(a.Listener.Addr().String()))
	p := startProcess(t, "run", "-c", file)
	url := "http://" + p.waitLog(t, listening)[1] + "/"
	if got := curl(t, url); got != "a" {
		t.Fatalf("first answer %q, want \"a\"", got)
	}
	eventually := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := curl(t, url)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("answer %q, want %q", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	write(cfg(b.Listener.Addr().String()))
	eventually("b")

	write("listeners: [{name: web, address: \"127.0.0.1:0\"}]\nroutes: [{name: all, upstream: nowhere}]\n")
	p.waitLog(t, regexp.MustCompile(`config rejected, running config kept.*unknown upstream`))
	if got := curl(t, url); got != "b" {
		t.Errorf("after a rejected edit the proxy answered %q, want the running config's \"b\"", got)
	}

	// A SIGHUP rereads the file: fix it behind the watcher's back first by
	// replacing the directory entry, which the watcher also sees; either
	// path must end with backend a.
	write(cfg(a.Listener.Addr().String()))
	p.cmd.Process.Signal(syscall.SIGHUP)
	eventually("a")
	p.stop(t)
}

func TestDemo(t *testing.T) {
	p := startProcess(t, "demo")
	p.waitLog(t, listening)
	seen := curl(t, "http://127.0.0.1:8080/") + curl(t, "http://127.0.0.1:8080/")
	if !strings.Contains(seen, `"demo-1"`) || !strings.Contains(seen, `"demo-2"`) {
		t.Errorf("two demo requests answered %s; want both demo backends", seen)
	}
	head := curl(t, "-D", "-", "-o", "/dev/null", "-H", "Accept-Encoding: gzip", "http://127.0.0.1:8080/api/items")
	if !strings.Contains(strings.ToLower(head), "content-encoding: gzip") {
		t.Errorf("/api/items with Accept-Encoding: gzip answered headers\n%s\nwant Content-Encoding: gzip", head)
	}
	if got := curl(t, "--compressed", "http://127.0.0.1:8080/api/items"); !strings.Contains(got, `"user50@example.com"`) {
		t.Errorf("/api/items decoded to %q", got)
	}
	p.stop(t)
}
