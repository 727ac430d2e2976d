package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server process on loopback that a test owns: no
// persistence, no config file, a port of its own. Kill, Restart, Pause and
// Resume let a test play the outages a store must survive; the process is
// killed when the test ends, whatever state it is in.
type Redis struct {
	// Addr is the server's host:port on 127.0.0.1; it stays the same
	// across Restart.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	port int

	mu     sync.Mutex // guards the fields below and serialises the methods
	cmd    *exec.Cmd
	exited <-chan error // receives cmd.Wait's result
}

// redisStartTimeout bounds how long a started redis-server may take to
// answer PING.
const redisStartTimeout = 10 * time.Second

// StartRedis starts redis-server on a free loopback port and waits until it
// answers PING. A machine without redis-server fails the test (it is not
// skipped): scripts/test installs Debian's redis-server package.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: redis-server not found in PATH: install Debian's redis-server package (apt-get install redis-server), which scripts/test does when it is missing")
	}
	r := &Redis{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(r.stop)
	// A free port is found by listening on :0 and closing; another process
	// may take it before redis-server binds, so a failed start retries on
	// a new port.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: redis: find a free port: %v", err)
		}
		r.port = port
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		r.mu.Lock()
		lastErr = r.startLocked()
		r.mu.Unlock()
		if lastErr == nil {
			return r
		}
	}
	t.Fatalf("testenv: redis-server did not start: %v", lastErr)
	return nil
}

// Kill ends the server with SIGKILL and waits for it to exit, as a crash
// would: clients see refused connections on its port.
func (r *Redis) Kill() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killLocked()
}

// Restart starts a new, empty server on the same port after Kill and waits
// until it answers PING.
func (r *Redis) Restart() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.t.Fatalf("testenv: redis Restart: the server at %s is still running; Kill it first", r.Addr)
	}
	// The port was ours a moment ago; a bind failure is transient (or
	// another process took it, and the retries give up).
	var err error
	for range 5 {
		if err = r.startLocked(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("testenv: redis Restart on %s: %v", r.Addr, err)
}

// Pause stops the server with SIGSTOP: connections open and commands are
// sent, but nothing is answered until Resume.
func (r *Redis) Pause() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signalLocked(syscall.SIGSTOP)
}

// Resume continues a paused server with SIGCONT.
func (r *Redis) Resume() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signalLocked(syscall.SIGCONT)
}

func (r *Redis) signalLocked(sig syscall.Signal) {
	if r.cmd == nil {
		r.t.Fatalf("testenv: redis: signal %v: the server at %s is not running", sig, r.Addr)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("testenv: redis: signal %v: %v", sig, err)
	}
}

// startLocked runs redis-server on r.port and waits for PING. On failure
// the process is gone and the error carries its output.
func (r *Redis) startLocked() error {
	out := &lockedBuffer{}
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--daemonize", "no",
		"--logfile", "",
		"--loglevel", "warning",
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(redisStartTimeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on port %d exited (%v): %s", r.port, err, out.String())
		default:
		}
		// The server is ours only if it says so: after a failed bind,
		// another process's server may answer on the port.
		if pid, err := serverPID(r.Addr); err == nil && pid == cmd.Process.Pid {
			r.cmd, r.exited = cmd, exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", r.port, redisStartTimeout, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *Redis) killLocked() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill() // SIGKILL ends a stopped process too.
	<-r.exited
	r.cmd = nil
}

func (r *Redis) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killLocked()
}

// serverPID asks the server at addr for its process ID (INFO server) on a
// new connection.
func serverPID(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(head, "$"), "\r\n"))
	if !strings.HasPrefix(head, "$") || err != nil {
		return 0, fmt.Errorf("INFO answered %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("INFO server has no process_id")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
