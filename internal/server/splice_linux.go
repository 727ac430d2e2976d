//go:build linux

package server

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"palisade/internal/middleware"
)

// pipeSize is the capacity of a splice pipe (Linux's default: 16 pages),
// so also the most one splice into it moves.
const pipeSize = 64 << 10

// splicePipe is a pipe that carries bytes between two sockets inside the
// kernel. It is empty whenever it is in the pool. It also holds the state
// of the splice in progress and its syscall.RawConn callbacks, made once
// per pipe, so that a splice allocates nothing.
type splicePipe struct {
	r, w    int
	cleanup runtime.Cleanup

	want, inPipe, moved int
	sysErr              error
	fillFn, drainFn     func(fd uintptr) bool
}

// fill moves up to want bytes from the socket fd into the pipe.
func (p *splicePipe) fill(fd uintptr) bool {
	return spliceStep(int(fd), p.w, p.want, &p.moved, &p.sysErr)
}

// drain moves what the pipe holds to the socket fd.
func (p *splicePipe) drain(fd uintptr) bool {
	return spliceStep(p.r, int(fd), p.inPipe, &p.moved, &p.sysErr)
}

// pipes holds empty splice pipes; a pipe the GC drops is closed by its
// cleanup.
var pipes = sync.Pool{New: func() any {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil
	}
	p := &splicePipe{r: fds[0], w: fds[1]}
	p.fillFn, p.drainFn = p.fill, p.drain
	p.cleanup = runtime.AddCleanup(p, closePipe, fds)
	return p
}}

// maxPipes bounds the pipes in use at once (two descriptors each), as
// HAProxy's maxpipes does: a splice beyond it declines and the body is
// copied. pipesInUse counts them.
const maxPipes = 1024

var pipesInUse atomic.Int32

func closePipe(fds [2]int) {
	unix.Close(fds[0])
	unix.Close(fds[1])
}

var _ middleware.Splicer = (*response)(nil)

// Splice implements middleware.Splicer: it sends the head and buffered
// body, then moves n body bytes from src to the client's socket through a
// pipe, waiting for either socket in the runtime poller under its own
// deadline (src's as its owner set it, the client's WriteTimeout per move
// as for any write). It declines, having done nothing, unless the client
// connection is a plain socket and the response is framed by a
// Content-Length with room for n more bytes.
func (w *response) Splice(src syscall.RawConn, n int64) (int64, bool, error) {
	if w.hijacked {
		return 0, false, nil
	}
	if !w.wroteHeader {
		w.WriteHeader(200)
	}
	c := w.c
	if c.rc == nil || w.isHEAD || w.bodyRefused || !w.framed || w.chunked || w.declared < 0 ||
		w.written+n > w.declared || c.werr != nil || n <= 0 {
		return 0, false, nil
	}
	if pipesInUse.Add(1) > maxPipes {
		pipesInUse.Add(-1)
		return 0, false, nil
	}
	defer pipesInUse.Add(-1)
	p, _ := pipes.Get().(*splicePipe)
	if p == nil {
		return 0, false, nil
	}
	if err := c.flush(); err != nil {
		pipes.Put(p)
		return 0, true, err
	}
	written, inPipe, err := c.splice(src, p, n)
	w.written += written
	if inPipe == 0 {
		pipes.Put(p)
	} else {
		// Bytes stuck in the pipe: it cannot be reused.
		p.cleanup.Stop()
		closePipe([2]int{p.r, p.w})
	}
	return written, true, err
}

// splice moves n bytes from src through p to the client. It returns what
// reached the client, what is left in the pipe after a failure, and the
// error: a client one is recorded as a failed write.
func (c *conn) splice(src syscall.RawConn, p *splicePipe, n int64) (written int64, inPipe int, err error) {
	defer func() { p.sysErr = nil }()
	for written < n {
		p.want = int(min(n-written, pipeSize))
		p.moved, p.sysErr = 0, nil
		if err := src.Read(p.fillFn); err != nil {
			return written, 0, err
		}
		if p.sysErr != nil {
			return written, 0, os.NewSyscallError("splice", p.sysErr)
		}
		if p.moved == 0 {
			return written, 0, io.ErrUnexpectedEOF
		}
		p.inPipe = p.moved
		for p.inPipe > 0 {
			c.setWriteTimeout(c.opts.WriteTimeout, time.Now())
			p.moved, p.sysErr = 0, nil
			err := c.rc.Write(p.drainFn)
			if err == nil && p.sysErr != nil {
				err = os.NewSyscallError("splice", p.sysErr)
			}
			if err != nil {
				return written, p.inPipe, c.writeFailed(err)
			}
			p.inPipe -= p.moved
			written += int64(p.moved)
		}
	}
	return written, 0, nil
}

// spliceStep is one non-blocking splice from in to out of at most max
// bytes, as a syscall.RawConn callback: it returns false to wait for the
// socket when the call would block.
func spliceStep(in, out, max int, moved *int, sysErr *error) bool {
	for {
		m, err := unix.Splice(in, nil, out, nil, max, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		case err != nil:
			*sysErr = err
		default:
			*moved = int(m)
		}
		return true
	}
}
