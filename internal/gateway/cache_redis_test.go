package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"palisade/internal/cache"
	"palisade/internal/cache/redisstore"
	"palisade/internal/testenv"
)

// The tests of a fleet sharing one Redis zone (issue 10, "How it is
// checked"): two gateways in front of one origin and one real
// redis-server, which the tests kill, restart, pause and resume while
// requests run. A Redis outage must turn into misses served by the origin,
// never an error or a slow response, with one log line per change of
// state.

// redisTimeout is the zones' Redis timeout in these tests, and
// answerBound what any one request may take, Redis failing or not: several
// timeouts (a lookup and a store each wait at most one), generous against a
// loaded machine running the race detector, and far below what an
// unbounded wait for a dead or stopped Redis would take.
const (
	redisTimeout = 200 * time.Millisecond
	answerBound  = 2 * time.Second
)

// Log messages of redisstore's health, one per change of state.
const (
	redisDownMsg = `msg="cache redis down"`
	redisUpMsg   = `msg="cache redis up"`
)

// redisZoneConfig is a gateway config with one listener and a route cached
// in the zone "shared", stored in the Redis at redisAddr, in front of the
// origin at originAddr. route names the route, so that a reload can change
// something beside the zone.
func redisZoneConfig(redisAddr, originAddr, route string) string {
	return fmt.Sprintf(`
access_log: {output: "off"}
listeners:
  - {name: web, address: "127.0.0.1:0", timeouts: {shutdown: 200ms}}
cache_zones:
  - {name: shared, store: redis, redis: {address: %q, timeout: %v}}
routes:
  - {name: %s, match: {path_prefix: /}, middlewares: [{kind: cache, zone: shared}], upstream: app}
upstreams:
  - {name: app, backends: [{address: %q}]}
`, redisAddr, redisTimeout, route, originAddr)
}

// logBuffer collects a gateway's log lines, for counting.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns the number of lines containing every one of parts.
func (b *logBuffer) count(parts ...string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// redisGateway is a harness whose log (at the default level, Info, as the
// binary runs) goes to log.
type redisGateway struct {
	*harness
	name string
	log  *logBuffer
}

// startRedisGateway starts a gateway named name on cfg with its log
// captured; the log is printed when the test fails.
func startRedisGateway(t *testing.T, name, cfg string) *redisGateway {
	t.Helper()
	file := filepath.Join(t.TempDir(), "palisade.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	g := New(slog.New(slog.NewTextHandler(logs, nil)))
	if err := g.ApplyFile(file); err != nil {
		t.Fatalf("gateway %s: Apply:\n%v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("gateway %s: Shutdown: %v", name, err)
		}
		if t.Failed() {
			t.Logf("gateway %s log:\n%s", name, logs.String())
		}
	})
	h := &harness{g: g, addr: g.Addr(g.Snapshot().Config.Listeners[0].Address).String(), file: file}
	return &redisGateway{harness: h, name: name, log: logs}
}

// zoneDownUp returns how many times gw has logged its zone going down and
// coming back.
func (gw *redisGateway) zoneDownUp() (down, up int) {
	return gw.log.count(redisDownMsg, "zone=shared"), gw.log.count(redisUpMsg, "zone=shared")
}

// zone returns gw's live zone "shared".
func (gw *redisGateway) zone(t *testing.T) *cache.Zone {
	t.Helper()
	gw.g.mu.Lock()
	defer gw.g.mu.Unlock()
	var zones []*cache.Zone
	gw.g.zones.Each(func(_ string, z *cache.Zone) { zones = append(zones, z) })
	if len(zones) != 1 || zones[0].Name != "shared" {
		t.Fatalf("gateway %s has %d live zones, want the one zone shared", gw.name, len(zones))
	}
	return zones[0]
}

// sharedOrigin starts a loopback origin whose every response may be stored
// for five minutes; its body is the request's path. Responses to paths
// with "/vary" in them carry Vary and a purge tag too, so that a lookup
// makes two Redis commands and a store three (the pipeline of the tag).
func sharedOrigin(t *testing.T) (*origin, string) {
	t.Helper()
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		if strings.Contains(r.URL.Path, "/vary") {
			w.Header().Set("Vary", "Accept-Language")
			w.Header().Set("Surrogate-Key", "load")
		}
		io.WriteString(w, r.URL.Path)
	}}
	return o, testenv.Backend(t, o).Listener.Addr().String()
}

// redisClient returns a plain client of the Redis at addr, for looking
// behind the zones.
func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisEntries returns the number of keys in the Redis c talks to, -1 when
// it does not answer.
func redisEntries(c *redis.Client) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return -1
	}
	return n
}

