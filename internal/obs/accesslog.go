package obs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"palisade/internal/middleware"
)

// AccessLog writes one JSON line per request. It is safe for concurrent use
// and is kept across reloads while its settings stay the same.
//
// Buffered, lines collect in memory and go out in one write when the buffer
// is full or FlushInterval has passed since the last write, as nginx's
// access_log buffer= flush=: one goroutine per log does the timed flush,
// nothing per request. Unbuffered, each line is one write.
type AccessLog struct {
	output string
	limit  int // buffer size; 0 writes every line at once
	bufs   sync.Pool
	stop   chan struct{} // closed by Close to end the flusher
	done   chan struct{} // closed when the flusher has ended

	mu     sync.Mutex // guards the fields below
	w      io.Writer
	closer io.Closer // nil for stdout and stderr
	buf    []byte
	closed bool
}

// OpenAccessLog opens output: "stdout", "stderr", "off" (returns nil, nil)
// or a file path, created if missing and appended to. buffer and flush are
// the access_log settings of the same names.
func OpenAccessLog(output string, buffer int, flush time.Duration) (*AccessLog, error) {
	l := &AccessLog{output: output}
	switch output {
	case "off":
		return nil, nil
	case "", "stdout":
		l.w = os.Stdout
	case "stderr":
		l.w = os.Stderr
	default:
		f, err := openFile(output)
		if err != nil {
			return nil, err
		}
		l.w, l.closer = f, f
	}
	l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	if buffer > 0 && flush > 0 {
		l.limit = buffer
		l.buf = make([]byte, 0, buffer+4<<10)
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.flusher(flush)
	}
	return l, nil
}

// CheckAccessLog reports, without creating or opening anything, whether
// OpenAccessLog could open output: a file that exists must be a regular
// file palisade can write; a missing one needs a directory it can create
// files in. It answers `palisade validate`, as nginx -t checks its log
// files, with the error OpenAccessLog would give.
func CheckAccessLog(output string) error {
	switch output {
	case "off", "", "stdout", "stderr":
		return nil
	}
	fail := func(err error) error { return fmt.Errorf("cannot open %q: %w", output, err) }
	fi, err := os.Stat(output)
	switch {
	case err == nil && fi.IsDir():
		return fail(errors.New("is a directory"))
	case err == nil:
		if err := canWrite(output, false); err != nil {
			return fail(err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fail(pathErr(err))
	}
	dir := filepath.Dir(output)
	di, err := os.Stat(dir)
	switch {
	case err != nil:
		return fail(pathErr(err))
	case !di.IsDir():
		return fail(errors.New("not a directory: " + dir))
	}
	if err := canWrite(dir, true); err != nil {
		return fail(err)
	}
	return nil
}

// pathErr returns the cause inside a *fs.PathError, so that messages name
// the path once.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openFile opens the log file at path for appending, creating it if
// missing. The error names path once: `cannot open "/var/log/a.log":
// permission denied`.
func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open %q: %w", path, pathErr(err))
	}
	return f, nil
}

// flusher writes out what waits in the buffer every interval.
func (l *AccessLog) flusher(interval time.Duration) {
	defer close(l.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.flushLocked()
			l.mu.Unlock()
		}
	}
}

func (l *AccessLog) flushLocked() {
	if len(l.buf) == 0 {
		return
	}
	l.w.Write(l.buf)
	l.buf = l.buf[:0]
}

// NewAccessLog returns a log writing to w, for tests and embedding.
func NewAccessLog(w io.Writer) *AccessLog {
	l := &AccessLog{output: "writer", w: w}
	l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return l
}

// Output returns the output the log was opened with.
func (l *AccessLog) Output() string { return l.output }

// Reopen opens the output file again and switches to it, so that a
// rotation (rename, then signal) lands new lines in a new file. It does
// nothing for stdout and stderr.
func (l *AccessLog) Reopen() error {
	if l == nil || l.closer == nil {
		return nil
	}
	f, err := openFile(l.output)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	l.mu.Lock()
	l.flushLocked()
	old := l.closer
	l.w, l.closer = f, f
	l.mu.Unlock()
	return old.Close()
}

