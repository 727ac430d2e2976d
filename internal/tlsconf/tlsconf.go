package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"palisade/internal/config"
)

// Load reads the certificate files of the tls block of listener i of cfg,
// which has passed config validation, and returns the configuration a
// handshake on that listener uses. It reads the files every time: a
// reload picks up replaced certificates. Every file that cannot be used
// (missing, unreadable, not PEM, a key that does not match its
// certificate) is reported, as diagnostics positioned at its name in cfg;
// the config is then nil.
func Load(cfg *config.Config, i int) (*tls.Config, config.Diagnostics) {
	t := cfg.Listeners[i].TLS
	if t == nil {
		return nil, nil
	}
	var diags config.Diagnostics
	certs := make([]tls.Certificate, 0, len(t.Certificates))
	for j, c := range t.Certificates {
		path := fmt.Sprintf("listeners[%d].tls.certificates[%d]", i, j)
		cert, d := loadPair(cfg, path, c)
		if d != nil {
			diags = append(diags, *d)
			continue
		}
		certs = append(certs, cert)
	}
	if len(diags) > 0 {
		return nil, diags
	}
	return &tls.Config{
		Certificates: certs,
		MinVersion:   tlsVersion(t.MinVersion),
		NextProtos:   append([]string(nil), t.ALPN...),
	}, nil
}

// tlsVersion maps a validated min_version to its crypto/tls constant.
func tlsVersion(v string) uint16 {
	if v == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// loadPair reads one certificate chain and its key. The problem it reports
// is positioned at the file at fault: the key file when the key does not
// match the certificate.
func loadPair(cfg *config.Config, path string, c config.Certificate) (tls.Certificate, *config.Diagnostic) {
	certPath, keyPath := path+".cert_file", path+".key_file"
	certFile, keyFile := c.CertFile, c.KeyFile // resolved by config
	fail := func(at, message, hint string) (tls.Certificate, *config.Diagnostic) {
		d := cfg.Diagnostic(at, message, hint)
		return tls.Certificate{}, &d
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return fail(certPath, readProblem(certFile, err), readHint(cfg, err))
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return fail(keyPath, readProblem(keyFile, err), readHint(cfg, err))
	}
	leaf, problem := firstCertificate(certPEM)
	if problem != "" {
		hint := "cert_file holds PEM blocks -----BEGIN CERTIFICATE-----, the server's certificate first, then its intermediates"
		if hasBlock(certPEM, "PRIVATE KEY") {
			hint = "it holds a private key: are cert_file and key_file swapped?"
		}
		return fail(certPath, strconv.Quote(certFile)+" "+problem, hint)
	}
	if !hasBlock(keyPEM, "PRIVATE KEY") {
		hint := "key_file holds one PEM block -----BEGIN PRIVATE KEY----- (or RSA or EC PRIVATE KEY), unencrypted"
		if hasBlock(keyPEM, "CERTIFICATE") {
			hint = "it holds a certificate: are cert_file and key_file swapped?"
		}
		return fail(keyPath, strconv.Quote(keyFile)+" holds no PEM private key", hint)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		if strings.Contains(msg, "does not match") {
			return fail(keyPath, fmt.Sprintf("the private key in %q does not match the certificate in %q", keyFile, certFile),
				"use the key the certificate was issued for (the two files of one pair)")
		}
		return fail(keyPath, fmt.Sprintf("%q cannot be used: %s", keyFile, msg), "")
	}
	if pair.Leaf == nil {
		pair.Leaf = leaf
	}
	return pair, nil
}

// firstCertificate parses the first CERTIFICATE block of data; problem
// says what is wrong when there is none that parses.
func firstCertificate(data []byte) (*x509.Certificate, string) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, "holds no PEM certificate"
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, "holds a certificate that cannot be parsed: " + strings.TrimPrefix(err.Error(), "x509: ")
		}
		return leaf, ""
	}
}

// hasBlock reports whether data holds a PEM block whose type ends in
// suffix ("PRIVATE KEY" finds RSA and EC keys too), as tls.X509KeyPair
// looks for keys.
func hasBlock(data []byte, suffix string) bool {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if strings.HasSuffix(b.Type, suffix) {
			return true
		}
	}
}

// readProblem says why file could not be read, without repeating its
// name twice.
func readProblem(file string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("cannot read %q: %v", file, err)
}

