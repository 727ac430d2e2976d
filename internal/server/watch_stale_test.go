//go:build linux

package server

import (
	"net/http"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"palisade/internal/middleware"
)

// TestStaleHangupIgnored: the parker collects epoll events without its
// mutex and dispatches them later under it. If a watched connection ends
// in between and a new connection takes the same descriptor number and is
// watched in turn, the old hang-up must not be applied to the new
// connection: the generation in the event data tells them apart.
func TestStaleHangupIgnored(t *testing.T) {
	var target atomic.Int32
	target.Store(-1)
	caught := make(chan struct{})
	gate := make(chan struct{})
	var gated atomic.Bool
	setup := func(s *Server) {
		p, err := newParker(s)
		if err != nil {
			t.Fatalf("epoll: %v", err)
		}
		p.waitFn = func(fd uintptr) bool {
			ok := p.collect(fd)
			if !ok || gated.Load() {
				return ok
			}
			for _, ev := range p.events[:p.n] {
				if ev.Fd == target.Load() {
					gated.Store(true)
					close(caught)
					<-gate // the parker goroutine is preempted here
					break
				}
			}
			return ok
		}
		s.connWG.Add(1)
		s.parker.Store(p)
		go p.run()
	}

	type seen struct {
		fd        int32
		cancelled bool
	}
	watchedA, watchedB := make(chan int32, 1), make(chan int32, 1)
	releaseA := make(chan struct{})
	doneB := make(chan seen, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		sc := middleware.ServerConnFrom(r.Context())
		sc.WatchClient()
		fd := sc.(*conn).fd
		switch r.URL.Path {
		case "/a":
			watchedA <- fd
			<-releaseA
		case "/b":
			watchedB <- fd
			select {
			case <-r.Context().Done():
				doneB <- seen{fd, true}
			case <-time.After(1500 * time.Millisecond):
				doneB <- seen{fd, false}
				w.Write([]byte("ok"))
			}
		}
	}
	ts := startServerWith(t, defaultTestOptions(), h, setup)
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})

	a := ts.client(t)
	a.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
	fdA := <-watchedA
	target.Store(fdA)
	a.c.Close() // client A hangs up: EPOLLRDHUP for fdA
	select {
	case <-caught:
	case <-time.After(5 * time.Second):
		t.Fatal("the parker never saw client A hang up")
	}
	// Client B's socket is made now, so that it takes the lowest free
	// number (client A's) and the server's end of B gets fdA: Linux hands
	// out the lowest free descriptor. It is driven with system calls, as a
	// net.Conn would take more descriptors.
	bfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(bfd)
	// The handler of A returns (its backend answered just then), the
	// connection reads EOF and closes; the parker has not dispatched yet.
	close(releaseA)
	time.Sleep(200 * time.Millisecond)

	la := netip.MustParseAddrPort(ts.addr)
	if err := syscall.Connect(bfd, &syscall.SockaddrInet4{Port: int(la.Port()), Addr: la.Addr().As4()}); err != nil {
		t.Fatal(err)
	}
	if _, err := syscall.Write(bfd, []byte("GET /b HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	fdB := <-watchedB
	if fdB != fdA {
		t.Fatalf("the server's end of client B has descriptor %d, not client A's %d: the test's precondition failed (a descriptor was opened in between)", fdB, fdA)
	}
	close(gate) // the parker dispatches the event it collected for A
	got := <-doneB
	if got.cancelled {
		t.Errorf("client B (fd %d, still connected) had its request cancelled by client A's hang-up on the same descriptor number", got.fd)
	}
}
