//go:build linux

package server

import (
	"container/heap"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// initRaw keeps the raw connection and file descriptor of a socket, to
// wait for requests without a buffer and park the connection while idle.
// A TLS connection keeps the descriptor alone: tls.Conn may hold records
// it read ahead, so its socket's readability says nothing about a next
// request and it is never parked nor spliced, but a hang-up on the socket
// is a hang-up all the same, and WatchClient watches for it.
func (c *conn) initRaw() {
	if tc, ok := c.nc.(*tls.Conn); ok {
		if sc, ok := tc.NetConn().(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) { c.fd = int32(fd) })
			}
		}
		return
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	if err := rc.Control(func(fd uintptr) { c.fd = int32(fd) }); err != nil {
		return
	}
	c.rc = rc
	c.idleFn = c.tryRead
	c.nowFn = c.tryReadNow
	c.serveFn = c.serve
}

// parkAfter is how long a connection waits for its next request on its
// own goroutine before it is parked. Under load the next request comes
// within a moment and waiting in the runtime poller costs least (parking
// every time costs an epoll_ctl, the parker's hand-off and a new
// goroutine: a fifth to a quarter of a bare server's keep-alive
// throughput); a connection idle longer gives its goroutine up.
const parkAfter = time.Second

// readIdle waits for the first bytes of a request and reads them into a
// fresh pooled buffer. With readNow it first reads without waiting (the
// caller expects bytes there). Then it waits on its goroutine, in the
// runtime poller, for up to parkAfter (not at all when woken: the
// connection was idle long already), then parks the connection: it
// returns errParked, and the caller's goroutine must end without touching
// c. Only when the parker refuses the connection does it go on waiting on
// its goroutine. No wait holds a buffer: tryRead takes one only for the
// moment of a non-blocking read.
func (c *conn) readIdle(readNow, woken bool) error {
	if c.rc == nil {
		if err := c.armWait(); err != nil {
			return err
		}
		return c.readIdlePortable()
	}
	if readNow {
		c.idleN, c.idleErr, c.idleDone = 0, nil, false
		// Control, not Read: it ignores the read deadline, which Shutdown
		// may have moved into the past or which may be left from the last
		// head.
		if err := c.rc.Control(c.nowFn); err != nil {
			return err
		}
		if c.idleDone {
			return c.idleResult()
		}
	}
	if !woken && c.srv.briefWait() {
		err := c.waitBriefly()
		c.srv.briefWaits.Add(-1)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if !c.waitDL.IsZero() && !time.Now().Before(c.waitDL) {
			return err // the idle or first-request timeout
		}
		if c.srv.inShutdown.Load() {
			return http.ErrServerClosed
		}
	}
	if p := c.srv.parkerFor(); p != nil && p.park(c) {
		return errParked
	}
	if err := c.armWait(); err != nil {
		return err
	}
	c.idleN, c.idleErr = 0, nil
	if err := c.rc.Read(c.idleFn); err != nil {
		return err
	}
	return c.idleResult()
}

// briefWait reports whether a connection may wait for its next request on
// its goroutine before parking, counting it in s.briefWaits if so. At most
// 128 per core do: enough for every connection of a busy server to skip
// parking between quick requests, while an idle crowd (10,000 keep-alive
// connections) parks at once instead of holding a goroutine stack each
// for parkAfter.
func (s *Server) briefWait() bool {
	if s.briefWaits.Add(1) > s.maxBriefWaits {
		s.briefWaits.Add(-1)
		return false
	}
	return true
}

// waitBriefly waits on c's goroutine for the next request's first bytes
// until parkAfter from now or c.waitDL, whichever is sooner. A read
// deadline already set up to parkAfter/4 earlier is kept, to spare a timer
// update per request; the deadline is set before Shutdown is checked, as
// Shutdown wakes idle connections by moving it. It returns nil with bytes
// read, os.ErrDeadlineExceeded when the wait ended.
func (c *conn) waitBriefly() error {
	want := time.Now().Add(parkAfter)
	if !c.waitDL.IsZero() && c.waitDL.Before(want) {
		want = c.waitDL
	}
	if c.rdl.IsZero() || c.rdl.After(want) || want.Sub(c.rdl) > parkAfter/4 {
		c.setReadDeadline(want)
	}
	if c.srv.inShutdown.Load() {
		return http.ErrServerClosed
	}
	c.idleN, c.idleErr = 0, nil
	if err := c.rc.Read(c.idleFn); err != nil {
		return err
	}
	return c.idleResult()
}

