//go:build linux

package server

import (
	"net/http"
	"sync/atomic"
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
			t.Skip(err)
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
	// The handler of A returns (its backend answered just then), the
	// connection reads EOF and closes; the parker has not dispatched yet.
	close(releaseA)
	time.Sleep(200 * time.Millisecond)

	b := ts.client(t)
	b.send("GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
	fdB := <-watchedB
	if fdB != fdA {
		t.Skipf("descriptor not reused (A %d, B %d)", fdA, fdB)
	}
	close(gate) // the parker dispatches the event it collected for A
	got := <-doneB
	if got.cancelled {
		t.Errorf("client B (fd %d, still connected) had its request cancelled by client A's hang-up on the same descriptor number", got.fd)
	}
}
