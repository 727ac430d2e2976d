package config

// Config is one palisade.yaml document.
type Config struct {
	Runtime   Runtime    `yaml:"runtime"`
	AccessLog AccessLog  `yaml:"access_log"`
	Listeners []Listener `yaml:"listeners"`
	Routes    []Route    `yaml:"routes"`
	Upstreams []Upstream `yaml:"upstreams"`
	// CacheZones are the stores that cache middlewares name.
	CacheZones []CacheZone `yaml:"cache_zones"`
	// RateLimitZones are the stores that ratelimit middlewares name.
	RateLimitZones []RateLimitZone `yaml:"ratelimit_zones"`

	// File is the path the document was read from ("" for bytes), or the
	// name diagnostics give it.
	File string `yaml:"-"`
	// Dir is the directory the relative file paths of the document were
	// resolved against: the absolute directory of the file Load read, or
	// "" for a document Parse decoded from bytes, whose relative paths
	// stay relative to the working directory. Every file path in a
	// Config (access_log.output when a file, the certificate and key
	// files of listeners) is already resolved: open it as it is.
	Dir string `yaml:"-"`
	// Positions maps the path of every value written in the document
	// ("routes[2]", "routes[2].match", "routes[2].match.headers.X-Canary")
	// to where it was written; "" is the document itself. Use Pos, which
	// falls back to the enclosing value for a path the document does not
	// write, to position diagnostics raised after Parse.
	Positions map[string]Pos `yaml:"-"`
}

// Runtime tunes the Go runtime for the process.
type Runtime struct {
	// GOGC is the garbage collector target percentage (default 200); -1
	// turns the collector off, like GOGC=off, and 0 is rejected. The GOGC
	// environment variable, when set, wins.
	GOGC int `yaml:"gogc"`
	// MemoryLimit is the soft memory limit (default: none; GOMEMLIMIT wins).
	MemoryLimit Size `yaml:"memory_limit"`
}

// AccessLog configures the one JSON line written per request.
type AccessLog struct {
	// Output is "stdout" (default), "stderr", "off", or a file path,
	// relative to the config file's directory (see Config.Dir).
	Output string `yaml:"output"`
	// Buffer collects lines and writes them in one call when full or
	// after FlushInterval, saving a write per request (default 64KiB;
	// 0 writes every line at once, as nginx's access_log without buffer=).
	Buffer Size `yaml:"buffer"`
	// FlushInterval bounds how long a line may wait in the buffer
	// (default 1s).
	FlushInterval Duration `yaml:"flush_interval"`
}