// idleResult is the outcome of a completed tryRead.
func (c *conn) idleResult() error {
	if c.idleErr != nil {
		return c.idleErr
	}
	if c.idleN == 0 {
		return io.EOF
	}
	return nil
}

// tryReadNow is the syscall.RawConn.Control callback of readIdle.
func (c *conn) tryReadNow(fd uintptr) { c.idleDone = c.tryRead(fd) }

// tryRead is the syscall.RawConn.Read callback: it returns false to make
// the poller wait, true when it read bytes, met EOF or failed.
func (c *conn) tryRead(fd uintptr) bool {
	blk := c.srv.getBlock()
	for {
		n, err := syscall.Read(int(fd), blk[:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.srv.putBlock(blk)
			return false
		case err != nil:
			c.srv.putBlock(blk)
			c.idleErr = os.NewSyscallError("read", err)
			return true
		case n == 0:
			c.srv.putBlock(blk)
			return true
		}
		c.rblk, c.rbuf = blk, blk[:]
		c.rpos, c.rend = 0, n
		c.idleN = n
		return true
	}
}

// leaveEpoll removes c's socket from the parker's epoll instance before the
// socket is closed or given away, so that its number, reused later, is not
// found there.
func (c *conn) leaveEpoll() {
	if !c.inEpoll {
		return
	}
	if p := c.srv.parker.Load(); p != nil {
		p.forget(c)
	}
	c.inEpoll = false
}

// parkEvents is how many readiness events one epoll_wait returns at most.
const parkEvents = 128

// parker holds the idle connections of a Server without a goroutine each,
// so that an idle connection costs its conn struct and socket, not a stack.
// A parked connection is owned by the parker: it is in no goroutine's hands
// and not in Server.active, but still counts in Server.connWG. One
// goroutine (run) waits for the parked sockets with its own epoll instance,
// armed with EPOLLONESHOT so that each park yields at most one wake-up.
// When a socket becomes readable (or hung up) the parker starts a new
// goroutine serving its connection; when the connection's wait deadline
// passes, the parker closes it. The deadlines are kept in a min-heap, and
// the epoll file descriptor itself is waited for by the runtime poller, so
// that the deadline of the earliest one is an ordinary read deadline and
// the parker never blocks a thread in epoll_wait.
type parker struct {
	srv  *Server
	file *os.File // the epoll instance, registered with the runtime poller
	rc   syscall.RawConn

	mu        sync.Mutex
	closed    bool            // Shutdown or Close: park refuses, run closes every conn
	epfd      int             // -1 once the epoll instance is closed
	gen       int32           // the last registration's generation (nextGen)
	byFD      map[int32]*conn // parked
	watched   map[int32]*conn // serving a request, watched for a hang-up
	deadlines parkHeap        // the parked conns with a wait deadline
	waitUntil time.Time       // read deadline of file: the earliest wait deadline

	// Owned by run.
	events  [parkEvents]unix.EpollEvent
	n       int
	waitErr error
	waitFn  func(fd uintptr) bool
	ready   []*conn
	expired []*conn
}

// WatchClient implements middleware.ClientWatcher: the socket joins the
// parker's epoll instance for EPOLLRDHUP alone (EPOLLHUP and EPOLLERR come
// with it), one-shot, and a hang-up before the request ends cancels the
// connection's context, so that the proxy stops waiting on the backend and
// logs 499. Called on the connection's goroutine, while a request is
// being served; serveRequest undoes it when the handler returns.
func (c *conn) WatchClient() {
	if c.fd < 0 || c.watching || c.hijacked {
		return
	}
	p := c.srv.parkerFor()
	if p == nil {
		return
	}
	c.watching = true
	p.watch(c)
}

// unwatch ends the watch of the request that has just ended. The epoll
// registration stays armed: an event for a socket that is neither parked
// nor watched is dropped, and parking re-arms it for reading.
func (c *conn) unwatch() {
	c.watching = false
	if p := c.srv.parker.Load(); p != nil {
		p.mu.Lock()
		if c.watched {
			delete(p.watched, c.fd)
			c.watched = false
		}
		p.mu.Unlock()
	}
}

func (p *parker) watch(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	op := unix.EPOLL_CTL_MOD
	if !c.inEpoll {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: c.fd, Pad: p.nextGen(c)}
	if err := unix.EpollCtl(p.epfd, op, int(c.fd), &ev); err != nil {
		return
	}
	c.inEpoll = true
	c.watched = true
	p.watched[c.fd] = c
}

// parkerFor returns the Server's parker, starting it at the first call, or
// nil when the server is shutting down or has no parker (epoll failed).
func (s *Server) parkerFor() *parker {
	if p := s.parker.Load(); p != nil {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.parker.Load(); p != nil {
		return p
	}
	if s.noParker || s.inShutdown.Load() {
		return nil
	}
	p, err := newParker(s)
	if err != nil {
		s.noParker = true
		s.log.Warn("idle connections keep their goroutine", "err", err)
		return nil
	}
	// The caller is a connection goroutine, itself counted in connWG, so
	// the count is not zero here and Add may race with a Wait.
	s.connWG.Add(1)
	s.parker.Store(p)
	go p.run()
	return p
}

func newParker(s *Server) (*parker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor passed to NewFile joins the runtime poller.
	f := os.NewFile(uintptr(epfd), "idle-parker")
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll file not pollable: %w", err)
	}
	p := &parker{srv: s, file: f, rc: rc, epfd: epfd, byFD: make(map[int32]*conn), watched: make(map[int32]*conn)}
	p.waitFn = p.collect
	return p, nil
}

// park hands c to the parker until its socket is readable or c.waitDL
// passes. It reports false when c must wait on its own goroutine: the
// parker is closed or epoll refused the socket. On true, c belongs to the
// parker and the caller must not touch it again.
func (p *parker) park(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	// Armed under mu: run cannot look the event up before c is in byFD.
	op := unix.EPOLL_CTL_MOD
	if !c.inEpoll {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: c.fd, Pad: p.nextGen(c)}
	if err := unix.EpollCtl(p.epfd, op, int(c.fd), &ev); err != nil {
		return false
	}
	c.inEpoll = true
	p.srv.untrack(c)
	p.byFD[c.fd] = c
	c.heapIdx = -1
	if c.waitDL.IsZero() {
		return true
	}
	heap.Push(&p.deadlines, c)
	if p.waitUntil.IsZero() || c.waitDL.Before(p.waitUntil) {
		// An earlier deadline than run waits for (IdleTimeout lowered, or
		// a first request's ReadHeaderTimeout): wake it sooner.
		p.waitUntil = c.waitDL
		p.file.SetReadDeadline(c.waitDL)
	}
	return true
}

// nextGen gives c's next epoll registration a generation number, carried
// in the event data so that dispatch can tell a stale event. Called with
// mu held.
func (p *parker) nextGen(c *conn) int32 {
	p.gen++
	c.epGen = p.gen
	return p.gen
}

// forget removes c's socket from the epoll instance, and from the watched
// ones. c is not parked.
func (p *parker) forget(c *conn) {
	p.mu.Lock()
	if p.epfd >= 0 {
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	}
	if c.watched {
		delete(p.watched, c.fd)
		c.watched = false
	}
	p.mu.Unlock()
}

// close makes the parker close every parked connection and end. It does
// not wait: run counts in connWG.
func (p *parker) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.file.SetReadDeadline(aLongTimeAgo())
	}
	p.mu.Unlock()
}

