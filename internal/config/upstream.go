package config

// Upstream is a named pool of backends with a balancing policy, health
// checks, retries and limits. docs/load-balancing.md and
// docs/health-checks.md describe every key.
type Upstream struct {
	Name string `yaml:"name"`
	// Policy is the balancing policy, one of balancingPolicies:
	// round_robin (default), least_conn, p2c, random, ip_hash, hash,
	// consistent_hash, ewma.
	Policy string `yaml:"policy"`
	// HashKey is what the hash policies (hash, consistent_hash) hash:
	// client_ip (default), header:NAME, cookie:NAME or query:NAME. A
	// request without the value falls back to its client IP.
	HashKey string `yaml:"hash_key"`
	// BalanceFactor bounds the load of consistent_hash: no backend takes
	// more than BalanceFactor times the average in-flight requests
	// (default 1.25, HAProxy's hash-balance-factor 125). It must be above 1.
	BalanceFactor Ratio `yaml:"balance_factor"`
	// EWMADecay is the time constant of the ewma policy's latency average
	// (default 10s, as Finagle and Linkerd).
	EWMADecay Duration  `yaml:"ewma_decay"`
	Backends  []Backend `yaml:"backends"`
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
	// SlowStart ramps the share of a backend that is added or recovers
	// from zero to its weight over this window (default 0: off).
	SlowStart Duration `yaml:"slow_start"`
	// Sticky pins a client to a backend with a signed cookie; nil is off.
	Sticky *Sticky `yaml:"sticky"`
	// HealthCheck is the active health check; nil sends no probe.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// PassiveHealth ejects backends that fail real requests (on by
	// default).
	PassiveHealth PassiveHealth  `yaml:"passive_health"`
	Retries       Retries        `yaml:"retries"`
	Limits        UpstreamLimits `yaml:"limits"`
	// Resolve sets how backend addresses written as host names are
	// resolved and refreshed.
	Resolve Resolve `yaml:"resolve"`
}

