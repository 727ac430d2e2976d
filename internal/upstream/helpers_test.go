package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Outcomes tests pass to release.
var (
	errConnect = errors.New("dial tcp: connection refused")
	errStatus  = fmt.Errorf("status 503: %w", ErrServerStatus)
	errClient  = fmt.Errorf("%w: client went away", ErrNotBackend)
)

// logBuf is a pool's log destination that tests read back.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count returns how many log lines carry the message msg.
func (l *logBuf) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), "msg=\""+msg+"\"")
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Log messages of a Pool.
const (
	msgEjected = "backend ejected"
	msgReturn  = "backend ejection ended"
	msgRefused = "backend not ejected: the upstream has its most ejected backends"
)

// newTestPool returns a pool named "app" with set and specs committed, and
// its log.
func newTestPool(t *testing.T, set Settings, specs ...Member) (*Pool, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	p := NewPool("app", slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	p.Plan(set, specs).Commit()
	return p, lb
}

// testMembers returns n primaries of weight 1 on consecutive loopback ports,
// starting at 127.0.0.1:9001.
func testMembers(n int) []Member {
	m := make([]Member, n)
	for i := range m {
		m[i] = Member{Addr: addr(i), Weight: 1}
	}
	return m
}

func addr(i int) string { return fmt.Sprintf("127.0.0.1:%d", 9001+i) }

// passiveSettings enables passive health with the given rules: a 10s
// window, 30s ejections up to 5m, and at most half the pool ejected.
func passiveSettings(consecutive int, ratio float64, minRequests int) Settings {
	return Settings{Passive: PassiveSettings{
		Enabled:             true,
		ConsecutiveFailures: consecutive,
		ErrorRatio:          ratio,
		MinRequests:         minRequests,
		Window:              10 * time.Second,
		EjectTime:           30 * time.Second,
		MaxEjectTime:        5 * time.Minute,
		MaxEjected:          0.5,
	}}
}

// exchange sends one request to b that ends with err.
func exchange(b *Backend, err error) { b.Acquire()(time.Millisecond, err) }

// exchanges sends one request to b per outcome, in order.
func exchanges(b *Backend, errs ...error) {
	for _, err := range errs {
		exchange(b, err)
	}
}

// ejected reports whether b has the ejected state bit, whether or not its
// time has passed.
func ejectedBit(b *Backend) bool { return b.state.Load()&stateEjected != 0 }

// closed reports whether c is closed.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
