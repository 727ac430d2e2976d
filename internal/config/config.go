package config

// Config is one palisade.yaml document.
type Config struct {
	Runtime   Runtime    `yaml:"runtime"`
	AccessLog AccessLog  `yaml:"access_log"`
	Listeners []Listener `yaml:"listeners"`
	Routes    []Route    `yaml:"routes"`
	Upstreams []Upstream `yaml:"upstreams"`

	// File is the path the document was read from ("" for bytes).
	File string `yaml:"-"`
	// Positions maps a value's path ("routes[2].upstream") to where it was
	// written, for diagnostics raised after decoding.
	Positions map[string]Pos `yaml:"-"`
}

// Runtime tunes the Go runtime for the process.
type Runtime struct {
	// GOGC is the garbage collector target percentage (default 200; the
	// GOGC environment variable, when set, wins).
	GOGC int `yaml:"gogc"`
	// MemoryLimit is the soft memory limit (default: none; GOMEMLIMIT wins).
	MemoryLimit Size `yaml:"memory_limit"`
}

// AccessLog configures the one JSON line written per request.
type AccessLog struct {
	// Output is "stdout" (default), "stderr", "off", or a file path.
	Output string `yaml:"output"`
}