// boundedClient returns a client whose requests end at twice answerBound,
// so that a request slower than the bound is reported as slow rather than
// lost, with its idle connections closed when the test ends.
func boundedClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 2 * answerBound}
}

// fetched is one request's outcome.
type fetched struct {
	status      int
	body        string
	cacheStatus string
	age         string
	took        time.Duration
}

func (f fetched) hit() bool { return strings.Contains(f.cacheStatus, "; hit") }

// fleetHost is the Host of every request: the cache key includes the host,
// and a fleet is one name in front of many instances (each gateway here
// listens on a port of its own).
const fleetHost = "www.example.com"

// fetch GETs path from gw.
func fetch(c *http.Client, gw *redisGateway, path string) (fetched, error) {
	req, err := http.NewRequest(http.MethodGet, gw.url(path), nil)
	if err != nil {
		return fetched{}, err
	}
	req.Host = fleetHost
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return fetched{took: time.Since(start)}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	f := fetched{status: resp.StatusCode, body: string(body), cacheStatus: resp.Header.Get("Cache-Status"),
		age: resp.Header.Get("Age"), took: time.Since(start)}
	return f, err
}

// mustFetch is fetch for requests outside a load run, which must succeed
// within the bound.
func mustFetch(t *testing.T, c *http.Client, gw *redisGateway, path string) fetched {
	t.Helper()
	f, err := fetch(c, gw, path)
	if err != nil {
		t.Fatalf("GET %s on gateway %s: %v", path, gw.name, err)
	}
	if f.status != http.StatusOK || f.body != path {
		t.Fatalf("GET %s on gateway %s = %d %q, want 200 %q", path, gw.name, f.status, f.body, path)
	}
	if f.took > answerBound {
		t.Errorf("GET %s on gateway %s took %v, want at most %v", path, gw.name, f.took, answerBound)
	}
	return f
}

// awaitSharedHit waits, for at most 10s, until a response stored through
// a is a hit on b: each try GETs a new path on a, then on b.
func awaitSharedHit(t *testing.T, c *http.Client, a, b *redisGateway, what string) {
	t.Helper()
	i := 0
	eventually(t, what+": a response stored through "+a.name+" served as a hit by "+b.name, func() bool {
		i++
		path := fmt.Sprintf("/%s/%d", strings.ReplaceAll(what, " ", "-"), i)
		mustFetch(t, c, a, path)
		return mustFetch(t, c, b, path).hit()
	})
}

// load is a few goroutines GETting a handful of paths from both gateways
// in turn until stopped, recording every failure: a 5xx, a client error, a
// wrong body, or an answer slower than answerBound.
type load struct {
	stopC chan struct{}
	wg    sync.WaitGroup
	done  atomic.Int64 // requests answered
	hits  atomic.Int64

	mu       sync.Mutex // guards the fields below
	failures []string
	slowest  time.Duration
}

const (
	loadWorkers = 4
	loadPaths   = 8
)

func startLoad(t *testing.T, c *http.Client, gws ...*redisGateway) *load {
	t.Helper()
	l := &load{stopC: make(chan struct{})}
	for w := range loadWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := w; ; i++ {
				select {
				case <-l.stopC:
					return
				default:
				}
				gw := gws[i%len(gws)]
				path := fmt.Sprintf("/load/%d", i%loadPaths)
				if i%2 == 1 {
					path = fmt.Sprintf("/load/vary%d", i%loadPaths)
				}
				f, err := fetch(c, gw, path)
				l.record(gw, path, f, err)
			}
		}()
	}
	t.Cleanup(l.stop) // a test that fails early stops it too
	return l
}

func (l *load) record(gw *redisGateway, path string, f fetched, err error) {
	l.done.Add(1)
	if f.hit() {
		l.hits.Add(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, f.took)
	var failure string
	switch {
	case err != nil:
		failure = fmt.Sprintf("client error: %v", err)
	case f.status >= 500:
		failure = fmt.Sprintf("status %d", f.status)
	case f.status != http.StatusOK || f.body != path:
		failure = fmt.Sprintf("%d %q, want 200 %q", f.status, f.body, path)
	case f.took > answerBound:
		failure = fmt.Sprintf("answered in %v, want at most %v", f.took, answerBound)
	default:
		return
	}
	l.failures = append(l.failures, fmt.Sprintf("GET %s on gateway %s: %s", path, gw.name, failure))
}

// await waits until n more requests than now have been answered.
func (l *load) await(t *testing.T, n int64) {
	t.Helper()
	target := l.done.Load() + n
	eventually(t, fmt.Sprintf("%d more requests of the load", n), func() bool { return l.done.Load() >= target })
}

// stop ends the load and waits for its goroutines. It may be called more
// than once.
func (l *load) stop() {
	select {
	case <-l.stopC:
	default:
		close(l.stopC)
	}
	l.wg.Wait()
}

// check stops the load and reports its failures, at most ten of them.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(l.failures)-10)
			break
		}
		t.Error(f)
	}
	t.Logf("load: %d requests, %d hits, slowest %v", l.done.Load(), l.hits.Load(), l.slowest)
}

