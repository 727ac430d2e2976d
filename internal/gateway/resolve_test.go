package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/testenv"
)

// namedBackends starts one backend on 127.0.0.1 and one on 127.0.0.2, on
// the same port, each answering its name and counting its requests.
func namedBackends(t *testing.T) (port int, hitsA, hitsB *atomic.Int64) {
	t.Helper()
	hitsA, hitsB = new(atomic.Int64), new(atomic.Int64)
	serve := func(ln net.Listener, name string, hits *atomic.Int64) {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, name)
		}))
		s.Listener.Close()
		s.Listener = ln
		s.Start()
		t.Cleanup(s.Close)
	}
	// Another socket may hold the port on 127.0.0.2; try a few.
	for range 10 {
		lnA, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = lnA.Addr().(*net.TCPAddr).Port
		lnB, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
		if err != nil {
			lnA.Close()
			continue
		}
		serve(lnA, "A", hitsA)
		serve(lnB, "B", hitsB)
		return port, hitsA, hitsB
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return 0, nil, nil
}

// poolAddrs returns the addresses of upstream name's backends that take
// requests.
func poolAddrs(g *Gateway, name string) []string {
	var out []string
	for _, b := range g.Snapshot().Upstreams[name].Pool.Primaries() {
		if !b.Draining() {
			out = append(out, b.Addr)
		}
	}
	slices.Sort(out)
	return out
}

