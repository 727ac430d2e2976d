package config

import (
	"fmt"
	"slices"
	"strconv"
)

// ListenerTLS terminates TLS on a listener (its tls: block). The listener
// then serves HTTPS only: HTTP/2 to clients that negotiate h2 through ALPN,
// HTTP/1.1 to the others. The certificate files are read by package
// tlsconf, on every load and reload; here only their names are checked.
type ListenerTLS struct {
	// Certificates are the certificate chains to serve, each with its
	// private key. A handshake gets the first whose names cover the
	// client's SNI server name; the first is the default when none does or
	// the client sent none.
	Certificates []Certificate `yaml:"certificates"`
	// MinVersion is the oldest TLS version accepted: "1.2" (default) or
	// "1.3".
	MinVersion string `yaml:"min_version"`
	// ALPN lists the application protocols offered, in preference order
	// (default [h2, http/1.1]); [http/1.1] turns HTTP/2 off.
	ALPN []string `yaml:"alpn"`
}

// Certificate is one certificate chain and its private key, as PEM files.
// A relative path is resolved against the directory of the config file
// when the config is loaded (see Config.Dir).
type Certificate struct {
	// CertFile holds the leaf certificate first, then any intermediates.
	CertFile string `yaml:"cert_file"`
	// KeyFile holds the leaf's private key (PKCS #1, PKCS #8 or EC).
	KeyFile string `yaml:"key_file"`
}

// TLSVersions are the values ListenerTLS.MinVersion accepts.
func TLSVersions() []string { return []string{"1.2", "1.3"} }

// ALPNProtocols are the values ListenerTLS.ALPN accepts.
func ALPNProtocols() []string { return []string{"h2", "http/1.1"} }

// listenerTLS checks the tls block at path (nil: the listener is plain).
func (v *validator) listenerTLS(path string, t *ListenerTLS) {
	if t == nil {
		return
	}
	if len(t.Certificates) == 0 {
		v.report(join(path, "certificates"), "no certificates",
			"add at least one, like certificates: [{cert_file: cert.pem, key_file: key.pem}]")
	}
	for i, c := range t.Certificates {
		p := index(join(path, "certificates"), i)
		if c.CertFile == "" {
			v.report(join(p, "cert_file"), "missing", "name the PEM file with the certificate chain, like cert_file: cert.pem")
		}
		if c.KeyFile == "" {
			v.report(join(p, "key_file"), "missing", "name the PEM file with the private key, like key_file: key.pem")
		}
	}
	if !slices.Contains(TLSVersions(), t.MinVersion) {
		hint := oneOfHint(t.MinVersion, "known versions", TLSVersions())
		if t.MinVersion == "1.0" || t.MinVersion == "1.1" {
			hint = "TLS 1.0 and 1.1 are obsolete (RFC 8996); write 1.2"
		}
		v.report(join(path, "min_version"), fmt.Sprintf("unknown TLS version %q", t.MinVersion), hint)
	}
	if len(t.ALPN) == 0 {
		v.report(join(path, "alpn"), "no protocols", "write [h2, http/1.1], or [http/1.1] to turn HTTP/2 off")
	}
	seen := make(map[string]bool)
	for i, proto := range t.ALPN {
		p := index(join(path, "alpn"), i)
		switch {
		case !slices.Contains(ALPNProtocols(), proto):
			v.report(p, fmt.Sprintf("unknown protocol %s", strconv.Quote(proto)), oneOfHint(proto, "known protocols", ALPNProtocols()))
		case seen[proto]:
			v.report(p, fmt.Sprintf("%q is listed twice", proto), "remove one")
		}
		seen[proto] = true
	}
}
