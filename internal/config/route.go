package config

// Route matches requests and sends them through its middlewares to an
// upstream.
type Route struct {
	Name string `yaml:"name"`
	// Listeners restricts the route to the named listeners (default: all).
	Listeners []string `yaml:"listeners"`
	Match     Match    `yaml:"match"`
	// Priority overrides specificity: a higher priority is tried first
	// (default 0).
	Priority    int          `yaml:"priority"`
	Middlewares []Middleware `yaml:"middlewares"`
	Upstream    string       `yaml:"upstream"`
	// RetryNonIdempotent lets this route's POST, PATCH and other
	// non-idempotent requests be retried under the upstream's retries
	// (default false), as the upstream's retries.non_idempotent does for
	// every route.
	RetryNonIdempotent bool `yaml:"retry_non_idempotent"`
}

// Match holds a route's predicates; all that are set must hold. At most one
// of Path, PathPrefix and PathRegex may be set.
type Match struct {
	// Host is one host or a list; "*.example.com" matches any subdomain
	// label sequence of example.com but not example.com itself.
	Host       StringList        `yaml:"host"`
	Path       string            `yaml:"path"`
	PathPrefix string            `yaml:"path_prefix"`
	PathRegex  string            `yaml:"path_regex"`
	Methods    []string          `yaml:"methods"`
	Headers    map[string]string `yaml:"headers"`
	Query      map[string]string `yaml:"query"`
	Cookies    map[string]string `yaml:"cookies"`
}

// Middleware is one entry of a route's middlewares: kind selects the feature
// and the other keys beside it are that feature's typed body. Exactly one
// body pointer is set after decoding.
type Middleware struct {
	Kind      string     `yaml:"kind"`
	Auth      *Auth      `yaml:"-" kind:"auth"`
	Cache     *Cache     `yaml:"-" kind:"cache"`
	Compress  *Compress  `yaml:"-" kind:"compress"`
	IPFilter  *IPFilter  `yaml:"-" kind:"ipfilter"`
	RateLimit *RateLimit `yaml:"-" kind:"ratelimit"`
}

// middlewareBody is implemented by every middleware kind's typed body: the
// decoder calls setDefaults on a new body before decoding into it and check
// during validation.
type middlewareBody interface {
	setDefaults()
	check() []Problem
}
