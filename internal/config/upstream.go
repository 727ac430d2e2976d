package config

// Upstream is a named pool of backends with a balancing policy.
type Upstream struct {
	Name string `yaml:"name"`
	// Policy is the balancing policy, one of balancingPolicies:
	// round_robin (default).
	Policy   string    `yaml:"policy"`
	Backends []Backend `yaml:"backends"`
	// Protocol spoken to the backends, one of backendProtocols: http1
	// (default) or h2c.
	Protocol string           `yaml:"protocol"`
	Timeouts UpstreamTimeouts `yaml:"timeouts"`
	// MaxIdleConns bounds idle keep-alive connections kept per backend
	// (default 64); 0 keeps none.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// Forwarded adds an RFC 7239 Forwarded header beside X-Forwarded-*
	// (default false).
	Forwarded bool `yaml:"forwarded"`
}

// Backend is one server address in an upstream.
type Backend struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// Weight is the backend's share for weighted policies (default 1).
	Weight int `yaml:"weight"`
}

// UpstreamTimeouts bound each phase of a backend exchange. Zero disables a
// timeout.
type UpstreamTimeouts struct {
	// Connect bounds dialing a backend (default 5s).
	Connect Duration `yaml:"connect"`
	// ResponseHeader bounds the wait for the response head after the
	// request was sent (default 60s); exceeding it gives 504.
	ResponseHeader Duration `yaml:"response_header"`
	// Read bounds each wait for the next bytes of a response body once
	// the head has arrived (default 60s), nginx's proxy_read_timeout;
	// exceeding it aborts the response.
	Read Duration `yaml:"read"`
	// Write bounds each wait of a write of the request to a backend that
	// is not reading it (default 60s), nginx's proxy_send_timeout;
	// exceeding it before any response gives 504.
	Write Duration `yaml:"write"`
	// Idle is how long an unused pooled connection is kept (default 90s).
	Idle Duration `yaml:"idle"`
}

// balancingPolicies are the values Upstream.Policy accepts; adding a policy
// to package lb means adding its name here.
func balancingPolicies() []string {
	return []string{"round_robin"}
}

// backendProtocols are the values Upstream.Protocol accepts.
func backendProtocols() []string {
	return []string{"http1", "h2c"}
}
