package health

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"palisade/internal/config"
	"palisade/internal/testenv"
	"palisade/internal/upstream"
)

// logBuffer collects a Checker's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the lines whose message is msg.
func (l *logBuffer) lines(msg string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	h := slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(h), buf
}

// wantLines fails t unless buf has exactly the lines want for msg.
func wantLines(t *testing.T, buf *logBuffer, msg string, want ...string) {
	t.Helper()
	got := buf.lines(msg)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines %q = %q, want %q\nwhole log:\n%s", msg, got, want, buf)
	}
}

// newPool returns a pool named app with primaries at addrs.
func newPool(addrs ...string) *upstream.Pool {
	p := upstream.NewPool("app", slog.New(slog.DiscardHandler))
	p.Plan(upstream.Settings{}, members(addrs...)).Commit()
	return p
}

func members(addrs ...string) []upstream.Member {
	var m []upstream.Member
	for _, a := range addrs {
		m = append(m, upstream.Member{Addr: a, Weight: 1})
	}
	return m
}

// recorder is a Probe whose results the test sets per backend address,
// and which records every probe: when it started and whether the backend
// was up then.
type recorder struct {
	mu     sync.Mutex
	err    map[string]error
	script map[string][]error // results used, in order, before err
	calls  map[string][]call
	// hook runs after a probe is recorded, outside the lock, with the
	// backend's address and the probe's number (1 for the first).
	hook func(addr string, n int)
}

type call struct {
	at time.Time
	up bool
}

// ups returns the health of the backend at each of calls.
func ups(calls []call) []bool {
	var out []bool
	for _, c := range calls {
		out = append(out, c.up)
	}
	return out
}

func newRecorder() *recorder {
	return &recorder{err: map[string]error{}, script: map[string][]error{}, calls: map[string][]call{}}
}

func (r *recorder) probe(ctx context.Context, b *upstream.Backend) error {
	up, _ := b.Healthy()
	r.mu.Lock()
	r.calls[b.Addr] = append(r.calls[b.Addr], call{at: time.Now(), up: up})
	n := len(r.calls[b.Addr])
	err := r.err[b.Addr]
	if s := r.script[b.Addr]; len(s) > 0 {
		err, r.script[b.Addr] = s[0], s[1:]
	}
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		hook(b.Addr, n)
	}
	return err
}

func (r *recorder) set(addr string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err[addr] = err
}

func (r *recorder) get(addr string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls[addr]...)
}

// schedule returns a check probing every interval with the given rise,
// fall and jitter, and a timeout of half the interval.
func schedule(interval time.Duration, rise, fall int, jitter float64) config.HealthCheck {
	cfg := checkConfig("http")
	cfg.Interval = config.Duration(interval)
	cfg.Timeout = config.Duration(interval / 2)
	cfg.Rise, cfg.Fall, cfg.Jitter = rise, fall, config.Ratio(jitter)
	return cfg
}

func startChecker(t *testing.T, cfg config.HealthCheck, probe Probe, pool *upstream.Pool, log *slog.Logger) *Checker {
	t.Helper()
	c, err := NewWithProbe(cfg, probe, pool, log)
	if err != nil {
		t.Fatalf("NewWithProbe: %v", err)
	}
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

func wantHealth(t *testing.T, b *upstream.Backend, wantUp bool, wantReason string) {
	t.Helper()
	up, why := b.Healthy()
	if up != wantUp || why != wantReason {
		t.Errorf("%s: Healthy() = %v, %q, want %v, %q", b.Addr, up, why, wantUp, wantReason)
	}
}

const addr1, addr2 = "127.0.0.1:9001", "127.0.0.1:9002"

func TestCheckerFallAndRise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPool(addr1)
		b := pool.Primaries()[0]
		r := newRecorder()
		r.set(addr1, &failure{reason: "status 503"})
		log, buf := newLog()
		// Probes come at [0, 1s), then every 0.9s to 1.1s: the third
		// failure is at 1.8s at the earliest and before 3.2s.
		startChecker(t, schedule(time.Second, 2, 3, 0.1), ProbeFunc(r.probe), pool, log)

		time.Sleep(1700 * time.Millisecond)
		synctest.Wait()
		wantHealth(t, b, true, "")
		wantLines(t, buf, "backend down")

		time.Sleep(1600 * time.Millisecond)
		synctest.Wait()
		wantHealth(t, b, false, "status 503")
		down := `level=WARN msg="backend down" upstream=app backend=127.0.0.1:9001 reason="status 503"`
		wantLines(t, buf, "backend down", down)

		// Failing on: no new line.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		wantLines(t, buf, "backend down", down)

		// Passing again: probes are at least 0.9s apart, so 0.8s after
		// the flip at most one passed; 2.3s after it two have.
		r.set(addr1, nil)
		time.Sleep(800 * time.Millisecond)
		synctest.Wait()
		wantHealth(t, b, false, "status 503")
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		wantHealth(t, b, true, "2 probes passed in a row")
		up := `level=INFO msg="backend up" upstream=app backend=127.0.0.1:9001 reason="2 probes passed in a row"`
		wantLines(t, buf, "backend up", up)

		time.Sleep(10 * time.Second)
		synctest.Wait()
		wantLines(t, buf, "backend up", up)
		wantLines(t, buf, "backend down", down)
		// The first within 1s, then one every 0.9s to 1.1s.
		if n := len(r.get(addr1)); n < 21 || n > 27 {
			t.Errorf("%d probes in 23.6s, want 21 to 27", n)
		}
	})
}

func TestCheckerStreakResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPool(addr1)
		b := pool.Primaries()[0]
		fail := &failure{reason: "status 500"}
		r := newRecorder()
		// Never three failures in a row, nor two passes while down.
		r.script[addr1] = []error{fail, fail, nil, fail, fail, nil, fail, fail, fail, nil, fail, nil, fail, nil, nil}
		log, buf := newLog()
		startChecker(t, schedule(time.Second, 2, 3, 0), ProbeFunc(r.probe), pool, log)
		time.Sleep(16 * time.Second)
		synctest.Wait()

		calls := r.get(addr1)
		if len(calls) < 16 {
			t.Fatalf("%d probes in 16s, want 16", len(calls))
		}
		// calls[i].up is the health after i results.
		got := ups(calls[:16])
		want := []bool{
			true, true, true, true, true, true, true, true, true, // f f p f f p f f f: down after the 9th
			false, false, false, false, false, false, // p f p f p: no two in a row
			true, // p: up after the 15th
		}
		if len(want) != 16 {
			t.Fatalf("bad table: %d entries", len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("health after %d probes = %v, want %v (all: %v)", i, got[i], want[i], got)
				break
			}
		}
		wantHealth(t, b, true, "2 probes passed in a row")
		wantLines(t, buf, "backend down", `level=WARN msg="backend down" upstream=app backend=127.0.0.1:9001 reason="status 500"`)
		wantLines(t, buf, "backend up", `level=INFO msg="backend up" upstream=app backend=127.0.0.1:9001 reason="2 probes passed in a row"`)
	})
}

func TestCheckerTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPool(addr1)
		b := pool.Primaries()[0]
		log, buf := newLog()
		hang := ProbeFunc(func(ctx context.Context, b *upstream.Backend) error {
			<-ctx.Done()
			return ctx.Err()
		})
		startChecker(t, schedule(time.Second, 1, 1, 0), hang, pool, log)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantHealth(t, b, false, "timeout after 500ms")
		wantLines(t, buf, "backend down", `level=WARN msg="backend down" upstream=app backend=127.0.0.1:9001 reason="timeout after 500ms"`)
	})
}

// A backend an earlier checker of the upstream took down stays down until
// rise probes pass: the verdict survives a reload that replaces the
// checker.
func TestCheckerStartsFromBackendHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPool(addr1)
		b := pool.Primaries()[0]
		b.SetHealthy(false, "status 503")
		r := newRecorder()
		log, buf := newLog()
		startChecker(t, schedule(time.Second, 3, 3, 0), ProbeFunc(r.probe), pool, log)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		calls := r.get(addr1)
		if len(calls) < 4 || calls[0].up || calls[2].up || !calls[3].up {
			t.Errorf("health after each probe = %v, want down for three probes, then up", ups(calls))
		}
		wantHealth(t, b, true, "3 probes passed in a row")
		wantLines(t, buf, "backend up", `level=INFO msg="backend up" upstream=app backend=127.0.0.1:9001 reason="3 probes passed in a row"`)
		wantLines(t, buf, "backend down")
	})
}

func TestCheckerBackups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := upstream.NewPool("app", slog.New(slog.DiscardHandler))
		pool.Plan(upstream.Settings{}, []upstream.Member{{Addr: addr1, Weight: 1}, {Addr: addr2, Weight: 1, Backup: true}}).Commit()
		r := newRecorder()
		r.set(addr2, errors.New("connect: connection refused"))
		log, buf := newLog()
		startChecker(t, schedule(time.Second, 1, 2, 0.1), ProbeFunc(r.probe), pool, log)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		wantHealth(t, pool.Primaries()[0], true, "")
		wantHealth(t, pool.Backups()[0], false, "connect: connection refused")
		wantLines(t, buf, "backend down", `level=WARN msg="backend down" upstream=app backend=127.0.0.1:9002 reason="connect: connection refused"`)
	})
}