// run is the parker's goroutine.
func (p *parker) run() {
	defer p.srv.connWG.Done()
	for p.sweep() {
		err := p.rc.Read(p.waitFn)
		if err == nil {
			err = p.waitErr
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			p.srv.log.Error("idle parker failed; closing idle connections", "err", err)
			p.mu.Lock()
			p.closed = true
			p.mu.Unlock()
			continue
		}
		p.dispatch()
	}
}

// collect is the RawConn.Read callback of run: it takes the pending events
// without waiting, and returns false (wait for the poller) when there are
// none.
func (p *parker) collect(fd uintptr) bool {
	for {
		n, err := unix.EpollWait(int(fd), p.events[:], 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			p.n, p.waitErr = 0, os.NewSyscallError("epoll_wait", err)
			return true
		}
		p.n, p.waitErr = n, nil
		return n > 0
	}
}

// dispatch hands each connection whose socket became ready back to a new
// goroutine, tracked again by the Server.
func (p *parker) dispatch() {
	p.mu.Lock()
	if p.closed {
		// sweep closes them all.
		p.mu.Unlock()
		return
	}
	for _, ev := range p.events[:p.n] {
		// An event names a descriptor, whose number a closed connection's
		// successor may have taken since it was collected: the generation
		// in its data must be that of the registration in force.
		c := p.byFD[ev.Fd]
		if c != nil && c.epGen != ev.Pad {
			continue
		}
		if c == nil {
			if c = p.watched[ev.Fd]; c != nil && c.epGen == ev.Pad {
				// The client hung up while its request was served.
				// Under mu, so c is still in that request (unwatch and
				// forget take mu): its context is the right one.
				delete(p.watched, ev.Fd)
				c.watched = false
				c.gone.Store(true)
				c.cancelRequest()
			}
			continue
		}
		delete(p.byFD, ev.Fd)
		if c.heapIdx >= 0 {
			heap.Remove(&p.deadlines, c.heapIdx)
		}
		c.woken = true
		p.ready = append(p.ready, c)
	}
	p.n = 0
	if len(p.ready) > 0 {
		// Tracked before mu is released, so that a Close that finds the
		// parker closed finds these in Server.active.
		s := p.srv
		s.mu.Lock()
		for _, c := range p.ready {
			s.active[c] = struct{}{}
		}
		s.mu.Unlock()
	}
	p.mu.Unlock()
	for i, c := range p.ready {
		go c.serveFn()
		p.ready[i] = nil
	}
	p.ready = p.ready[:0]
}

