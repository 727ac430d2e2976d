package proxy

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// TestExchangeClearLeavesNothing is a regression test for a recycled
// exchange carrying state into the next request: clear left rtt as the
// last request set it. After a request that used every feature of the
// exchange (a replayed body, a sticky pin, a try), every field but those
// that are the exchange's own machinery must be as a new exchange has it.
func TestExchangeClearLeavesNothing(t *testing.T) {
	be := newHitBackend(t, "a", nil)
	rp := retryOn503()
	tg := retryingTarget(t, config.Upstream{}, rp, generous, memberList(be.addr()))
	tg.Sticky = NewSticky(config.Sticky{Cookie: "pin", Path: "/"}, nil)
	h := New(tg, Options{}, nil).(*handler)

	ex := newExchange(h)
	r := httptest.NewRequest("PUT", "/x?y=1", strings.NewReader("hello"))
	r.Header.Set("Connection", "upgrade")
	r.Header.Set("Upgrade", "websocket")
	ex.reset(httptest.NewRecorder(), r, &middleware.State{})
	if err := ex.prepare(); err != nil {
		t.Fatal(err)
	}
	resp, err := ex.roundTrip()
	if err != nil {
		t.Fatalf("roundTrip: %v", err)
	}
	if !ex.replayOn || ex.stick == nil || ex.rtt == 0 || ex.upgrade == "" {
		t.Fatalf("the request did not exercise the exchange (replayOn %v, stick %v, rtt %v, upgrade %q)", ex.replayOn, ex.stick, ex.rtt, ex.upgrade)
	}
	ex.respond(resp)
	ex.clear()

	// Machinery kept across requests on purpose: its own buffers, pools
	// and bound funcs. Each is checked to hold no request below.
	keep := map[string]bool{"h": true, "out": true, "hdr": true, "tried": true, "rest": true,
		"getBody": true, "ownBody": true, "replay": true, "mu": true}
	v := reflect.ValueOf(ex).Elem()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if keep[name] {
			continue
		}
		if !v.Field(i).IsZero() {
			t.Errorf("after clear, exchange.%s is not zero: state leaks into the next request", name)
		}
	}
	if len(ex.hdr) != 0 || len(ex.tried) != 0 || len(ex.rest) != 0 {
		t.Errorf("after clear, hdr, tried, rest = %d, %d, %d entries, want none", len(ex.hdr), len(ex.tried), len(ex.rest))
	}
	for _, b := range ex.tried[:cap(ex.tried)] {
		if b != nil {
			t.Errorf("after clear, tried's array still holds %s", b.Addr)
		}
	}
	if ex.ownBody.rc != nil || ex.replay.src != nil || ex.replay.buf != nil {
		t.Errorf("after clear, a body wrapper still holds the request body")
	}
	o := ex.out
	if o.URL != nil || o.Header != nil || o.Body != nil || o.GetBody != nil || o.Method != "" || o.Host != "" {
		t.Errorf("after clear, the outbound request still holds the last one's fields")
	}
}
