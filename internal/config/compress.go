package config

// Compress configures response compression on a route (kind: compress).
type Compress struct {
	// Encodings in server preference order (default [zstd, br, gzip]).
	Encodings []string `yaml:"encodings"`
	// Levels per encoding name; unset ones use the encoder's default.
	Levels map[string]int `yaml:"levels"`
	// MinLength: responses with a known length below it pass through
	// (default 256B).
	MinLength Size `yaml:"min_length"`
	// Types are the compressible media types; "text/*" matches a whole
	// top-level type (default: text/*, JSON, JavaScript, XML, SVG, wasm...).
	Types []string `yaml:"types"`
}
