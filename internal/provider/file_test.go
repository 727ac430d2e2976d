package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade/internal/config"
)

// waitLimit bounds every wait for something the test expects to happen.
const waitLimit = 5 * time.Second

// validConfig returns a config document whose only listener is named name,
// so a test can tell which version of the file was applied.
func validConfig(name string) string {
	return fmt.Sprintf("listeners: [{name: %s, address: \"127.0.0.1:0\"}]\n"+
		"routes: [{name: all, match: {path_prefix: /}, upstream: app}]\n"+
		"upstreams: [{name: app, backends: [{address: \"127.0.0.1:9\"}]}]\n", name)
}

// invalidConfig fails config.Load: the route names an upstream that does
// not exist.
const invalidConfig = "listeners: [{name: web, address: \"127.0.0.1:0\"}]\n" +
	"routes: [{name: all, match: {path_prefix: /}, upstream: nope}]\n" +
	"upstreams: [{name: app, backends: [{address: \"127.0.0.1:9\"}]}]\n"

// logBuffer collects log output from the provider's goroutine and wakes a
// waiting test on each write.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{wrote: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until the log contains every one of subs and returns it.
func (l *logBuffer) waitFor(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		s := l.String()
		missing := ""
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				missing = sub
				break
			}
		}
		if missing == "" {
			return s
		}
		select {
		case <-l.wrote:
		case <-deadline.C:
			t.Fatalf("log after %v has no %q:\n%s", waitLimit, missing, s)
		}
	}
}

// harness runs a File provider over a config file in a temporary
// directory.
type harness struct {
	t       *testing.T
	dir     string
	path    string
	f       *File
	log     *logBuffer
	applied chan *config.Config
	// result is what apply returns; set it before triggering a reload.
	mu     sync.Mutex
	result error
}

// newHarness writes the first config and returns a harness whose provider
// is not running yet.
func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t:       t,
		dir:     dir,
		path:    filepath.Join(dir, "palisade.yaml"),
		log:     newLogBuffer(),
		applied: make(chan *config.Config, 16),
	}
	h.write(validConfig("v0"))
	h.f = NewFile(h.path, slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return h
}

func (h *harness) apply(cfg *config.Config) error {
	// Read the result before reporting the apply, so that a test that
	// changes it after seeing one apply changes only the next.
	h.mu.Lock()
	result := h.result
	h.mu.Unlock()
	h.applied <- cfg
	return result
}

func (h *harness) setResult(err error) {
	h.mu.Lock()
	h.result = err
	h.mu.Unlock()
}

// start runs the provider until the test ends, then checks that Run
// returned nil promptly after its context was canceled.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.f.Run(ctx, h.apply) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run after cancel = %v, want nil", err)
			}
		case <-time.After(waitLimit):
			h.t.Errorf("Run did not return within %v of its context being canceled", waitLimit)
		}
	})
}

// startWatching starts the provider and returns once it is watching: Run
// serves a Reload only from its event loop, after the watch is set up.
func (h *harness) startWatching() {
	h.t.Helper()
	h.start()
	h.f.Reload()
	h.wantApply("v0")
}