// checkDownUp checks that each gateway logged its zone going down and
// coming back exactly want times, once per outage however many requests
// met it, and nothing else about the zone (no line per failed lookup or
// store).
func checkDownUp(t *testing.T, want int, gws ...*redisGateway) {
	t.Helper()
	for _, gw := range gws {
		if down, up := gw.zoneDownUp(); down != want || up != want {
			t.Errorf("gateway %s logged %q %d times and %q %d times, want %d each (one line per change of state, not per request)",
				gw.name, redisDownMsg, down, redisUpMsg, up, want)
		}
		if n := gw.log.count("zone=shared"); n != 2*want {
			t.Errorf("gateway %s logged %d lines about zone shared, want %d: one when Redis went down and one when it came back, per outage",
				gw.name, n, 2*want)
		}
	}
}

func TestRedisZoneSharedAcrossGateways(t *testing.T) {
	r := testenv.StartRedis(t)
	o, originAddr := sharedOrigin(t)
	cfg := redisZoneConfig(r.Addr, originAddr, "app")
	a, b := startRedisGateway(t, "A", cfg), startRedisGateway(t, "B", cfg)
	c := boundedClient(t)
	rc := redisClient(t, r.Addr)

	for _, tc := range []struct {
		name, path string
		keys       int64 // the Redis keys a store writes
	}{
		{"plain", "/shared", 1},
		// Regression: the Vary primary was never stored in Redis (its
		// Status 0 failed the encoding), so no response with Vary was a
		// hit, on A or B.
		{"vary", "/shared/vary", 3}, // primary, variant, tag set
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, stored := o.count(), redisEntries(rc)
			first := mustFetch(t, c, a, tc.path)
			// "miss", not "fwd=miss": RFC 9211 also allows uri-miss
			// and vary-miss.
			if first.hit() || !strings.Contains(first.cacheStatus, "miss") || !strings.Contains(first.cacheStatus, "stored") {
				t.Errorf("Cache-Status of the first GET on A = %q, want a miss, stored", first.cacheStatus)
			}
			// A stores after its client has the body; B looks once it
			// is there.
			eventually(t, "A's entry in Redis", func() bool { return redisEntries(rc) >= stored+tc.keys })
			second := mustFetch(t, c, b, tc.path)
			if !second.hit() {
				t.Errorf("Cache-Status on B of what A stored = %q, want hit", second.cacheStatus)
			}
			if second.age == "" {
				t.Error("a hit on B has no Age field (RFC 9111 §5.1: required from a cache)")
			}
			if n := o.count() - before; n != 1 {
				t.Errorf("origin saw %d requests for a GET on A and one on B, want 1", n)
			}
		})
	}
	checkDownUp(t, 0, a, b)
}

func TestRedisKilledAndRestarted(t *testing.T) {
	r := testenv.StartRedis(t)
	o, originAddr := sharedOrigin(t)
	cfg := redisZoneConfig(r.Addr, originAddr, "app")
	a, b := startRedisGateway(t, "A", cfg), startRedisGateway(t, "B", cfg)
	c := boundedClient(t)

	l := startLoad(t, c, a, b)
	l.await(t, 100)
	if l.hits.Load() == 0 {
		t.Error("no hit in the load's first 100 requests over 8 paths")
	}

	r.Kill()
	eventually(t, "both gateways to log Redis down", func() bool {
		da, _ := a.zoneDownUp()
		db, _ := b.zoneDownUp()
		return da > 0 && db > 0
	})
	// While Redis is down every request is a miss that the origin answers.
	before := o.count()
	l.await(t, 100)
	if got := o.count() - before; got < 50 {
		t.Errorf("origin saw %d requests of 100 with Redis down, want most of them (misses)", got)
	}
	// Long enough for a few probes (after 100ms, 200ms, 400ms) to fail,
	// quietly.
	time.Sleep(800 * time.Millisecond)

	r.Restart()
	awaitSharedHit(t, c, a, b, "after restart")
	eventually(t, "both gateways to log Redis up", func() bool {
		_, ua := a.zoneDownUp()
		_, ub := b.zoneDownUp()
		return ua > 0 && ub > 0
	})
	l.await(t, 50)
	l.check(t)
	checkDownUp(t, 1, a, b)
}