// waitPool polls until upstream name's serving backends are want.
func waitPool(t *testing.T, g *Gateway, name string, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := poolAddrs(g, name)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, upstream %q has backends %v, want %v", within, name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostNameBackendsFollowDNS: a backend written as a host name becomes
// one backend per address, re-resolved on the answer's TTL: an address
// the answer adds takes requests, one it drops drains.
func TestHostNameBackendsFollowDNS(t *testing.T) {
	dns := testenv.StartDNS(t)
	port, hitsA, hitsB := namedBackends(t)
	a := testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.1"), TTL: 1}
	b := testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.2"), TTL: 1}
	dns.Set("app.test", a)
	h := start(t, fmt.Sprintf(`access_log: {output: "off"}
listeners:
  - {name: web, address: 127.0.0.1:0}
routes:
  - {name: all, match: {path_prefix: /}, upstream: app}
upstreams:
  - name: app
    resolve: {nameserver: %q, interval: 2s}
    backends: [{address: "app.test:%d"}]
`, dns.Addr, port))
	c := testenv.Client(t, testenv.H1)
	send := func(n int) map[string]int {
		t.Helper()
		seen := make(map[string]int)
		for range n {
			code, body, _ := get(t, c, newRequest(t, "GET", h.url("/"), nil))
			if code != http.StatusOK {
				t.Fatalf("GET / = %d, want 200", code)
			}
			seen[body]++
		}
		return seen
	}
	addrA, addrB := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.2:%d", port)

	if seen := send(4); seen["A"] != 4 {
		t.Fatalf("before the answer changes, responses %v, want all from A", seen)
	}

	dns.Set("app.test", a, b)
	waitPool(t, h.g, "app", []string{addrA, addrB}, 3*time.Second)
	if seen := send(10); seen["A"] == 0 || seen["B"] == 0 {
		t.Fatalf("with both addresses in the answer, responses %v, want some from A and from B", seen)
	}

	dns.Set("app.test", b)
	waitPool(t, h.g, "app", []string{addrB}, 3*time.Second)
	before := hitsA.Load()
	if seen := send(10); seen["B"] != 10 {
		t.Errorf("after the answer dropped 127.0.0.1, responses %v, want all from B", seen)
	}
	if n := hitsA.Load() - before; n != 0 {
		t.Errorf("A got %d new requests after the answer dropped it, want 0 (draining)", n)
	}
	if hitsB.Load() == 0 {
		t.Error("B never got a request")
	}
}

// TestHostNameResolutionFailureKeepsBackends: a refresh that fails keeps
// the addresses resolved before, and serving goes on.
func TestHostNameResolutionFailureKeepsBackends(t *testing.T) {
	dns := testenv.StartDNS(t)
	port, _, _ := namedBackends(t)
	dns.Set("app.test", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.1"), TTL: 1})
	h := start(t, fmt.Sprintf(`access_log: {output: "off"}
listeners:
  - {name: web, address: 127.0.0.1:0}
routes:
  - {name: all, match: {path_prefix: /}, upstream: app}
upstreams:
  - name: app
    resolve: {nameserver: %q, interval: 1s}
    backends: [{address: "app.test:%d"}]
`, dns.Addr, port))
	dns.Remove("app.test")
	// Wait for at least one refresh to have seen NXDOMAIN.
	deadline := time.Now().Add(3 * time.Second)
	for udp, _ := dns.Queries(); udp < 4; udp, _ = dns.Queries() {
		if time.Now().After(deadline) {
			t.Fatalf("no refresh within 3s (%d queries)", udp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, want := poolAddrs(h.g, "app"), []string{fmt.Sprintf("127.0.0.1:%d", port)}; !slices.Equal(got, want) {
		t.Errorf("after a failed refresh, backends %v, want %v kept", got, want)
	}
	c := testenv.Client(t, testenv.H1)
	if code, body, _ := get(t, c, newRequest(t, "GET", h.url("/"), nil)); code != http.StatusOK || body != "A" {
		t.Errorf("GET / = %d %q, want 200 \"A\"", code, body)
	}
}

// TestReloadWhileRefresherCommits guards a deadlock: a reload stopped the
// refresher it replaced and waited for its goroutine while holding the
// gateway's mutex, which that goroutine, about to commit new addresses,
// was waiting for.
func TestReloadWhileRefresherCommits(t *testing.T) {
	port, _, _ := namedBackends(t)
	refreshing := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	resolve := func(ctx context.Context, _ config.Upstream, host string) ([]netip.Addr, time.Duration, error) {
		one := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		if host == "other.test" {
			// The reload's build, holding the gateway's mutex: let the
			// refresher go on to commit, and give it time to block there.
			close(release)
			time.Sleep(200 * time.Millisecond)
			return one, time.Second, nil
		}
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 { // the first refresh
			close(refreshing)
			select {
			case <-release:
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
			return append(one, netip.MustParseAddr("127.0.0.2")), time.Second, nil
		}
		return one, time.Second, nil
	}
	doc := func(backends string) string {
		return fmt.Sprintf(`access_log: {output: "off"}
listeners:
  - {name: web, address: 127.0.0.1:0}
routes:
  - {name: all, match: {path_prefix: /}, upstream: app}
upstreams:
  - name: app
    resolve: {interval: 1s}
    backends: [%s]
`, backends)
	}
	file := filepath.Join(t.TempDir(), "palisade.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := New(slog.New(slog.DiscardHandler))
	g.Resolve = resolve
	write(doc(fmt.Sprintf(`{address: "app.test:%d"}`, port)))
	if err := g.ApplyFile(file); err != nil {
		t.Fatal(err)
	}
	deadlocked := false
	t.Cleanup(func() {
		if deadlocked {
			return // Shutdown would wait for the mutex forever.
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})

	select {
	case <-refreshing:
	case <-time.After(3 * time.Second):
		t.Fatal("no refresh within 3s")
	}
	write(doc(fmt.Sprintf(`{address: "app.test:%d"}, {address: "other.test:%d"}`, port, port)))
	applied := make(chan error, 1)
	go func() { applied <- g.ApplyFile(file) }()
	select {
	case err := <-applied:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(5 * time.Second):
		deadlocked = true
		t.Fatal("reload deadlocked with the refresher it replaces")
	}
}

// TestShutdownCutsShortALookup guards Shutdown waiting for a refresh's
// lookup to time out: stopping a refresher now cancels its lookup.
func TestShutdownCutsShortALookup(t *testing.T) {
	port, _, _ := namedBackends(t)
	var calls atomic.Int64
	inLookup := make(chan struct{})
	g := New(slog.New(slog.DiscardHandler))
	g.Resolve = func(ctx context.Context, _ config.Upstream, _ string) ([]netip.Addr, time.Duration, error) {
		if calls.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, time.Second, nil
		}
		if calls.Load() == 2 {
			close(inLookup)
		}
		<-ctx.Done() // a nameserver that never answers
		return nil, 0, ctx.Err()
	}
	file := filepath.Join(t.TempDir(), "palisade.yaml")
	doc := fmt.Sprintf(`access_log: {output: "off"}
listeners:
  - {name: web, address: 127.0.0.1:0}
routes:
  - {name: all, match: {path_prefix: /}, upstream: app}
upstreams:
  - name: app
    backends: [{address: "app.test:%d"}]
`, port)
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.ApplyFile(file); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inLookup:
	case <-time.After(3 * time.Second):
		t.Fatal("no refresh within 3s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v with a lookup in flight, want it cut short", d)
	}
}
