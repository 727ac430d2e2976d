package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/testenv"
)

// logBuffer collects a store's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(msg string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), "msg=\""+msg+"\"")
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const redisTimeout = 50 * time.Millisecond

func newRedisStore(t *testing.T, addr string, policy FailurePolicy) (*Redis, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	var local Store
	if policy == FailLocal {
		local = NewMemory(1000)
	}
	s, err := NewRedis(config.RateLimitRedis{Address: addr, KeyPrefix: "test:", Timeout: config.Duration(redisTimeout)},
		policy, local, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func TestRedisGCRA(t *testing.T) {
	r := testenv.StartRedis(t)
	s, _ := newRedisStore(t, r.Addr, FailClosed)
	l := Limit{Rate: 10, Period: time.Second, Burst: 5}
	for i := range 5 {
		if res := take(t, s, "k", l); !res.Allowed || res.Remaining != int64(4-i) {
			t.Fatalf("request %d = %+v, want allowed with %d remaining", i, res, 4-i)
		}
	}
	res := take(t, s, "k", l)
	// Real time passes between the requests: the retry is at most T.
	if res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > 100*time.Millisecond {
		t.Fatalf("request 6 = %+v, want denied with a retry within 100ms", res)
	}
	if res := take(t, s, "other", l); !res.Allowed {
		t.Fatalf("another key = %+v, want allowed", res)
	}
	time.Sleep(res.RetryAfter + 5*time.Millisecond)
	if res := take(t, s, "k", l); !res.Allowed {
		t.Fatalf("after the retry = %+v, want allowed", res)
	}
}

// TestRedisFailurePolicies kills redis-server mid-run, restarts it, then
// stops it with SIGSTOP, under each failure policy: open lets every request
// through, closed refuses, local limits with the local store. No Take may
// wait past the timeout by more than a generous margin (the bound holds
// for every Take, not on average), and each change of state is one log
// line.
func TestRedisFailurePolicies(t *testing.T) {
	// A Take that finds Redis hung waits for the timeout (50ms) and no
	// longer; the margin absorbs scheduling under -race and CPU load.
	const bound = redisTimeout + 250*time.Millisecond
	for _, policy := range []FailurePolicy{FailOpen, FailClosed, FailLocal} {
		t.Run(policy.String(), func(t *testing.T) {
			r := testenv.StartRedis(t)
			s, logs := newRedisStore(t, r.Addr, policy)
			l := Limit{Rate: 1, Period: time.Hour, Burst: 3}

			// phase sends 10 requests for a fresh key and checks
			// what the policy (or Redis) decided.
			phase := func(name, key string, redisUp bool) {
				t.Helper()
				allowed, refused := 0, 0
				for range 10 {
					begin := time.Now()
					res, err := s.Take(context.Background(), key, l, 1)
					if d := time.Since(begin); d > bound {
						t.Errorf("%s: Take took %v, want at most %v", name, d, bound)
					}
					switch {
					case errors.Is(err, ErrUnavailable):
						refused++
					case err != nil:
						t.Fatalf("%s: Take: %v", name, err)
					case res.Allowed:
						allowed++
					}
				}
				want := [2]int{3, 0} // Redis or the local store: the burst
				switch {
				case redisUp:
				case policy == FailOpen:
					want = [2]int{10, 0}
				case policy == FailClosed:
					want = [2]int{0, 10}
				}
				if got := [2]int{allowed, refused}; got != want {
					t.Errorf("%s: %d allowed and %d refused, want %d and %d", name, allowed, refused, want[0], want[1])
				}
			}
			waitUp := func() {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					if _, err := s.Take(context.Background(), "probe", Limit{Rate: 1e6, Period: time.Second, Burst: 1e6}, 1); err == nil && s.downUntil.Load() == 0 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("Redis did not come back up; logs:\n%s", logs)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}

			phase("up", "a", true)
			r.Kill()
			phase("killed", "b", false)
			r.Restart()
			waitUp()
			phase("restarted", "c", true)
			r.Pause()
			phase("paused", "d", false)
			r.Resume()
			waitUp()
			phase("resumed", "e", true)

			if down, up := logs.count("ratelimit redis down"), logs.count("ratelimit redis up"); down != 2 || up != 2 {
				t.Errorf("logged %d down and %d up lines, want 2 of each (one per change of state); logs:\n%s", down, up, logs)
			}
			if s.Degraded() < 20 {
				t.Errorf("Degraded() = %d, want at least the 20 requests decided while down", s.Degraded())
			}
		})
	}
}
