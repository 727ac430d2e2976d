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
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/config"
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