func TestRedisPausedAndResumed(t *testing.T) {
	r := testenv.StartRedis(t)
	_, originAddr := sharedOrigin(t)
	cfg := redisZoneConfig(r.Addr, originAddr, "app")
	a, b := startRedisGateway(t, "A", cfg), startRedisGateway(t, "B", cfg)
	c := boundedClient(t)

	l := startLoad(t, c, a, b)
	l.await(t, 100)

	// SIGSTOP: connections open and commands are sent, but nothing is
	// answered, so only the timeouts bound a request; long enough for
	// several probes (100ms, 200ms, 400ms...) to time out too.
	r.Pause() // a test that fails while paused leaves it to Kill, which ends a stopped process too
	eventually(t, "both gateways to log Redis down", func() bool {
		da, _ := a.zoneDownUp()
		db, _ := b.zoneDownUp()
		return da > 0 && db > 0
	})
	time.Sleep(time.Second)
	l.await(t, 50)
	r.Resume()

	awaitSharedHit(t, c, a, b, "after resume")
	eventually(t, "both gateways to log Redis up", func() bool {
		_, ua := a.zoneDownUp()
		_, ub := b.zoneDownUp()
		return ua > 0 && ub > 0
	})
	l.await(t, 50)
	l.check(t)
	checkDownUp(t, 1, a, b)
}

func TestRedisZoneAcrossReloads(t *testing.T) {
	r1, r2 := testenv.StartRedis(t), testenv.StartRedis(t)
	o, originAddr := sharedOrigin(t)
	a := startRedisGateway(t, "A", redisZoneConfig(r1.Addr, originAddr, "app"))
	c := boundedClient(t)
	rc1, rc2 := redisClient(t, r1.Addr), redisClient(t, r2.Addr)

	mustFetch(t, c, a, "/kept")
	eventually(t, "the entry in Redis", func() bool { return redisEntries(rc1) >= 1 })
	mustFetch(t, c, a, "/kept") // the pool has its connection now
	connections := func(rc *redis.Client) string {
		info, err := rc.Info(context.Background(), "stats").Result()
		if err != nil {
			t.Fatalf("INFO stats: %v", err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_connections_received:"); ok {
				return v
			}
		}
		t.Fatalf("INFO stats has no total_connections_received:\n%s", info)
		return ""
	}
	z1 := a.zone(t)
	conns := connections(rc1)

	// A reload that keeps the zone's settings keeps its store, and its
	// connection: no reconnect.
	if err := a.reload(t, redisZoneConfig(r1.Addr, originAddr, "renamed")); err != nil {
		t.Fatalf("reload keeping the zone: %v", err)
	}
	if z := a.zone(t); z != z1 {
		t.Errorf("a reload that keeps the zone made a new *cache.Zone %p, want the old %p", z, z1)
	}
	if f := mustFetch(t, c, a, "/kept"); !f.hit() {
		t.Errorf("Cache-Status after a reload that keeps the zone = %q, want hit", f.cacheStatus)
	}
	if got := connections(rc1); got != conns {
		t.Errorf("Redis received %s connections in all after a reload that keeps the zone, want still %s", got, conns)
	}
	if n := o.count(); n != 1 {
		t.Errorf("origin saw %d requests, want 1", n)
	}

	// A reload that changes the Redis address switches to a new store and
	// closes the old one once the previous config's requests are done
	// (the listener's shutdown timeout, 200ms).
	if err := a.reload(t, redisZoneConfig(r2.Addr, originAddr, "renamed")); err != nil {
		t.Fatalf("reload changing the zone's address: %v", err)
	}
	z2 := a.zone(t)
	if z2 == z1 {
		t.Fatal("a reload that changes the zone's Redis address kept the old *cache.Zone")
	}
	if f := mustFetch(t, c, a, "/kept"); f.hit() {
		t.Errorf("Cache-Status after switching to an empty Redis = %q, want a miss", f.cacheStatus)
	}
	eventually(t, "the entry in the new Redis", func() bool { return redisEntries(rc2) >= 1 })
	if f := mustFetch(t, c, a, "/kept"); !f.hit() {
		t.Errorf("Cache-Status of what the new store holds = %q, want hit", f.cacheStatus)
	}
	eventually(t, "the old zone's store closed", func() bool {
		_, err := z1.Store.Get(context.Background(), "any")
		return errors.Is(err, redisstore.ErrClosed)
	})
	checkDownUp(t, 0, a)
}
