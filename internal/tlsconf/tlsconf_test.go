package tlsconf

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"palisade/internal/config"
	"palisade/internal/testenv"
)

// load writes doc as palisade.yaml in dir, parses it and loads the tls
// block of its first listener.
func load(t *testing.T, dir, doc string) (*tls.Config, config.Diagnostics) {
	t.Helper()
	file := filepath.Join(dir, "palisade.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("config.Load:\n%v", err)
	}
	return Load(cfg, 0)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "certs", "a.pem"), filepath.Join(dir, "certs", "a.key"), "a.example")
	ca.WriteLeaf(t, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), "b.example")
	// Paths are relative to the config file's directory, not to the
	// working directory of the test; an absolute one is taken as is.
	cfg, diags := load(t, dir, `listeners:
  - name: web
    address: 127.0.0.1:0
    tls:
      certificates:
        - {cert_file: certs/a.pem, key_file: certs/a.key}
        - {cert_file: `+filepath.Join(dir, "b.pem")+`, key_file: b.key}
      min_version: "1.3"
      alpn: [http/1.1]
`)
	if diags != nil {
		t.Fatalf("Load:\n%v", diags)
	}
	if len(cfg.Certificates) != 2 || cfg.Certificates[0].Leaf.Subject.CommonName != "a.example" || cfg.Certificates[1].Leaf.Subject.CommonName != "b.example" {
		t.Errorf("Load: certificates %v, want a.example then b.example", cfg.Certificates)
	}
	if cfg.MinVersion != tls.VersionTLS13 {
		t.Errorf("Load: MinVersion = %x, want TLS 1.3", cfg.MinVersion)
	}
	if strings.Join(cfg.NextProtos, ",") != "http/1.1" {
		t.Errorf("Load: NextProtos = %q, want [http/1.1]", cfg.NextProtos)
	}
	if cfg.SessionTicketsDisabled || cfg.CipherSuites != nil {
		t.Errorf("Load: session tickets disabled %t, cipher suites %v; want tickets on and Go's default suites", cfg.SessionTicketsDisabled, cfg.CipherSuites)
	}
}

