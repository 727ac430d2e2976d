package resolve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"palisade/internal/testenv"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func lookup(t *testing.T, r *Resolver, nameserver, host string) ([]netip.Addr, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Lookup(ctx, nameserver, host)
}

func TestLookupNameserver(t *testing.T) {
	dns := testenv.StartDNS(t)
	ip := func(s string, ttl uint32) testenv.DNSRecord {
		return testenv.DNSRecord{Addr: netip.MustParseAddr(s), TTL: ttl}
	}
	dns.Set("app.test", ip("127.0.0.2", 30), ip("127.0.0.1", 10))
	dns.Set("dual.test", ip("::1", 20), ip("127.0.0.1", 40))
	dns.Set("www.test", testenv.DNSRecord{CNAME: "edge.test", TTL: 5})
	dns.Set("edge.test", testenv.DNSRecord{CNAME: "app.test", TTL: 50})
	dns.Set("zero.test", ip("127.0.0.1", 0))
	dns.Set("empty.test")
	dns.Set("dangling.test", testenv.DNSRecord{CNAME: "nowhere.test", TTL: 5})
	dns.Set("v6.test", ip("::1", 7))

	r := New(nil)
	for _, tc := range []struct {
		name    string
		host    string
		want    []netip.Addr
		wantTTL time.Duration
		wantErr error
	}{
		{"addresses sorted, smallest TTL", "app.test", addrs("127.0.0.1", "127.0.0.2"), 10 * time.Second, nil},
		{"trailing dot", "app.test.", addrs("127.0.0.1", "127.0.0.2"), 10 * time.Second, nil},
		{"case does not matter", "APP.Test", addrs("127.0.0.1", "127.0.0.2"), 10 * time.Second, nil},
		{"A and AAAA", "dual.test", addrs("127.0.0.1", "::1"), 20 * time.Second, nil},
		{"AAAA only", "v6.test", addrs("::1"), 7 * time.Second, nil},
		{"CNAME chain, its TTL counts", "www.test", addrs("127.0.0.1", "127.0.0.2"), 5 * time.Second, nil},
		{"TTL 0 reads as a second", "zero.test", addrs("127.0.0.1"), time.Second, nil},
		{"NXDOMAIN", "missing.test", nil, 0, ErrNotFound},
		{"CNAME to nothing", "dangling.test", nil, 0, ErrNotFound},
		{"no records", "empty.test", nil, 0, ErrNoAddresses},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ttl, err := lookup(t, r, dns.Addr, tc.host)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Lookup(%q) error = %v, want %v", tc.host, err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) || ttl != tc.wantTTL {
				t.Errorf("Lookup(%q) = %v, %v, want %v, %v", tc.host, got, ttl, tc.want, tc.wantTTL)
			}
		})
	}
}