// sweep closes the connections whose wait deadline has passed and sets the
// file's read deadline to the next one. Once the parker is closed it closes
// every parked connection and the epoll instance, and reports false.
func (p *parker) sweep() bool {
	p.mu.Lock()
	if p.closed {
		for _, c := range p.byFD {
			p.expired = append(p.expired, c)
		}
		clear(p.byFD)
		p.deadlines = nil
		p.mu.Unlock()
		p.closeExpired()
		p.mu.Lock()
		p.epfd = -1
		p.mu.Unlock()
		p.file.Close()
		return false
	}
	now := time.Now()
	for len(p.deadlines) > 0 && !p.deadlines[0].waitDL.After(now) {
		c := heap.Pop(&p.deadlines).(*conn)
		delete(p.byFD, c.fd)
		p.expired = append(p.expired, c)
	}
	var next time.Time
	if len(p.deadlines) > 0 {
		next = p.deadlines[0].waitDL
	}
	switch {
	case next.IsZero() && p.waitUntil.After(now):
		// Nothing to expire: a deadline still ahead only costs a spurious
		// wake-up, and keeping it spares two timer updates when the next
		// connection parks (one connection, ping-pong).
	case !next.Equal(p.waitUntil):
		p.waitUntil = next
		p.file.SetReadDeadline(next)
	}
	p.mu.Unlock()
	p.closeExpired()
	return true
}

// closeExpired closes the connections sweep took from the parker, as their
// goroutine would on a read timeout.
func (p *parker) closeExpired() {
	for i, c := range p.expired {
		c.exit()
		p.expired[i] = nil
	}
	p.expired = p.expired[:0]
}

// parkHeap orders parked connections by wait deadline; each conn knows its
// index.
type parkHeap []*conn

func (h parkHeap) Len() int           { return len(h) }
func (h parkHeap) Less(i, j int) bool { return h[i].waitDL.Before(h[j].waitDL) }
func (h parkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}

func (h *parkHeap) Push(x any) {
	c := x.(*conn)
	c.heapIdx = len(*h)
	*h = append(*h, c)
}

func (h *parkHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIdx = -1
	return c
}
