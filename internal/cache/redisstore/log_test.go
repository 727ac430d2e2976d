package redisstore

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// logRecorder is a logger whose lines a test counts.
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newLogRecorder(t *testing.T) (*slog.Logger, *logRecorder) {
	r := &logRecorder{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store log:\n%s", r.String())
		}
	})
	return slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug})), r
}

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// count returns the number of lines logged with message msg.
func (r *logRecorder) count(msg string) int {
	return strings.Count(r.String(), `msg="`+msg+`"`)
}