func (h *harness) write(content string) {
	h.t.Helper()
	if err := os.WriteFile(h.path, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// wantApply waits for one apply and checks which config it carried.
func (h *harness) wantApply(listener string) *config.Config {
	h.t.Helper()
	select {
	case cfg := <-h.applied:
		if got := cfg.Listeners[0].Name; got != listener {
			h.t.Errorf("applied config has listener %q, want %q (the latest content)", got, listener)
		}
		return cfg
	case <-time.After(waitLimit):
		h.t.Fatalf("no apply within %v, want one with listener %q; log:\n%s", waitLimit, listener, h.log)
		return nil
	}
}

// wantNoApply checks that nothing is applied during quiet.
func (h *harness) wantNoApply(quiet time.Duration) {
	h.t.Helper()
	select {
	case cfg := <-h.applied:
		h.t.Errorf("unexpected apply of config with listener %q", cfg.Listeners[0].Name)
	case <-time.After(quiet):
	}
}

func TestFileEditAppliesOnceAfterDebounce(t *testing.T) {
	for _, tc := range []struct {
		name string
		gap  time.Duration // between writes; below the debounce
	}{
		{"tight burst", 0},
		{"spaced burst", 40 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			// A wide margin between the gaps and the debounce, so that a
			// loaded CI machine pausing the writer does not split the burst.
			h.f.debounce = 500 * time.Millisecond
			h.startWatching()

			var last time.Time
			for i := 1; i <= 5; i++ {
				if i > 1 && tc.gap > 0 {
					time.Sleep(tc.gap)
				}
				last = time.Now()
				h.write(validConfig(fmt.Sprintf("v%d", i)))
			}
			cfg := h.wantApply("v5")
			if elapsed := time.Since(last); elapsed < h.f.debounce {
				t.Errorf("apply came %v after the last write, want at least the debounce %v", elapsed, h.f.debounce)
			}
			if cfg != nil && cfg.File != h.path {
				t.Errorf("applied config File = %q, want %q", cfg.File, h.path)
			}
			h.wantNoApply(3 * h.f.debounce)
			h.log.waitFor(t, "config reloaded", "reason=\"file changed\"")
		})
	}
}

func TestFileRenameIntoPlace(t *testing.T) {
	h := newHarness(t)
	h.startWatching()

	tmp := filepath.Join(h.dir, ".palisade.yaml.swp")
	if err := os.WriteFile(tmp, []byte(validConfig("renamed")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.path); err != nil {
		t.Fatal(err)
	}
	h.wantApply("renamed")
	h.wantNoApply(3 * h.f.debounce)
}

func TestFileOtherFilesIgnored(t *testing.T) {
	h := newHarness(t)
	h.startWatching()

	if err := os.WriteFile(filepath.Join(h.dir, "other.yaml"), []byte(validConfig("other")), 0o644); err != nil {
		t.Fatal(err)
	}
	h.wantNoApply(3 * h.f.debounce)
}

// TestFileSymlinkSwap follows a Kubernetes ConfigMap update: the file is a
// symlink through "..data", which is atomically replaced.
func TestFileSymlinkSwap(t *testing.T) {
	h := newHarness(t)
	// Rebuild the directory in the ConfigMap layout before Run starts.
	if err := os.Remove(h.path); err != nil {
		t.Fatal(err)
	}
	mkdata := func(name, listener string) {
		t.Helper()
		d := filepath.Join(h.dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "palisade.yaml"), []byte(validConfig(listener)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkdata("..2026_01_01", "v0")
	if err := os.Symlink("..2026_01_01", filepath.Join(h.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "palisade.yaml"), h.path); err != nil {
		t.Fatal(err)
	}
	h.startWatching()

	mkdata("..2026_01_02", "swapped")
	if err := os.Symlink("..2026_01_02", filepath.Join(h.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.dir, "..data_tmp"), filepath.Join(h.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	h.wantApply("swapped")
}

func TestFileReload(t *testing.T) {
	h := newHarness(t)
	h.startWatching()

	// Written while nothing waits for file events to settle: Reload reads
	// the file now, the watch applies it again after the debounce.
	h.write(validConfig("reloaded"))
	h.f.Reload()
	h.wantApply("reloaded")
	h.log.waitFor(t, "config reloaded", "reason=\"reload requested\"")
}

func TestFileReloadCoalesces(t *testing.T) {
	h := newHarness(t)
	// Several Reloads before Run serves them count as one.
	h.f.Reload()
	h.f.Reload()
	h.f.Reload()
	h.start()
	h.wantApply("v0")
	h.wantNoApply(3 * h.f.debounce)
}

func TestFileInvalidConfigNotApplied(t *testing.T) {
	h := newHarness(t)
	h.startWatching()

	h.write(invalidConfig)
	h.f.Reload()
	// The log line comes from the same goroutine that would have called
	// apply, after Load failed: once it is there, apply was not called.
	log := h.log.waitFor(t, "config rejected, running config kept")
	select {
	case cfg := <-h.applied:
		t.Fatalf("invalid config was applied (listener %q)", cfg.Listeners[0].Name)
	default:
	}
	if !strings.Contains(log, h.path+":2:") || !strings.Contains(log, `unknown upstream \"nope\"`) {
		t.Errorf("rejection log does not name the file, line and problem:\n%s", log)
	}
	// The watch is still running: the next good edit is applied.
	h.write(validConfig("fixed"))
	h.wantApply("fixed")
}

func TestFileApplyRejection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantLog []string
	}{
		{
			name: "diagnostics",
			err: config.Diagnostics{
				{File: "palisade.yaml", Pos: config.Pos{Line: 2, Col: 11}, Path: "routes[0]", Message: `conflicts with route "a"`, Hint: "give one a distinct match"},
				{File: "palisade.yaml", Pos: config.Pos{Line: 3, Col: 5}, Path: "upstreams[0]", Message: "second problem"},
			},
			wantLog: []string{
				"config rejected, running config kept",
				`problem="palisade.yaml:2:11: routes[0]: conflicts with route \"a\" (hint: give one a distinct match)"`,
				`problem="palisade.yaml:3:5: upstreams[0]: second problem"`,
			},
		},
		{
			name: "wrapped diagnostics",
			err:  fmt.Errorf("build: %w", config.Diagnostics{{Path: "routes[1]", Message: "bad"}}),
			wantLog: []string{
				"config rejected, running config kept",
				`problem="routes[1]: bad"`,
			},
		},
		{
			name:    "plain error",
			err:     errors.New("listener 127.0.0.1:80: permission denied"),
			wantLog: []string{"config rejected, running config kept", `error="listener 127.0.0.1:80: permission denied"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.startWatching()
			h.setResult(tc.err)
			h.f.Reload()
			h.wantApply("v0")
			log := h.log.waitFor(t, tc.wantLog...)
			if strings.Count(log, "config reloaded") != 1 {
				t.Errorf("log reports a successful reload after apply failed:\n%s", log)
			}
		})
	}
}

func TestFileRemovedSkipsReload(t *testing.T) {
	h := newHarness(t)
	h.startWatching()
	if err := os.Remove(h.path); err != nil {
		t.Fatal(err)
	}
	h.f.Reload()
	h.log.waitFor(t, "config reload skipped")
	select {
	case <-h.applied:
		t.Fatalf("apply called for a removed file")
	default:
	}
	if strings.Contains(h.log.String(), "config rejected") {
		t.Errorf("a removed file was reported as a rejected config:\n%s", h.log)
	}
}

func TestFileRunStopsOnCancel(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.f.Run(ctx, h.apply) }()
	h.f.Reload()
	h.wantApply("v0")

	// A change pending in the debounce when ctx ends is dropped with Run.
	h.write(validConfig("pending"))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("Run did not return within %v of cancel", waitLimit)
	}
	h.wantNoApply(2 * h.f.debounce)
}

func TestFileRunMissingDirectory(t *testing.T) {
	f := NewFile(filepath.Join(t.TempDir(), "missing", "palisade.yaml"), slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() {
		done <- f.Run(context.Background(), func(*config.Config) error {
			t.Errorf("apply called for a file in a missing directory")
			return nil
		})
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Run(missing directory) = nil, want an error")
		}
	case <-time.After(waitLimit):
		t.Fatalf("Run(missing directory) did not return within %v", waitLimit)
	}
}
