package obs

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"palisade/internal/middleware"
	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestAccessLogLine(t *testing.T) {
	var out strings.Builder
	l := NewAccessLog(&out)
	r := httptest.NewRequest("GET", "http://api.example.com/v1/users?id=7", nil)
	r.Header.Set("User-Agent", "curl/8 \"quoted\"\n\x01")
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	st := &middleware.State{
		ID: "abc", Start: start, Listener: "web", ClientIP: netip.MustParseAddr("192.0.2.1"),
		Route: "api", Upstream: "api", Backend: "127.0.0.1:9001", Attempts: 2, Err: errors.New("dial: refused"),
	}
	l.Log(r, st, Entry{Status: 502, Bytes: 12, End: start.Add(1500 * time.Microsecond)})

	var got map[string]any
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("line %q is not JSON: %v", out.String(), err)
	}
	want := map[string]any{
		"time": "2026-11-23T10:00:00.001Z", "request_id": "abc", "listener": "web", "client_ip": "192.0.2.1",
		"method": "GET", "host": "api.example.com", "path": "/v1/users", "query": "id=7", "proto": "HTTP/1.1",
		"status": 502.0, "bytes": 12.0, "duration_ms": 1.5, "route": "api", "upstream": "api",
		"backend": "127.0.0.1:9001", "attempts": 2.0, "user_agent": "curl/8 \"quoted\"\n\x01", "error": "dial: refused",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, got[k], v)
		}
	}
	if !strings.HasSuffix(out.String(), "}\n") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("line %q is not exactly one line", out.String())
	}
}

func TestAppendStringInvalidUTF8(t *testing.T) {
	got := string(appendString(nil, "a\xffb\u00e9"))
	if got != `"a\ufffdb`+"\u00e9"+`"` {
		t.Errorf("appendString = %s", got)
	}
}

// TestAppendTimeAndMillis compares the cached timestamp and the integer
// duration with what the time and strconv packages format, across second,
// day and year boundaries, time zones and clock steps.
func TestAppendTimeAndMillis(t *testing.T) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	base := time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)
	for i := range 5000 {
		tm := base.Add(time.Duration(i) * 977 * time.Microsecond)
		if i%3 == 0 {
			tm = tm.In(zone)
		}
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05.000Z07:00"); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
	for _, d := range []time.Duration{0, 999, time.Microsecond, 1500 * time.Microsecond, 59*time.Second + 123456*time.Microsecond, 3 * time.Hour} {
		if got, want := string(appendMillis(nil, d)), strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64); got != want {
			t.Errorf("appendMillis(%v) = %s, want %s", d, got, want)
		}
	}
	if got := string(appendMillis(nil, -time.Second)); got != "0.000" {
		t.Errorf("appendMillis(-1s) = %s, want 0.000", got)
	}
}

func BenchmarkAppendLine(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/v1/users?id=7", nil)
	r.Header.Set("User-Agent", "wrk")
	st := &middleware.State{ID: "0123456789abcdef", Start: time.Now(), ClientIP: netip.MustParseAddr("127.0.0.1"), Route: "api", Upstream: "api", Backend: "127.0.0.1:9001"}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendLine(buf[:0], r, st, Entry{Status: 200, Bytes: 100, End: time.Now()})
	}
}

func TestAccessLogReopen(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/access.log"
	l, err := OpenAccessLog(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := httptest.NewRequest("GET", "/a", nil)
	st := &middleware.State{Start: time.Now()}
	l.Log(r, st, Entry{Status: 200, End: time.Now()})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(r, st, Entry{Status: 201, End: time.Now()})
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), `"status":200`) || !strings.Contains(string(cur), `"status":201`) || strings.Contains(string(cur), `"status":200`) {
		t.Errorf("after rotation: old file %q, new file %q; want one line each", old, cur)
	}
}

func TestAccessLogBuffered(t *testing.T) {
	path := t.TempDir() + "/access.log"
	l, err := OpenAccessLog(path, 1<<10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/a", nil)
	st := &middleware.State{Start: time.Now()}
	l.Log(r, st, Entry{Status: 200, End: time.Now()})
	if data, _ := os.ReadFile(path); len(data) != 0 {
		t.Errorf("one short line was written at once (%d bytes); want it buffered", len(data))
	}
	for range 10 {
		l.Log(r, st, Entry{Status: 200, End: time.Now()})
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n == 0 || n == 11 {
		t.Errorf("after filling the buffer %d lines were written; want a full buffer's worth", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 11 {
		t.Errorf("after Close %d lines were written, want 11", n)
	}
	l.Log(r, st, Entry{Status: 200, End: time.Now()}) // after Close: dropped, no panic
}

func TestAccessLogFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lockedBuilder
		l := &AccessLog{output: "writer", w: &out}
		l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
		l.limit, l.buf = 64<<10, make([]byte, 0, 64<<10)
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.flusher(time.Second)
		defer l.Close()
		r := httptest.NewRequest("GET", "/a", nil)
		l.Log(r, &middleware.State{Start: time.Now()}, Entry{Status: 200, End: time.Now()})
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if out.Len() != 0 {
			t.Fatalf("line written before the flush interval")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if !strings.Contains(out.String(), `"status":200`) {
			t.Errorf("line not written after the flush interval: %q", out.String())
		}
	})
}

// lockedBuilder is a strings.Builder safe for the flusher and the test.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuilder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuilder) Len() int { w.mu.Lock(); defer w.mu.Unlock(); return w.b.Len() }

func (w *lockedBuilder) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.b.String() }