// Close writes out buffered lines and closes the output file, if the log
// owns one. Lines logged after Close are dropped.
func (l *AccessLog) Close() error {
	if l == nil {
		return nil
	}
	if l.stop != nil {
		l.mu.Lock()
		already := l.closed
		l.closed = true
		l.mu.Unlock()
		if !already {
			close(l.stop)
			<-l.done
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.flushLocked()
	if l.closer == nil {
		return nil
	}
	err := l.closer.Close()
	l.closer = nil
	return err
}

// Entry is what one access log line reports beyond the request State.
type Entry struct {
	Status int
	Bytes  int64
	End    time.Time
	// Reason, for a request the server refused before routing, names the
	// rule that refused it.
	Reason string
}

// Log writes the line for r, whose State st describes where it went. l may
// be nil (logging off).
func (l *AccessLog) Log(r *http.Request, st *middleware.State, e Entry) {
	if l == nil {
		return
	}
	if l.limit > 0 {
		l.mu.Lock()
		if !l.closed {
			l.buf = AppendLine(l.buf, r, st, e)
			if len(l.buf) >= l.limit {
				l.flushLocked()
			}
		}
		l.mu.Unlock()
		return
	}
	bp := l.bufs.Get().(*[]byte)
	b := AppendLine((*bp)[:0], r, st, e)
	l.mu.Lock()
	if !l.closed {
		l.w.Write(b)
	}
	l.mu.Unlock()
	*bp = b
	if cap(b) <= 64<<10 {
		l.bufs.Put(bp)
	}
}

// AppendLine appends the JSON line for one request, newline included.
func AppendLine(b []byte, r *http.Request, st *middleware.State, e Entry) []byte {
	b = append(b, `{"time":"`...)
	b = appendTime(b, e.End)
	b = append(b, `","request_id":`...)
	b = appendString(b, st.ID)
	b = append(b, `,"listener":`...)
	b = appendString(b, st.Listener)
	b = append(b, `,"client_ip":"`...)
	if st.ClientIP.IsValid() {
		b = st.ClientIP.AppendTo(b)
	}
	b = append(b, `","method":`...)
	b = appendString(b, r.Method)
	b = append(b, `,"host":`...)
	b = appendString(b, r.Host)
	b = append(b, `,"path":`...)
	b = appendString(b, r.URL.Path)
	if r.URL.RawQuery != "" {
		b = append(b, `,"query":`...)
		b = appendString(b, r.URL.RawQuery)
	}
	b = append(b, `,"proto":`...)
	b = appendString(b, r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, e.End.Sub(st.Start))
	b = append(b, `,"route":`...)
	b = appendString(b, st.Route)
	b = append(b, `,"upstream":`...)
	b = appendString(b, st.Upstream)
	b = append(b, `,"backend":`...)
	b = appendString(b, st.Backend)
	if st.Attempts > 1 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(st.Attempts), 10)
	}
	if st.CacheStatus != "" {
		b = append(b, `,"cache":`...)
		b = appendString(b, st.CacheStatus)
	}
	if ua := r.Header["User-Agent"]; len(ua) > 0 {
		b = append(b, `,"user_agent":`...)
		b = appendString(b, ua[0])
	}
	if st.Err != nil {
		b = append(b, `,"error":`...)
		b = appendString(b, st.Err.Error())
	}
	if e.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, e.Reason)
	}
	return append(b, "}\n"...)
}

const hex = "0123456789abcdef"

// stamp is the formatted UTC second of a log line's time, without the
// fraction: "2006-01-02T15:04:05".
type stamp struct {
	sec  int64
	text [19]byte
}

// lastStamp caches the second most lines of a busy log share, so a line
// costs a comparison and three digits instead of a calendar computation.
var lastStamp atomic.Pointer[stamp]

// appendTime appends t in UTC as RFC 3339 with milliseconds
// ("2006-01-02T15:04:05.000Z"), the format time.Time.AppendFormat would
// give, at a fraction of its cost.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	sec := t.Unix()
	st := lastStamp.Load()
	if st == nil || st.sec != sec {
		st = &stamp{sec: sec}
		t.Truncate(time.Second).AppendFormat(st.text[:0], "2006-01-02T15:04:05")
		lastStamp.Store(st)
	}
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, st.text[:]...)
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendMillis appends d as milliseconds with three decimals ("12.345"),
// rounded down to the microsecond; a negative d (a clock step) is 0.
func appendMillis(b []byte, d time.Duration) []byte {
	us := max(d.Microseconds(), 0)
	b = strconv.AppendInt(b, us/1000, 10)
	f := us % 1000
	return append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// appendString appends s as a JSON string, escaping quotes, backslashes and
// control characters and replacing invalid UTF-8, so a hostile header cannot
// break a line apart.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