// Backend is one server address in an upstream.
type Backend struct {
	// Address is host:port; a host name is resolved, every address it
	// has becoming a backend.
	Address string `yaml:"address"`
	// Weight is the backend's share for weighted policies (default 1).
	Weight int `yaml:"weight"`
	// Backup backends get requests only when no primary one is available.
	Backup bool `yaml:"backup"`
	// Drain stops new requests to the backend; those in flight finish and
	// its idle connections close.
	Drain bool `yaml:"drain"`
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

// Sticky is cookie-based session affinity. The cookie names a backend by
// an opaque, HMAC-signed value, so a client cannot choose a backend.
type Sticky struct {
	// Cookie is the cookie's name (default palisade_backend).
	Cookie string `yaml:"cookie"`
	// Secret signs the cookie; write it as ${ENV} to keep it out of the
	// file. Empty: a random secret per process, so pins do not survive a
	// restart nor span a fleet.
	Secret string `yaml:"secret"`
	// MaxAge is the cookie's lifetime (default 0: a session cookie).
	MaxAge Duration `yaml:"max_age"`
	// Path of the cookie (default /).
	Path string `yaml:"path"`
	// Secure marks the cookie Secure (default false; set it behind TLS).
	Secure bool `yaml:"secure"`
	// HTTPOnly hides the cookie from scripts (default true).
	HTTPOnly bool `yaml:"http_only"`
	// SameSite is lax (default), strict, none or "" to leave it out.
	SameSite string `yaml:"same_site"`
}

// HealthCheck is an upstream's active health check: a probe per backend
// every interval, on its own goroutine, never on the request path.
type HealthCheck struct {
	// Type is http (default), tcp or grpc (grpc.health.v1).
	Type string `yaml:"type"`
	// Interval between probes of one backend (default 5s).
	Interval Duration `yaml:"interval"`
	// Timeout bounds one probe (default 2s).
	Timeout Duration `yaml:"timeout"`
	// Rise is how many passing probes in a row bring a backend up
	// (default 2); Fall how many failing ones take it down (default 3).
	Rise int `yaml:"rise"`
	Fall int `yaml:"fall"`
	// Jitter spreads probes by up to this share of the interval either
	// way, so instances started together do not probe in step (default 10%).
	Jitter Ratio `yaml:"jitter"`
	// Port probes another port than the backend's (default 0: the same).
	Port int `yaml:"port"`

	// Path, Method, Host and Headers shape an http probe's request
	// (defaults /, GET, the backend address, none).
	Path    string            `yaml:"path"`
	Method  string            `yaml:"method"`
	Host    string            `yaml:"host"`
	Headers map[string]string `yaml:"headers"`
	// ExpectStatus lists the passing statuses of an http probe, each a
	// code (200) or a range (200-399) (default [200-399]).
	ExpectStatus []string `yaml:"expect_status"`
	// ExpectBody, when set, must occur in the first 64 KiB of the body.
	ExpectBody string `yaml:"expect_body"`

	// Service is the grpc probe's service name (default "": the server as
	// a whole).
	Service string `yaml:"service"`
}

// PassiveHealth is outlier detection: backends that fail real requests are
// ejected for a while, as Envoy's outlier_detection and nginx's
// max_fails/fail_timeout do.
type PassiveHealth struct {
	// Enabled turns it on (default true).
	Enabled bool `yaml:"enabled"`
	// ConsecutiveFailures is how many connect failures, resets and
	// timeouts in a row eject a backend (default 5; 0 turns the rule off).
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// ErrorRatio ejects a backend whose share of 5xx responses and
	// failures over Window reaches it, once it served MinRequests in the
	// window (default 50%; 0 turns the rule off).
	ErrorRatio  Ratio    `yaml:"error_ratio"`
	MinRequests int      `yaml:"min_requests"`
	Window      Duration `yaml:"window"`
	// EjectTime is the first ejection's length (default 30s); each
	// ejection in a row adds as much again, up to MaxEjectTime (default
	// 5m).
	EjectTime    Duration `yaml:"eject_time"`
	MaxEjectTime Duration `yaml:"max_eject_time"`
	// MaxEjected is the largest share of an upstream's backends ejected
	// at once (default 50%). One backend may always be ejected, and one is
	// never: the only backend of an upstream stays in rotation.
	MaxEjected Ratio `yaml:"max_ejected"`
}

// Retries says when a failed request goes to another backend.
type Retries struct {
	// Attempts is the most tries of one request, the first included
	// (default 3; 1 retries nothing). A connect failure, where nothing
	// was sent, is always tried on another backend while one is left.
	Attempts int `yaml:"attempts"`
	// PerTryTimeout bounds each try's wait for a response head (default
	// 0: timeouts.response_header alone).
	PerTryTimeout Duration `yaml:"per_try_timeout"`
	// OnStatus lists backend statuses retried like failures (default
	// [502, 503, 504]) when no byte has reached the client yet.
	OnStatus []int `yaml:"on_status"`
	// NonIdempotent retries POST, PATCH and other non-idempotent methods
	// too (default false; a route can opt in alone).
	NonIdempotent bool `yaml:"non_idempotent"`
	// BodyBuffer is the most of a request body kept for replay (default
	// 64KiB); a request with a larger body is not retried once sent.
	BodyBuffer Size `yaml:"body_buffer"`
	// Budget caps retries at this share of requests (default 20%) plus
	// MinPerSecond (default 10), so a sick fleet is not flooded.
	Budget       Ratio `yaml:"budget"`
	MinPerSecond int   `yaml:"min_per_second"`
}

// UpstreamLimits are the circuit breakers of an upstream. Zero is no limit.
type UpstreamLimits struct {
	// MaxConnections bounds the open connections to each backend.
	MaxConnections int `yaml:"max_connections"`
	// MaxRequests bounds the requests in flight to each backend.
	MaxRequests int `yaml:"max_requests"`
	// MaxPending bounds the requests that wait for a backend below its
	// limits when all are at them (default 0: none wait, a fast 503).
	MaxPending int `yaml:"max_pending"`
	// QueueTimeout bounds that wait (default 1s).
	QueueTimeout Duration `yaml:"queue_timeout"`
}

// Resolve configures the resolution of backend host names.
type Resolve struct {
	// Interval is the longest time between two resolutions of a name
	// (default 30s); an answer whose TTL is shorter is refreshed sooner,
	// but not more often than every second.
	Interval Duration `yaml:"interval"`
	// Nameserver is host:port of the DNS server to ask (default: the
	// system's resolver, /etc/hosts included).
	Nameserver string `yaml:"nameserver"`
}

// balancingPolicies are the values Upstream.Policy accepts; adding a policy
// to package lb means adding its name here.
func balancingPolicies() []string {
	return []string{"round_robin", "least_conn", "p2c", "random", "ip_hash", "hash", "consistent_hash", "ewma"}
}

// backendProtocols are the values Upstream.Protocol accepts.
func backendProtocols() []string {
	return []string{"http1", "h2c"}
}

// healthCheckTypes are the values HealthCheck.Type accepts.
func healthCheckTypes() []string {
	return []string{"http", "tcp", "grpc"}
}
