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
	l.UnderscoresInHeaders = "drop"
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
	u.HashKey = "client_ip"
	u.BalanceFactor = 1.25
	u.EWMADecay = Duration(10 * time.Second)
	u.Protocol = "http1"
	u.Timeouts.setDefaults()
	u.MaxIdleConns = 64
	u.PassiveHealth.setDefaults()
	u.Retries.setDefaults()
	u.Limits.setDefaults()
	u.Resolve.setDefaults()
}

func (s *Sticky) setDefaults() {
	s.Cookie = "palisade_backend"
	s.Path = "/"
	s.HTTPOnly = true
	s.SameSite = "lax"
}

func (h *HealthCheck) setDefaults() {
	h.Type = "http"
	h.Interval = Duration(5 * time.Second)
	h.Timeout = Duration(2 * time.Second)
	h.Rise = 2
	h.Fall = 3
	h.Jitter = 0.1
	h.Path = "/"
	h.Method = "GET"
	h.ExpectStatus = []string{"200-399"}
}

func (p *PassiveHealth) setDefaults() {
	p.Enabled = true
	p.ConsecutiveFailures = 5
	p.ErrorRatio = 0.5
	p.MinRequests = 20
	p.Window = Duration(10 * time.Second)
	p.EjectTime = Duration(30 * time.Second)
	p.MaxEjectTime = Duration(5 * time.Minute)
	p.MaxEjected = 0.5
}

func (r *Retries) setDefaults() {
	r.Attempts = 3
	r.OnStatus = []int{502, 503, 504}
	r.BodyBuffer = 64 << 10
	r.Budget = 0.2
	r.MinPerSecond = 10
}

func (l *UpstreamLimits) setDefaults() {
	l.QueueTimeout = Duration(time.Second)
}

func (r *Resolve) setDefaults() {
	r.Interval = Duration(30 * time.Second)
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
	_ defaulter = (*Sticky)(nil)
	_ defaulter = (*HealthCheck)(nil)
	_ defaulter = (*PassiveHealth)(nil)
	_ defaulter = (*Retries)(nil)
	_ defaulter = (*UpstreamLimits)(nil)
	_ defaulter = (*Resolve)(nil)
)
