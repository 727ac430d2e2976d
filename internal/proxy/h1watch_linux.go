//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchEvents is how many events one epoll_wait of the close watcher
// returns at most.
const watchEvents = 64

// closeWatcher learns, as it happens, that a backend closed one of an
// H1Transport's connections, so that the pool never hands out a connection
// known to be dead and spends no system call per request finding out.
// nginx and HAProxy learn the same from their event loops.
//
// Every connection joins the watcher's own epoll instance once, at dial,
// for EPOLLRDHUP alone (EPOLLHUP and EPOLLERR come with it), one-shot: the
// backend's FIN or RST wakes the watcher once, responses arriving do not
// (their wake-ups carry EPOLLIN, which the registration does not ask for).
// The event marks the connection through h1Conn.peerGone and closes it at
// once if it is idle in its pool; a busy one is closed instead of pooled
// when its exchange ends. Closing a connection's socket removes it from
// the epoll set, so nothing is undone when a connection goes.
//
// An event names its connection by a registration id, never by the
// descriptor, whose number the kernel gives to the next socket once this
// one is closed: the id is looked up in conns, from which a connection is
// deleted when it is closed, so an event for a connection already gone
// (collected before its close, dispatched after) is dropped.
//
// One goroutine (run) waits for the epoll descriptor in the runtime
// poller, so no thread is parked in epoll_wait; Close ends it.
type closeWatcher struct {
	file *os.File // the epoll instance, registered with the runtime poller
	rc   syscall.RawConn
	epfd int
	done chan struct{} // closed when run returns

	mu     sync.Mutex
	closed bool               // close was called: register refuses
	nextID uint64             // the last registration's id
	conns  map[uint64]*h1Conn // registered and not yet closed nor reported

	// waits counts epoll_wait calls, for tests that check responses do
	// not wake the watcher.
	waits atomic.Uint64

	// Owned by run.
	events  [watchEvents]unix.EpollEvent
	n       int
	waitErr error
	waitFn  func(fd uintptr) bool
	gone    []*h1Conn
}

// newCloseWatcher creates the epoll instance of a watcher; the caller
// starts run.
func newCloseWatcher() (*closeWatcher, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor passed to NewFile joins the runtime poller;
	// SetReadDeadline fails on one that did not.
	f := os.NewFile(uintptr(epfd), "backend-close-watcher")
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll file not pollable: %w", err)
	}
	w := &closeWatcher{file: f, rc: rc, epfd: epfd, done: make(chan struct{}), conns: make(map[uint64]*h1Conn)}
	w.waitFn = w.collect
	return w, nil
}

// register adds c's socket to the epoll instance. It reports false when c
// cannot be watched (a socket that is not TCP, a watcher closed or failed,
// epoll_ctl refusing it); c then relies on the pool's probe. Called once,
// at dial, before c is shared.
func (w *closeWatcher) register(c *h1Conn) bool {
	if c.rc == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	id := w.nextID + 1
	ev := unix.EpollEvent{
		Events: unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	var cerr error
	// Inside Control, so that the descriptor cannot be closed under us;
	// under mu, so that run cannot look the event up before c is in conns.
	err := c.rc.Control(func(fd uintptr) {
		cerr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		return false
	}
	w.nextID = id
	w.conns[id] = c
	c.watcher, c.watchID = w, id
	return true
}

// forget drops the registration of c, which is being closed: an event for
// it still in flight finds nothing. Closing the socket removes it from the
// epoll set; no epoll_ctl is needed.
func (w *closeWatcher) forget(c *h1Conn) {
	w.mu.Lock()
	delete(w.conns, c.watchID)
	w.mu.Unlock()
}

// close ends run and closes the epoll instance, waiting for both. The
// transport's connections have been closed or are being closed.
func (w *closeWatcher) close() {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	clear(w.conns)
	w.mu.Unlock()
	if !already {
		// Wakes run's wait in the runtime poller; the descriptor itself
		// is closed once run's Read has returned.
		w.file.Close()
	}
	<-w.done
}

// run is the watcher's goroutine: it waits for events and dispatches them
// until close. If epoll_wait fails, which only a bug explains, every
// connection it watched is reported gone (they are closed when next
// touched, and their successors are dialled unwatched, relying on the
// probe) and run returns.
func (w *closeWatcher) run(failed func(error)) {
	defer close(w.done)
	for {
		err := w.rc.Read(w.waitFn)
		if err == nil {
			err = w.waitErr
		}
		w.mu.Lock()
		closed := w.closed
		if err != nil && !closed {
			w.closed = true
			for id, c := range w.conns {
				w.gone = append(w.gone, c)
				delete(w.conns, id)
			}
		}
		w.mu.Unlock()
		if closed {
			return
		}
		if err != nil {
			failed(err)
			w.reportGone()
			w.file.Close()
			return
		}
		w.dispatch()
	}
}

// collect is the RawConn.Read callback of run: it takes the pending events
// without waiting, and returns false (wait for the poller) when there are
// none.
func (w *closeWatcher) collect(fd uintptr) bool {
	for {
		w.waits.Add(1)
		n, err := unix.EpollWait(int(fd), w.events[:], 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			w.n, w.waitErr = 0, os.NewSyscallError("epoll_wait", err)
			return true
		}
		w.n, w.waitErr = n, nil
		return n > 0
	}
}

// dispatch reports the connections named by the events collected.
func (w *closeWatcher) dispatch() {
	w.mu.Lock()
	for _, ev := range w.events[:w.n] {
		id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
		if c := w.conns[id]; c != nil {
			// One-shot: the registration reports nothing more.
			delete(w.conns, id)
			w.gone = append(w.gone, c)
		}
	}
	w.n = 0
	w.mu.Unlock()
	w.reportGone()
}

// reportGone tells each connection's pool that its backend closed it.
// Without mu: the pool's lock comes first when a pool closes a connection
// and calls forget.
func (w *closeWatcher) reportGone() {
	for i, c := range w.gone {
		c.pool.peerGone(c)
		w.gone[i] = nil
	}
	w.gone = w.gone[:0]
}
