package provider

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"palisade/internal/config"
)

// ApplyFunc makes a loaded config the running one. It returns
// config.Diagnostics when the config is rejected; the running config is then
// unchanged.
type ApplyFunc func(cfg *config.Config) error

// File reloads a config file when it changes on disk or when Reload is
// called (on SIGHUP). The zero value is unusable; use NewFile.
type File struct {
	path     string
	log      *slog.Logger
	debounce time.Duration
	trigger  chan struct{}
}

// NewFile returns a provider for the file at path.
func NewFile(path string, log *slog.Logger) *File {
	return &File{path: path, log: log, debounce: 200 * time.Millisecond, trigger: make(chan struct{}, 1)}
}

// Reload asks for the file to be read again. It never blocks; several calls
// before the reload runs count as one.
func (f *File) Reload() {
	select {
	case f.trigger <- struct{}{}:
	default:
	}
}

// Run watches the file until ctx ends. The first config must already have
// been applied by the caller. Editors that replace the file (write to a
// temporary file, then rename) and symlink swaps are seen because the
// directory is watched, not the file.
func (f *File) Run(ctx context.Context, apply ApplyFunc) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	abs, err := filepath.Abs(f.path)
	if err != nil {
		return err
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return err
	}
	name := filepath.Base(abs)

	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) != name && !isSymlinkSwap(ev) {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(f.debounce)
			} else {
				timer.Reset(f.debounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			f.log.Warn("config watch error", "file", f.path, "error", err)
		case <-fire:
			fire = nil
			f.load(apply, "file changed")
		case <-f.trigger:
			f.load(apply, "reload requested")
		}
	}
}

// isSymlinkSwap reports Kubernetes-style ConfigMap updates, which replace a
// "..data" symlink rather than the file itself.
func isSymlinkSwap(ev fsnotify.Event) bool {
	return filepath.Base(ev.Name) == "..data" && ev.Has(fsnotify.Create)
}

func (f *File) load(apply ApplyFunc, why string) {
	if _, err := os.Stat(f.path); err != nil {
		// A rename-into-place is in progress or the file was removed: keep
		// the running config and wait for the next event.
		f.log.Warn("config reload skipped", "file", f.path, "reason", why, "error", err)
		return
	}
	cfg, err := config.Load(f.path)
	if err == nil {
		err = apply(cfg)
	}
	if err != nil {
		var diags config.Diagnostics
		if errors.As(err, &diags) {
			for _, d := range diags {
				f.log.Error("config rejected, running config kept", "file", f.path, "problem", d.String())
			}
			return
		}
		f.log.Error("config rejected, running config kept", "file", f.path, "error", err)
		return
	}
	f.log.Info("config reloaded", "file", f.path, "reason", why)
}
