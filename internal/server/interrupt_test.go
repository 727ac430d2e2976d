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
	type result struct{ second, cleared, ctxDone bool }
	ran := make(chan bool, 1)
	registered := make(chan struct{})
	results := make(chan result, 1)
	h := func(w http.ResponseWriter, r *http.Request) {
		sc := middleware.ServerConnFrom(r.Context())
		if sc == nil {
			results <- result{}
			return
		}
		f := func() { ran <- r.Context().Err() != nil }
		other := func() {}
		if !sc.SetInterrupt(&f) {
			t.Error("SetInterrupt on an empty slot = false")
		}
		second := sc.SetInterrupt(&other)
		close(registered)
		<-r.Context().Done()
		results <- result{second: second, cleared: sc.ClearInterrupt(&f), ctxDone: true}
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
	select {
	case sawCtx := <-ran:
		if !sawCtx {
			t.Error("the interrupt ran before the context ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the interrupt did not run when the connection was closed")
	}
	res := <-results
	if res.second {
		t.Error("a second SetInterrupt took the occupied slot")
	}
	if res.cleared {
		t.Error("ClearInterrupt after the interrupt ran = true, want false")
	}
}
