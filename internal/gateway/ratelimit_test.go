package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// The rate-limit middleware (internal/ratelimit) end to end: a gateway
// from YAML in front of a loopback backend.

func startLimited(t *testing.T, zones, mw string) *harness {
	t.Helper()
	addr := testenv.Backend(t, nameHandler("app")).Listener.Addr().String()
	return start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners:
  - {name: web, address: "127.0.0.1:0"}
%s
routes:
  - {name: app, match: {path_prefix: /}, middlewares: [%s], upstream: app}
upstreams:
  - {name: app, backends: [{address: %q}]}
`, zones, mw, addr))
}

// TestRateLimitedKeyRefusedWhileAnotherServed: the key over its limit gets
// 429 with Retry-After and the RateLimit fields, while another key is
// served.
func TestRateLimitedKeyRefusedWhileAnotherServed(t *testing.T) {
	h := startLimited(t, "", `{kind: ratelimit, rate: 1/m, burst: 2, key: "header:X-Api-Key"}`)
	for i := range 2 {
		r := do(t, h, "GET", "/", "X-Api-Key", "hog")
		if r.status != 200 || r.body != "app" {
			t.Fatalf("request %d of key hog = %d %q, want 200 app", i, r.status, r.body)
		}
		if v := r.header.Get("RateLimit"); v != "" {
			t.Errorf("allowed response carries RateLimit %q, want none with headers: denied", v)
		}
	}
	r := do(t, h, "GET", "/", "X-Api-Key", "hog")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("third request of key hog = %d, want 429", r.status)
	}
	// 1/m: the next request is allowed in 60s (a little less, as time
	// has passed since the first).
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 59 || ra > 60 {
		t.Errorf("Retry-After = %q, want 59 or 60", r.header.Get("Retry-After"))
	}
	if got, want := r.header.Get("RateLimit-Policy"), `"app";q=1;w=60`; got != want {
		t.Errorf("RateLimit-Policy = %q, want %q", got, want)
	}
	if got, want := r.header.Get("RateLimit"), fmt.Sprintf(`"app";r=0;t=%d`, ra); got != want {
		t.Errorf("RateLimit = %q, want %q (t equal to Retry-After)", got, want)
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("429 has no X-Request-Id")
	}
	if r := do(t, h, "GET", "/", "X-Api-Key", "polite"); r.status != 200 {
		t.Errorf("key polite = %d, want 200 while hog is limited", r.status)
	}
}

func TestRateLimitHeadersAlways(t *testing.T) {
	h := startLimited(t, "ratelimit_zones: [{name: api}]", `{kind: ratelimit, rate: 100/s, zone: api, headers: always}`)
	r := do(t, h, "GET", "/")
	if r.status != 200 {
		t.Fatalf("status %d, want 200", r.status)
	}
	if got, want := r.header.Get("RateLimit-Policy"), `"api";q=100;w=1`; got != want {
		t.Errorf("RateLimit-Policy = %q, want %q", got, want)
	}
	if got, want := r.header.Get("RateLimit"), `"api";r=99;t=1`; got != want {
		t.Errorf("RateLimit = %q, want %q", got, want)
	}
}

func TestRateLimitStatusAndHeadersOff(t *testing.T) {
	h := startLimited(t, "", `{kind: ratelimit, rate: 1/h, status: 503, headers: "off"}`)
	do(t, h, "GET", "/")
	r := do(t, h, "GET", "/")
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("second request = %d with Retry-After %q, want 503 with one", r.status, r.header.Get("Retry-After"))
	}
	if r.header.Get("RateLimit") != "" || r.header.Get("RateLimit-Policy") != "" {
		t.Errorf("headers: off still sent RateLimit fields: %v", r.header)
	}
}

// TestRateLimitSurvivesReload: the state is the gateway's, by zone, so a
// reload that keeps the zone keeps every key's allowance.
func TestRateLimitSurvivesReload(t *testing.T) {
	addr := testenv.Backend(t, nameHandler("app")).Listener.Addr().String()
	cfg := func(path string) string {
		return fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
ratelimit_zones: [{name: z}]
routes:
  - {name: app, match: {path_prefix: %s}, middlewares: [{kind: ratelimit, rate: 1/h, zone: z}], upstream: app}
upstreams: [{name: app, backends: [{address: %q}]}]
`, path, addr)
	}
	h := start(t, cfg("/"))
	if r := do(t, h, "GET", "/a"); r.status != 200 {
		t.Fatalf("first request = %d, want 200", r.status)
	}
	if err := h.reload(t, cfg("/a")); err != nil {
		t.Fatal(err)
	}
	if r := do(t, h, "GET", "/a"); r.status != 429 {
		t.Errorf("after reload = %d, want 429: the zone's state should survive", r.status)
	}
}