func TestLoadProblems(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "a.example")
	ca.WriteLeaf(t, filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key"), "b.example")
	if err := os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not PEM\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "palisade.yaml")
	path := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		name, certs string
		want        []string
	}{
		{"missing file", "{cert_file: nope.pem, key_file: a.key}", []string{
			file + `:6:23: listeners[0].tls.certificates[0].cert_file: cannot read "` + path("nope.pem") + `": no such file or directory (hint: check the path; relative ones resolve against the config file's directory, ` + dir + `)`,
		}},
		{"unreadable file", "{cert_file: a.pem, key_file: adir}", []string{
			file + `:6:40: listeners[0].tls.certificates[0].key_file: cannot read "` + path("adir") + `": is a directory`,
		}},
		{"not PEM", "{cert_file: junk.pem, key_file: a.key}", []string{
			file + `:6:23: listeners[0].tls.certificates[0].cert_file: "` + path("junk.pem") + `" holds no PEM certificate (hint: cert_file holds PEM blocks -----BEGIN CERTIFICATE-----, the server's certificate first, then its intermediates)`,
		}},
		{"swapped", "{cert_file: a.key, key_file: a.pem}", []string{
			file + `:6:23: listeners[0].tls.certificates[0].cert_file: "` + path("a.key") + `" holds no PEM certificate (hint: it holds a private key: are cert_file and key_file swapped?)`,
		}},
		{"key is a certificate", "{cert_file: a.pem, key_file: b.pem}", []string{
			file + `:6:40: listeners[0].tls.certificates[0].key_file: "` + path("b.pem") + `" holds no PEM private key (hint: it holds a certificate: are cert_file and key_file swapped?)`,
		}},
		{"key of another certificate", "{cert_file: a.pem, key_file: b.key}", []string{
			file + `:6:40: listeners[0].tls.certificates[0].key_file: the private key in "` + path("b.key") + `" does not match the certificate in "` + path("a.pem") + `" (hint: use the key the certificate was issued for (the two files of one pair))`,
		}},
		{"every problem at once", "{cert_file: a.pem, key_file: b.key}\n        - {cert_file: b.pem, key_file: b.key}\n        - {cert_file: nope.pem, key_file: b.key}", []string{
			file + `:6:40: listeners[0].tls.certificates[0].key_file: the private key in "` + path("b.key") + `" does not match the certificate in "` + path("a.pem") + `" (hint: use the key the certificate was issued for (the two files of one pair))`,
			file + `:8:23: listeners[0].tls.certificates[2].cert_file: cannot read "` + path("nope.pem") + `": no such file or directory (hint: check the path; relative ones resolve against the config file's directory, ` + dir + `)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := load(t, dir, "listeners:\n  - name: web\n    address: 127.0.0.1:0\n    tls:\n      certificates:\n        - "+tc.certs+"\n")
			if cfg != nil {
				t.Errorf("Load returned a config with problems")
			}
			var got []string
			for _, d := range diags {
				got = append(got, d.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Load diagnostics =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// handshake runs one TLS handshake against l over loopback TCP, with the
// client asking for serverName ("" sends no SNI) and resuming sessions
// from cache when it is not nil. It returns the server certificate's
// common name and whether the session was resumed.
func handshake(t *testing.T, l *Listener, ca *testenv.CA, serverName string, cache tls.ClientSessionCache) (string, bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		server := tls.Server(c, l.Config())
		if err := server.Handshake(); err != nil {
			done <- err
			return
		}
		// One byte after the handshake: a TLS 1.3 client reads the
		// session ticket, sent before it, on its way.
		_, err = server.Write([]byte("y"))
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	client := tls.Client(c, &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: serverName == "" || strings.HasPrefix(serverName, "other"),
		RootCAs:            ca.Pool,
		ClientSessionCache: cache,
	})
	if err := client.Handshake(); err != nil {
		t.Fatalf("handshake with SNI %q: %v", serverName, err)
	}
	if _, err := client.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read after the handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	st := client.ConnectionState()
	return st.PeerCertificates[0].Subject.CommonName, st.DidResume
}

// listener builds a Listener from certificates for the given names, one
// certificate per entry.
func listener(t *testing.T, ca *testenv.CA, names ...[]string) (*Listener, *tls.Config) {
	t.Helper()
	live := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	for _, hosts := range names {
		certPEM, keyPEM := ca.Leaf(t, hosts...)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		live.Certificates = append(live.Certificates, c)
	}
	return NewListener(live), live
}

func TestSNISelection(t *testing.T) {
	ca := testenv.NewCA(t)
	l, _ := listener(t, ca, []string{"a.example", "www.a.example"}, []string{"b.example", "*.b.example"})
	for _, tc := range []struct{ name, sni, want string }{
		{"first certificate's name", "www.a.example", "a.example"},
		{"second certificate's name", "b.example", "b.example"},
		{"second certificate's wildcard", "api.b.example", "b.example"},
		{"no match: the first", "other.example", "a.example"},
		{"no SNI: the first", "", "a.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := handshake(t, l, ca, tc.sni, nil); got != tc.want {
				t.Errorf("handshake with SNI %q got certificate %q, want %q", tc.sni, got, tc.want)
			}
		})
	}
}

func TestListenerStore(t *testing.T) {
	ca := testenv.NewCA(t)
	// The first name is the common name, telling the two apart.
	l, _ := listener(t, ca, []string{"v1", "a.example"})
	cache := tls.NewLRUClientSessionCache(4)
	if got, _ := handshake(t, l, ca, "a.example", cache); got != "v1" {
		t.Fatalf("first handshake got %q, want v1", got)
	}
	_, next := listener(t, ca, []string{"v2", "a.example"})
	l.Store(next)
	if got, _ := handshake(t, l, ca, "a.example", nil); got != "v2" {
		t.Errorf("after Store a new handshake got %q, want v2", got)
	}
	// A client with a ticket from before resumes: the ticket keys are the
	// Listener's, not the stored configuration's.
	if _, resumed := handshake(t, l, ca, "a.example", cache); !resumed {
		t.Errorf("a session from before Store was not resumed")
	}
}

func TestMisdirected(t *testing.T) {
	ca := testenv.NewCA(t)
	_, c := listener(t, ca,
		[]string{"a.test", "127.0.0.1", "::1"},
		[]string{"b.test"},
		[]string{"c.test", "d.test"},
		[]string{"*.w.test"},
	)
	for _, tc := range []struct {
		name, sni, host string
		want            bool
	}{
		{"host is the server name", "a.test", "a.test", false},
		{"port and case ignored", "a.test", "A.Test:8443", false},
		{"trailing dot ignored", "a.test", "a.test.", false},
		{"another certificate's host", "a.test", "b.test", true},
		{"another certificate's host with a port", "b.test", "a.test:443", true},
		{"a name of the same certificate", "c.test", "d.test", false},
		{"the same wildcard", "x.w.test", "y.w.test", false},
		{"wildcard covers one label only", "x.w.test", "y.z.w.test", true},
		{"no certificate covers the host", "a.test", "e.test", true},
		{"an IP address of the same certificate", "a.test", "127.0.0.1:8443", false},
		{"IPv6 in brackets", "a.test", "[::1]:8443", false},
		{"IP address no certificate covers", "b.test", "[::2]", true},
		{"server name no certificate covers: the first was served", "e.test", "a.test", false},
		{"server name no certificate covers, host of another", "e.test", "b.test", true},
		{"server name no certificate covers is its own host", "e.test", "e.test", false},
		{"no server name (connected by IP)", "", "b.test", false},
		{"no host", "a.test", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := &tls.ConnectionState{ServerName: tc.sni}
			if got := Misdirected(c, cs, tc.host); got != tc.want {
				t.Errorf("Misdirected(SNI %q, host %q) = %t, want %t", tc.sni, tc.host, got, tc.want)
			}
		})
	}
	if Misdirected(nil, &tls.ConnectionState{ServerName: "a.test"}, "b.test") {
		t.Errorf("Misdirected on a listener without TLS = true, want false")
	}
	// The request path calls it for every request over TLS.
	cs := &tls.ConnectionState{ServerName: "c.test"}
	for _, host := range []string{"c.test", "d.test:443", "b.test", "[::1]:8443"} {
		if n := testing.AllocsPerRun(100, func() { Misdirected(c, cs, host) }); n != 0 {
			t.Errorf("Misdirected(SNI c.test, host %q) allocates %v times, want 0", host, n)
		}
	}
}