func TestLookupSeesAnswerChange(t *testing.T) {
	dns := testenv.StartDNS(t)
	r := New(nil)
	dns.Set("app.test", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.1"), TTL: 1})
	if got, _, err := lookup(t, r, dns.Addr, "app.test"); err != nil || !slices.Equal(got, addrs("127.0.0.1")) {
		t.Fatalf("first Lookup = %v, %v, want [127.0.0.1]", got, err)
	}
	dns.Set("app.test", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.3"), TTL: 1})
	if got, _, err := lookup(t, r, dns.Addr, "app.test"); err != nil || !slices.Equal(got, addrs("127.0.0.3")) {
		t.Fatalf("second Lookup = %v, %v, want [127.0.0.3]", got, err)
	}
	dns.Remove("app.test")
	if _, _, err := lookup(t, r, dns.Addr, "app.test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after Remove: error %v, want ErrNotFound", err)
	}
}

func TestLookupTruncatedFallsBackToTCP(t *testing.T) {
	dns := testenv.StartDNS(t)
	dns.Set("app.test", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.1"), TTL: 9})
	dns.SetTruncate(true)
	got, ttl, err := lookup(t, New(nil), dns.Addr, "app.test")
	if err != nil || !slices.Equal(got, addrs("127.0.0.1")) || ttl != 9*time.Second {
		t.Fatalf("Lookup = %v, %v, %v, want [127.0.0.1], 9s, nil", got, ttl, err)
	}
	udp, tcp := dns.Queries()
	if udp != 2 || tcp != 2 {
		t.Errorf("queries: %d over UDP, %d over TCP; want 2 and 2 (A and AAAA each)", udp, tcp)
	}
}

func TestLookupTimeoutBoundedByContext(t *testing.T) {
	// A server that reads queries and never answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = New(nil).Lookup(ctx, silent.LocalAddr().String(), "app.test")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lookup error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Lookup took %v; the context allowed 300ms", d)
	}
}

// system returns a Resolver reading hosts and resolv.conf written into a
// temporary directory, with the nameservers on port.
func system(t *testing.T, hosts, resolvConf, port string) *Resolver {
	t.Helper()
	dir := t.TempDir()
	r := New(nil)
	r.hostsPath, r.confPath, r.port = filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf"), port
	for path, body := range map[string]string{r.hostsPath: hosts, r.confPath: resolvConf} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestLookupSystem(t *testing.T) {
	dns := testenv.StartDNS(t)
	_, port, _ := net.SplitHostPort(dns.Addr)
	dns.Set("app.test", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.1"), TTL: 12})
	dns.Set("api.svc.test", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.5"), TTL: 13})
	dns.Set("api", testenv.DNSRecord{Addr: netip.MustParseAddr("127.0.0.6"), TTL: 13})
	const hosts = "# comment\n127.0.0.9 pinned.test pinned # trailing\n::1 pinned.test\n"
	for _, tc := range []struct {
		name, conf, host string
		want             []netip.Addr
		wantTTL          time.Duration
		wantErr          error
	}{
		{"hosts file first, no TTL", "nameserver 127.0.0.1\n", "PINNED.test", addrs("127.0.0.9", "::1"), 0, nil},
		{"resolv.conf nameserver", "nameserver 127.0.0.1\n", "app.test", addrs("127.0.0.1"), 12 * time.Second, nil},
		// Nothing listens on 127.0.0.2 at the port: refused at once.
		{"next nameserver after a failing one", "nameserver 127.0.0.2\nnameserver 127.0.0.1\n", "app.test", addrs("127.0.0.1"), 12 * time.Second, nil},
		{"search list before a short name", "search svc.test\nnameserver 127.0.0.1\n", "api", addrs("127.0.0.5"), 13 * time.Second, nil},
		{"ndots:0 asks the name first", "search svc.test\noptions ndots:0\nnameserver 127.0.0.1\n", "api", addrs("127.0.0.6"), 13 * time.Second, nil},
		{"search list, then the name as written", "search other.test svc.test\nnameserver 127.0.0.1\n", "app.test", addrs("127.0.0.1"), 12 * time.Second, nil},
		{"no search list for an absolute name", "search svc.test\nnameserver 127.0.0.1\n", "api.", addrs("127.0.0.6"), 13 * time.Second, nil},
		{"NXDOMAIN under every name", "search svc.test\nnameserver 127.0.0.1\n", "missing", nil, 0, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := system(t, hosts, tc.conf, port)
			got, ttl, err := lookup(t, r, "", tc.host)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Lookup(%q) error = %v, want %v", tc.host, err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) || ttl != tc.wantTTL {
				t.Errorf("Lookup(%q) = %v, %v, want %v, %v", tc.host, got, ttl, tc.want, tc.wantTTL)
			}
		})
	}
}

func TestLookupWithoutNameserversUsesSystemResolver(t *testing.T) {
	r := system(t, "", "# no nameserver\n", "53")
	got, ttl, err := lookup(t, r, "", "localhost")
	if err != nil {
		t.Fatalf("the system resolver cannot resolve localhost (is it missing from /etc/hosts?): %v", err)
	}
	if len(got) == 0 || !got[0].IsLoopback() || ttl != 0 {
		t.Errorf("Lookup(localhost) = %v, %v, want loopback addresses and no TTL", got, ttl)
	}
}

func TestSearchNames(t *testing.T) {
	c := conf{ndots: 2, search: []string{"a.test.", "b.test."}}
	for _, tc := range []struct {
		host string
		want []string
	}{
		{"app", []string{"app.a.test.", "app.b.test.", "app."}},
		{"app.x", []string{"app.x.a.test.", "app.x.b.test.", "app.x."}},
		{"app.x.y", []string{"app.x.y.", "app.x.y.a.test.", "app.x.y.b.test."}},
		{"app.", []string{"app."}},
	} {
		if got := c.names(tc.host); !slices.Equal(got, tc.want) {
			t.Errorf("names(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestReadConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	body := "domain old.test\nsearch a.test b.test. ; comment\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver bogus\n" +
		"nameserver 10.0.0.2\nnameserver 10.0.0.3\noptions ndots:3 timeout:2 attempts:4 rotate\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	c := readConf(path, "53")
	if want := []string{"10.0.0.1:53", "[fe80::1%eth0]:53", "10.0.0.2:53"}; !slices.Equal(c.servers, want) {
		t.Errorf("servers = %q, want %q (at most three)", c.servers, want)
	}
	if want := []string{"a.test.", "b.test."}; !slices.Equal(c.search, want) {
		t.Errorf("search = %q, want %q (the last search line wins)", c.search, want)
	}
	if c.ndots != 3 || c.timeout != 2*time.Second || c.attempts != 4 {
		t.Errorf("options = ndots %d timeout %v attempts %d, want 3 2s 4", c.ndots, c.timeout, c.attempts)
	}
}