// TestRateLimitDistributed runs two gateways sharing one real redis-server
// and sends as fast as it can through both for about 3 seconds (the issue
// asks for 10; 3 keeps the suite short and already spans 150 emission
// intervals): together they allow burst + rate·elapsed within ±10%.
func TestRateLimitDistributed(t *testing.T) {
	r := testenv.StartRedis(t)
	zones := fmt.Sprintf("ratelimit_zones: [{name: fleet, store: redis, on_failure: closed, redis: {address: %q, timeout: 200ms}}]", r.Addr)
	mw := `{kind: ratelimit, rate: 50/s, burst: 10, zone: fleet}`
	a, b := startLimited(t, zones, mw), startLimited(t, zones, mw)

	const run = 3 * time.Second
	var allowed, limited atomic.Int64
	begin := time.Now()
	var wg sync.WaitGroup
	for _, h := range []*harness{a, b, a, b} {
		wg.Go(func() {
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			for time.Since(begin) < run {
				resp, err := c.Get(h.url("/"))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					allowed.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d, want 200 or 429", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	want := 10 + 50*elapsed.Seconds()
	got := float64(allowed.Load())
	t.Logf("allowed %d, limited %d in %v through two gateways (want %.0f ±10%%)", allowed.Load(), limited.Load(), elapsed, want)
	if got < 0.9*want || got > 1.1*want {
		t.Errorf("allowed %v in %v, want %.0f ±10%%", got, elapsed, want)
	}
	if limited.Load() == 0 {
		t.Error("nothing was limited: the clients did not exceed the rate")
	}
}

// TestRateLimitRedisDownThroughGateway: with Redis killed, a closed zone
// answers 503 with Retry-After and a local one keeps limiting, each within
// a bound well past the 50ms timeout but far from a hang.
func TestRateLimitRedisDownThroughGateway(t *testing.T) {
	r := testenv.StartRedis(t)
	zones := fmt.Sprintf(`ratelimit_zones:
  - {name: closed, store: redis, on_failure: closed, redis: {address: %[1]q, timeout: 50ms}}
  - {name: local, store: redis, on_failure: local, redis: {address: %[1]q, timeout: 50ms}}`, r.Addr)
	addr := testenv.Backend(t, nameHandler("app")).Listener.Addr().String()
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
%s
routes:
  - {name: c, match: {path_prefix: /c}, middlewares: [{kind: ratelimit, rate: 1/h, burst: 2, zone: closed}], upstream: app}
  - {name: l, match: {path_prefix: /l}, middlewares: [{kind: ratelimit, rate: 1/h, burst: 2, zone: local}], upstream: app}
upstreams: [{name: app, backends: [{address: %q}]}]
`, zones, addr))
	r.Kill()
	timed := func(path string) reply {
		begin := time.Now()
		rep := do(t, h, "GET", path)
		if d := time.Since(begin); d > time.Second {
			t.Errorf("GET %s took %v with Redis down, want well under a second", path, d)
		}
		return rep
	}
	for range 3 {
		if rep := timed("/c"); rep.status != 503 || rep.header.Get("Retry-After") == "" {
			t.Errorf("closed zone with Redis down = %d (Retry-After %q), want 503 with Retry-After", rep.status, rep.header.Get("Retry-After"))
		}
	}
	var got []int
	for range 3 {
		got = append(got, timed("/l").status)
	}
	if fmt.Sprint(got) != "[200 200 429]" {
		t.Errorf("local zone with Redis down answered %v, want [200 200 429]: limited by the local store", got)
	}
}
