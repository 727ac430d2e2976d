package config

import "net/netip"

// Listener is an address Palisade accepts HTTP on: HTTP/1.1 and h2c (prior
// knowledge) on the same port, or, with a tls block, HTTPS: HTTP/2 and
// HTTP/1.1 chosen through ALPN.
type Listener struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// TrustedProxies are the peers whose X-Forwarded-* and Forwarded
	// headers are believed and extended; from anyone else they are
	// replaced.
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies"`
	// IPFilter, when set, allows and denies connections by TCP peer
	// address at accept, before TLS and HTTP: a denied peer is closed at
	// once. The peer is the address that connected (a proxy in front, if
	// any), never one named by X-Forwarded-For; a route's kind: ipfilter
	// reads the client address resolved through TrustedProxies.
	IPFilter *IPFilter        `yaml:"ip_filter"`
	Timeouts ListenerTimeouts `yaml:"timeouts"`
	Limits   ListenerLimits   `yaml:"limits"`
	// UnderscoresInHeaders says what happens to a request field whose
	// name holds an underscore: "drop" (default) removes it, "keep"
	// forwards it, "reject" answers 400. CGI, FastCGI, WSGI and Rack
	// backends read "_" and "-" alike, so Transfer_Encoding or
	// X_Forwarded_For would reach them as the field it imitates.
	UnderscoresInHeaders string `yaml:"underscores_in_headers"`
	// TLS, when set, terminates TLS on the listener; nil serves plain
	// HTTP.
	TLS *ListenerTLS `yaml:"tls"`
}

// ListenerTimeouts bound each phase of a client connection. Zero disables a
// timeout.
type ListenerTimeouts struct {
	// ReadHeader is the time allowed to read one request head (default 10s).
	ReadHeader Duration `yaml:"read_header"`
	// ReadBody is the longest gap between two reads of a request body
	// (default 60s).
	ReadBody Duration `yaml:"read_body"`
	// Write is the longest a write to the client may block (default 60s).
	Write Duration `yaml:"write"`
	// Idle is how long a keep-alive connection may wait for its next
	// request (default 75s).
	Idle Duration `yaml:"idle"`
	// Shutdown is how long a removed listener or a stopping process waits
	// for requests in flight before closing connections (default 30s).
	Shutdown Duration `yaml:"shutdown"`
}

// ListenerLimits bound what one request may carry.
type ListenerLimits struct {
	// MaxHeaderBytes bounds the request line plus header section; more gets
	// 431 (default 32KiB).
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
	// MaxHeaderCount bounds the number of header field lines; more gets 431
	// (default 100).
	MaxHeaderCount int `yaml:"max_header_count"`
	// MaxBodyBytes bounds a request body; more gets 413. 0 means no limit
	// (default 64MiB).
	MaxBodyBytes Size `yaml:"max_body_bytes"`
}

// underscorePolicies are the values Listener.UnderscoresInHeaders accepts.
func underscorePolicies() []string { return []string{"drop", "keep", "reject"} }
