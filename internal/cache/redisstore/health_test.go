package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"
)

// reply is a Redis error reply, as the client returns one.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

var _ redis.Error = reply("")

func TestIsOutage(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"a miss", redis.Nil, false},
		{"connection refused", refused, true},
		{"timeout", context.DeadlineExceeded, true},
		{"pool exhausted", redis.ErrPoolTimeout, true},
		{"wrapped dial error", fmt.Errorf("get: %w", refused), true},
		{"loading", reply("LOADING Redis is loading the dataset in memory"), true},
		{"busy script", reply("BUSY Redis is busy running a script"), true},
		{"replica without master", reply("MASTERDOWN Link with MASTER is down"), true},
		{"too many clients", reply("ERR max number of clients reached"), true},
		{"no auth", reply("NOAUTH Authentication required."), true},
		{"wrong password at connect", fmt.Errorf("failed to authenticate: %w", reply("WRONGPASS invalid username-password pair")), true},
		{"wrong type", reply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"out of memory", reply("OOM command not allowed when used memory > 'maxmemory'."), false},
		{"read-only replica", reply("READONLY You can't write against a read only replica."), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isOutage(tc.err); got != tc.want {
				t.Errorf("isOutage(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestHealthBackoff follows the store's state through an outage in fake
// time: one line down, commands refused without a probe until the backoff
// ends, one probe at a time, the backoff doubling to its cap, one line up.
func TestHealthBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, rec := newLogRecorder(t)
		var probes atomic.Int32
		var probeErr atomic.Pointer[error]
		down := errors.New("connection refused")
		probeErr.Store(&down)
		h := newHealth(log, "127.0.0.1:6379", func(context.Context) error {
			probes.Add(1)
			return *probeErr.Load()
		})
		defer h.close()

		if !h.admit() {
			t.Fatal("admit() = false on a new store, want true")
		}
		h.failed(down)
		h.failed(errors.New("a second failure in flight"))
		if got := rec.count("cache redis down"); got != 1 {
			t.Fatalf("%d down lines after two failures, want 1", got)
		}
		if e := h.unavailable(); !errors.Is(e, ErrUnavailable) || !errors.Is(e, down) {
			t.Errorf("unavailable() = %v, want ErrUnavailable wrapping %v", e, down)
		}

		// wantProbeAfter checks that the store refuses without probing
		// until backoff has passed, then starts exactly one probe.
		wantProbeAfter := func(backoff time.Duration) {
			t.Helper()
			before := probes.Load()
			time.Sleep(backoff - time.Millisecond)
			if h.admit() {
				t.Fatalf("admit() = true %v into a %v backoff", backoff-time.Millisecond, backoff)
			}
			synctest.Wait()
			if got := probes.Load() - before; got != 0 {
				t.Fatalf("%d probes before the %v backoff ended, want 0", got, backoff)
			}
			time.Sleep(time.Millisecond)
			for range 10 {
				if h.admit() {
					t.Fatalf("admit() = true while the probe runs")
				}
			}
			synctest.Wait()
			if got := probes.Load() - before; got != 1 {
				t.Fatalf("%d probes after the %v backoff, want 1", got, backoff)
			}
		}
		for _, backoff := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
			wantProbeAfter(backoff * time.Millisecond)
		}
		if got := rec.count("cache redis down"); got != 1 {
			t.Errorf("%d down lines after failed probes, want 1", got)
		}

		var ok error
		probeErr.Store(&ok)
		wantProbeAfter(time.Second)
		if !h.admit() {
			t.Fatal("admit() = false after a successful probe, want true")
		}
		if got := rec.count("cache redis up"); got != 1 {
			t.Errorf("%d up lines, want 1", got)
		}

		// A second outage starts again from the shortest backoff.
		h.failed(down)
		probeErr.Store(&down)
		wantProbeAfter(100 * time.Millisecond)
		if got := rec.count("cache redis down"); got != 2 {
			t.Errorf("%d down lines after the second outage, want 2", got)
		}
	})
}

// TestHealthOneProbe checks that a probe that hangs (a Redis stopped with
// SIGSTOP) is the only one, and that requests meanwhile are refused at once.
func TestHealthOneProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, _ := newLogRecorder(t)
		release := make(chan struct{})
		var probes atomic.Int32
		h := newHealth(log, "127.0.0.1:6379", func(ctx context.Context) error {
			probes.Add(1)
			<-release
			return nil
		})
		h.failed(errors.New("i/o timeout"))
		time.Sleep(minBackoff)
		for range 5 {
			for range 100 {
				if h.admit() {
					t.Fatal("admit() = true while the probe hangs")
				}
			}
			time.Sleep(maxBackoff)
		}
		synctest.Wait()
		if got := probes.Load(); got != 1 {
			t.Errorf("%d probes ran at once, want 1", got)
		}
		close(release)
		synctest.Wait()
		if !h.admit() {
			t.Error("admit() = false after the probe succeeded, want true")
		}
		h.close()
	})
}

// TestHealthClose checks that Close waits for a running probe and that no
// probe starts after it.
func TestHealthClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, _ := newLogRecorder(t)
		var probes atomic.Int32
		h := newHealth(log, "127.0.0.1:6379", func(ctx context.Context) error {
			probes.Add(1)
			time.Sleep(50 * time.Millisecond)
			return errors.New("refused")
		})
		h.failed(errors.New("refused"))
		time.Sleep(minBackoff)
		h.admit() // starts a probe
		h.close()
		if got := probes.Load(); got != 1 {
			t.Fatalf("%d probes, want 1", got)
		}
		time.Sleep(10 * maxBackoff)
		h.admit()
		synctest.Wait()
		if got := probes.Load(); got != 1 {
			t.Errorf("%d probes after close, want still 1", got)
		}
	})
}
