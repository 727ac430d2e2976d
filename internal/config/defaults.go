package config

import "time"

// Defaults live here, one setDefaults method per section, and nowhere
// else; docs/config.md lists the same values. The decoder calls
// setDefaults on every value it creates before decoding into it (see
// defaulter), so a value written in the document, zero included, replaces
// its default, and a list or map written replaces a default list or map
// rather than adding to it.

// setDefaults sets the defaults of the sections that are not lists; list
// entries get theirs as the decoder creates them.
func (c *Config) setDefaults() {
	c.Runtime.setDefaults()
	c.AccessLog.setDefaults()
}

func (r *Runtime) setDefaults() {
	r.GOGC = 200
	r.MemoryLimit = 0 // no limit
}

func (a *AccessLog) setDefaults() {
	a.Output = "stdout"
	a.Buffer = 64 << 10
	a.FlushInterval = Duration(time.Second)
}

func (l *Listener) setDefaults() {
	l.Timeouts.setDefaults()
	l.Limits.setDefaults()
}

func (t *ListenerTimeouts) setDefaults() {
	t.ReadHeader = Duration(10 * time.Second)
	t.ReadBody = Duration(60 * time.Second)
	t.Write = Duration(60 * time.Second)
	t.Idle = Duration(75 * time.Second)
	t.Shutdown = Duration(30 * time.Second)
}

func (l *ListenerLimits) setDefaults() {
	l.MaxHeaderBytes = 32 << 10
	l.MaxHeaderCount = 100
	l.MaxBodyBytes = 64 << 20
}

// setDefaults runs when the document writes a tls block; without one
// Listener.TLS stays nil and the listener is plain.
func (t *ListenerTLS) setDefaults() {
	t.MinVersion = "1.2"
	t.ALPN = []string{"h2", "http/1.1"}
}

func (u *Upstream) setDefaults() {
	u.Policy = "round_robin"
	u.Protocol = "http1"
	u.Timeouts.setDefaults()
	u.MaxIdleConns = 64
}

func (t *UpstreamTimeouts) setDefaults() {
	t.Connect = Duration(5 * time.Second)
	t.ResponseHeader = Duration(60 * time.Second)
	t.Read = Duration(60 * time.Second)
	t.Write = Duration(60 * time.Second)
	t.Idle = Duration(90 * time.Second)
}

func (b *Backend) setDefaults() {
	b.Weight = 1
}

var (
	_ defaulter = (*Config)(nil)
	_ defaulter = (*Runtime)(nil)
	_ defaulter = (*AccessLog)(nil)
	_ defaulter = (*Listener)(nil)
	_ defaulter = (*ListenerTimeouts)(nil)
	_ defaulter = (*ListenerLimits)(nil)
	_ defaulter = (*ListenerTLS)(nil)
	_ defaulter = (*Upstream)(nil)
	_ defaulter = (*UpstreamTimeouts)(nil)
	_ defaulter = (*Backend)(nil)
)
