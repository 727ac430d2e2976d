package server

import (
	"net/http"
	"testing"
	"time"

	"palisade/internal/middleware"
)

// TestInterruptSlot checks middleware.InterruptSlot on our connections:
// one function at a time, run once right after the request's context ends
// (here by Close), and reported as run to the ClearInterrupt that comes
// after.
func TestInterruptSlot(t *testing.T) {
	type result struct{ second, cleared, sawCtx, ran bool }
	registered := make(chan struct{})
	results := make(chan result, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		sc := middleware.ServerConnFrom(r.Context())
		if sc == nil {
			results <- result{}
			return
		}
		var res result
		interrupted := make(chan struct{})
		f := func() {
			res.sawCtx = r.Context().Err() != nil
			close(interrupted)
		}
		other := func() {}
		if !sc.SetInterrupt(&f) {
			t.Error("SetInterrupt on an empty slot = false")
		}
		res.second = sc.SetInterrupt(&other)
		close(registered)
		// Like the proxy, which only wakes through the interrupt: the
		// slot is cleared once the interrupt has run, not merely once the
		// context ended (cancelRequest runs it just after).
		select {
		case <-interrupted:
			res.ran = true
		case <-time.After(5 * time.Second):
		}
		res.cleared = sc.ClearInterrupt(&f)
		results <- res
	}
	ts := startServer(t, defaultTestOptions(), h)
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	select {
	case <-registered:
	case res := <-results:
		t.Fatalf("no ServerConn in the request context (%+v)", res)
	}
	ts.srv.Close()
	res := <-results
	if !res.ran {
		t.Fatal("the interrupt did not run when the connection was closed")
	}
	if !res.sawCtx {
		t.Error("the interrupt ran before the context ended")
	}
	if res.second {
		t.Error("a second SetInterrupt took the occupied slot")
	}
	if res.cleared {
		t.Error("ClearInterrupt after the interrupt ran = true, want false")
	}
}

// TestSetInterruptAfterCancel checks that the slot refuses a function once
// the context has ended, since nothing would run it.
func TestSetInterruptAfterCancel(t *testing.T) {
	got := make(chan bool, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		sc := middleware.ServerConnFrom(r.Context())
		<-r.Context().Done()
		f := func() {}
		got <- sc.SetInterrupt(&f)
	}
	ts := startServer(t, defaultTestOptions(), h)
	cl := ts.client(t)
	cl.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	for ts.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ts.srv.Close()
	if <-got {
		t.Error("SetInterrupt after the context ended = true, want false")
	}
}