func readHint(cfg *config.Config, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist) && cfg.Dir != "":
		return "check the path; relative ones resolve against the config file's directory, " + cfg.Dir
	case errors.Is(err, fs.ErrNotExist):
		return "check the path"
	case errors.Is(err, fs.ErrPermission):
		return "palisade needs read permission on the file"
	}
	return ""
}

// Listener is the TLS side of one open listener, kept by the gateway for as
// long as the listener serves TLS. Config is the configuration the socket
// terminates TLS with; each handshake gets, through its
// GetConfigForClient, the configuration passed to Store last. Store and
// handshakes may run concurrently.
type Listener struct {
	config *tls.Config
	live   atomic.Pointer[tls.Config]
}

// NewListener returns a Listener whose handshakes use live until the next
// Store.
func NewListener(live *tls.Config) *Listener {
	l := &Listener{}
	l.live.Store(live)
	// Only GetConfigForClient is set: session ticket keys are then this
	// config's own, created and rotated by crypto/tls, and stay valid
	// across Store.
	l.config = &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return l.live.Load(), nil },
	}
	return l
}

// Config returns the configuration to terminate TLS with. It is the same
// for the life of l; do not modify it.
func (l *Listener) Config() *tls.Config { return l.config }

// Store makes live, a configuration returned by Load, the one new
// handshakes use. Connections already established keep theirs.
func (l *Listener) Store(live *tls.Config) { l.live.Store(live) }

// Misdirected reports whether a request for host, its Host header or
// :authority, must be answered 421 Misdirected Request (RFC 9110
// §15.5.20) rather than served on the connection whose handshake state is
// cs, accepted by a listener whose certificates are those of c (a
// configuration Load returned; nil for a plain listener).
//
// HTTP/2 clients reuse a connection for every host its certificate
// covers (RFC 9113 §9.1.1), so a request may arrive on a connection whose
// server name (SNI) chose another certificate than its host would have,
// and a request may name a host the client never checked a certificate
// for. Misdirected is true when the client sent a server name and host,
// compared without its port and case-insensitively, differs from it and
// either no certificate of c covers host or the first that does is not
// the one the server name selects (the first covering it, else the
// first, as crypto/tls chooses). A client that sent no server name
// (it connected by IP address) is never misdirected, nor a request
// without a host.
//
// c is the listener's current configuration: after a reload that changed
// the certificates, a connection made before is judged by the new set.
// Misdirected does not allocate. It is cheapest, a comparison, when host
// is the server name, as it is on every connection not coalesced.
func Misdirected(c *tls.Config, cs *tls.ConnectionState, host string) bool {
	if c == nil || cs == nil || cs.ServerName == "" {
		return false
	}
	host = hostname(host)
	if host == "" || strings.EqualFold(host, cs.ServerName) {
		return false
	}
	want := firstCovering(c.Certificates, host)
	if want < 0 {
		return true
	}
	got := max(firstCovering(c.Certificates, cs.ServerName), 0)
	return want != got
}

// hostname returns the host of a Host header value without its port,
// brackets or trailing dot: "a.example" for "A.example.:8443", "::1" for
// "[::1]:8443".
func hostname(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	// One colon separates a port; more are a bare IPv6 address.
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// firstCovering returns the index of the first certificate whose leaf
// covers host, or -1.
func firstCovering(certs []tls.Certificate, host string) int {
	for i := range certs {
		if covers(certs[i].Leaf, host) {
			return i
		}
	}
	return -1
}

// covers reports whether leaf is valid for host, as
// x509.Certificate.VerifyHostname decides (an IP address against the IP
// address names, any other host against the DNS names, exact or with a
// "*." wildcard for one whole left-most label), without allocating. A nil
// leaf covers nothing.
func covers(leaf *x509.Certificate, host string) bool {
	if leaf == nil {
		return false
	}
	if a, ok := parseIP(host); ok {
		for _, ip := range leaf.IPAddresses {
			if b, ok := netip.AddrFromSlice(ip); ok && b.Unmap() == a {
				return true
			}
		}
		return false
	}
	for _, name := range leaf.DNSNames {
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && strings.EqualFold(host[i+1:], rest) {
				return true
			}
			continue
		}
		if strings.EqualFold(name, host) {
			return true
		}
	}
	return false
}

// parseIP parses host as an IP address, unmapped and without a zone. It
// tries only what could be one, a host with a colon or of digits and
// dots, because netip.ParseAddr allocates its error for a name.
func parseIP(host string) (netip.Addr, bool) {
	if strings.IndexByte(host, ':') < 0 && strings.Trim(host, "0123456789.") != "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}