func TestCheckerFollowsMembership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPool(addr1)
		b1 := pool.Primaries()[0]
		r := newRecorder()
		r.set(addr1, &failure{reason: "status 503"})
		r.hook = func(addr string, n int) {
			if addr != addr1 {
				return
			}
			switch n {
			case 2:
				// Mid-streak, and mid-probe: the kept backend's prober
				// must go on with its count of two failures.
				pool.Plan(upstream.Settings{}, members(addr1, addr2)).Commit()
			case 5:
				pool.Plan(upstream.Settings{}, members(addr2)).Commit()
			}
		}
		log, buf := newLog()
		startChecker(t, schedule(time.Second, 2, 3, 0), ProbeFunc(r.probe), pool, log)
		time.Sleep(20 * time.Second)
		synctest.Wait()

		c1 := r.get(addr1)
		if len(c1) != 5 {
			t.Errorf("%s probed %d times, want 5: removed at its 5th probe", addr1, len(c1))
		}
		// Down after exactly three failures, though the membership and
		// its own health changed on the way.
		if len(c1) >= 4 && (!c1[2].up || c1[3].up) {
			t.Errorf("%s health after each probe = %v, want down after the third", addr1, ups(c1))
		}
		// One prober: probes exactly one interval apart.
		for i := 1; i < len(c1); i++ {
			if d := c1[i].at.Sub(c1[i-1].at); d != time.Second {
				t.Errorf("%s probes %d and %d are %v apart, want 1s", addr1, i, i+1, d)
			}
		}
		c2 := r.get(addr2)
		if len(c2) < 17 || len(c2) > 19 {
			t.Errorf("%s probed %d times in the 18s to 19s it was a member, want one a second", addr2, len(c2))
		}
		wantLines(t, buf, "backend down", `level=WARN msg="backend down" upstream=app backend=127.0.0.1:9001 reason="status 503"`)
		if got := buf.lines("backend up"); len(got) != 0 {
			t.Errorf("log lines %q = %q, want none", "backend up", got)
		}
		if !b1.Draining() {
			t.Errorf("%s: Draining() = false after its removal", addr1)
		}
	})
}

func TestCheckerStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := newPool(addr1)
		b := pool.Primaries()[0]
		started := make(chan struct{}, 1)
		var probes atomic.Int32
		var cut atomic.Pointer[error]
		hang := ProbeFunc(func(ctx context.Context, b *upstream.Backend) error {
			probes.Add(1)
			started <- struct{}{}
			<-ctx.Done()
			err := ctx.Err()
			cut.Store(&err)
			return &failure{reason: "cut", err: err}
		})
		log, buf := newLog()
		c, err := NewWithProbe(schedule(time.Second, 1, 1, 0), hang, pool, log)
		if err != nil {
			t.Fatal(err)
		}
		c.Start()
		c.Start()
		<-started
		c.Stop()
		if e := cut.Load(); e == nil || !errors.Is(*e, context.Canceled) {
			t.Errorf("the probe in flight at Stop ended with %v, want context.Canceled", e)
		}
		wantHealth(t, b, true, "")
		if s := buf.String(); s != "" {
			t.Errorf("log after Stop cut a probe = %q, want nothing", s)
		}
		c.Stop()
		c.Start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := probes.Load(); n != 1 {
			t.Errorf("%d probes, want 1: none after Stop, nor from Start after Stop", n)
		}

		// Stop before Start returns too.
		c2, err := NewWithProbe(schedule(time.Second, 1, 1, 0), hang, pool, log)
		if err != nil {
			t.Fatal(err)
		}
		c2.Stop()
		c2.Start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := probes.Load(); n != 1 {
			t.Errorf("%d probes, want 1: a checker stopped before it started probes nothing", n)
		}
	})
}

func TestCheckerJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var addrs []string
		for i := range 50 {
			addrs = append(addrs, "127.0.0.1:"+string(rune('0'+i/10))+string(rune('0'+i%10))+"00")
		}
		pool := newPool(addrs...)
		r := newRecorder()
		slow := ProbeFunc(func(ctx context.Context, b *upstream.Backend) error {
			err := r.probe(ctx, b)
			time.Sleep(300 * time.Millisecond) // the schedule is start to start
			return err
		})
		const interval, jitter = 10 * time.Second, 0.2
		start := time.Now()
		startChecker(t, schedule(interval, 2, 3, jitter), slow, pool, nil)
		time.Sleep(100 * time.Second)
		synctest.Wait()

		lo, hi := time.Duration(float64(interval)*(1-jitter)), time.Duration(float64(interval)*(1+jitter))
		firsts := map[time.Duration]bool{}
		gaps := map[time.Duration]bool{}
		minFirst, maxFirst := interval, time.Duration(0)
		for _, a := range addrs {
			calls := r.get(a)
			if len(calls) < 8 {
				t.Fatalf("%s probed %d times in 100s, want at least 8", a, len(calls))
			}
			first := calls[0].at.Sub(start)
			if first < 0 || first >= interval {
				t.Errorf("%s first probed after %v, want within the first interval", a, first)
			}
			firsts[first] = true
			minFirst, maxFirst = min(minFirst, first), max(maxFirst, first)
			for i := 1; i < len(calls); i++ {
				gap := calls[i].at.Sub(calls[i-1].at)
				if gap < lo || gap > hi {
					t.Errorf("%s probes %d and %d are %v apart, want %v to %v", a, i, i+1, gap, lo, hi)
				}
				gaps[gap] = true
			}
		}
		if len(firsts) < 45 || maxFirst-minFirst < interval/2 {
			t.Errorf("50 backends first probed at %d distinct times spread over %v, want them spread over the interval", len(firsts), maxFirst-minFirst)
		}
		if len(gaps) < 100 {
			t.Errorf("%d distinct gaps between probes, want them jittered", len(gaps))
		}
	})
}

func TestNewWithProbeErrors(t *testing.T) {
	pool := newPool(addr1)
	for _, tc := range []struct {
		name string
		edit func(*config.HealthCheck)
	}{
		{"zero interval", func(c *config.HealthCheck) { c.Interval = 0 }},
		{"zero timeout", func(c *config.HealthCheck) { c.Timeout = 0 }},
		{"zero rise", func(c *config.HealthCheck) { c.Rise = 0 }},
		{"zero fall", func(c *config.HealthCheck) { c.Fall = 0 }},
		{"jitter over 50%", func(c *config.HealthCheck) { c.Jitter = 0.6 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := checkConfig("http")
			tc.edit(&cfg)
			if _, err := NewWithProbe(cfg, ProbeFunc(func(context.Context, *upstream.Backend) error { return nil }), pool, nil); err == nil {
				t.Errorf("NewWithProbe(%s) succeeded, want an error", tc.name)
			}
		})
	}
	cfg := checkConfig("http")
	cfg.ExpectStatus = []string{"abc"}
	if _, err := New(cfg, pool, nil); err == nil || !strings.Contains(err.Error(), `upstream "app"`) {
		t.Errorf("New(expect_status abc) = %v, want an error naming the upstream", err)
	}
}

// waitHealth waits, on the pool's Watch, until b's health is want, and
// returns its reason.
func waitHealth(t *testing.T, pool *upstream.Pool, b *upstream.Backend, want bool) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := pool.Watch()
		if up, why := b.Healthy(); up == want {
			return why
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s not %v within 10s", b.Addr, map[bool]string{true: "up", false: "down"}[want])
		}
	}
}

// TestCheckerHTTP runs New's own http probe against a real backend, on
// the real clock.
func TestCheckerHTTP(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	pool := newPool(srv.Listener.Addr().String())
	b := pool.Primaries()[0]
	cfg := checkConfig("http")
	cfg.Path = "/healthz"
	cfg.Interval = config.Duration(100 * time.Millisecond)
	cfg.Timeout = config.Duration(100 * time.Millisecond)
	cfg.Rise, cfg.Fall = 1, 2
	log, buf := newLog()
	c, err := New(cfg, pool, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.Start()
	defer c.Stop()

	status.Store(http.StatusServiceUnavailable)
	if why := waitHealth(t, pool, b, false); why != "status 503" {
		t.Errorf("down with reason %q, want %q", why, "status 503")
	}
	status.Store(http.StatusNoContent)
	if why := waitHealth(t, pool, b, true); why != "probe passed" {
		t.Errorf("up with reason %q, want %q", why, "probe passed")
	}
	c.Stop()
	if n := len(buf.lines("backend down")) + len(buf.lines("backend up")); n != 2 {
		t.Errorf("%d transition lines, want 2:\n%s", n, buf)
	}
}
