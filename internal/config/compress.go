package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Compress configures response compression on a route (kind: compress).
type Compress struct {
	// Encodings in server preference order (default [zstd, gzip, br]). The
	// preference breaks ties between codings the client weighs equally.
	Encodings []string `yaml:"encodings"`
	// Levels per encoding name; unset ones use DefaultCompressLevel. Ranges:
	// gzip 1–9, br 0–11, zstd 1–22 (mapped onto the encoder's four speeds:
	// 1–2 fastest, 3–5 default, 6–9 better, 10–22 best).
	Levels map[string]int `yaml:"levels"`
	// MinLength: responses with a known length below it pass through
	// (default 256B). A response without Content-Length is compressed
	// whatever its size, as nginx's gzip_min_length does.
	MinLength Size `yaml:"min_length"`
	// Types are the compressible media types, matched against the response
	// Content-Type without its parameters and ignoring case: "type/subtype"
	// exactly, "text/*" a whole top-level type, "application/*+json" a
	// structured syntax suffix (default: text/*, JSON, JavaScript, XML, SVG,
	// wasm and the other types in DefaultCompress).
	Types []string `yaml:"types"`
}

var _ middlewareBody = (*Compress)(nil)

// DefaultCompress returns the defaults of a compress middleware. Levels is
// left empty: a level map pre-filled here would be merged with the one
// written in the document and then name encodings the route does not list.
func DefaultCompress() Compress {
	return Compress{
		Encodings: []string{"zstd", "gzip", "br"},
		MinLength: 256,
		Types: []string{
			"text/*",
			"application/json",
			"application/*+json",
			"application/x-ndjson",
			"application/javascript",
			"application/ecmascript",
			"application/x-javascript",
			"application/xml",
			"application/*+xml",
			"application/wasm",
			"application/vnd.ms-fontobject",
			"application/x-font-ttf",
			"font/ttf",
			"font/otf",
			"image/svg+xml",
			"image/x-icon",
			"image/bmp",
		},
	}
}

// DefaultCompressLevel returns the level an encoding uses when Levels does
// not name it, and false for an unknown encoding. The defaults were chosen by
// measurement on 64 KiB JSON arrays (docs/compression.md has the table):
// zstd 3 is the best-compressing level that is still faster than zlib (and
// nginx) gzip level 1, gzip 5 the highest level of our deflate encoder that
// is, and br 4 the lowest brotli quality whose ratio clearly beats gzip 5;
// lower qualities cost more than gzip 5 and compress less.
func DefaultCompressLevel(encoding string) (int, bool) {
	switch encoding {
	case "zstd":
		return 3, true
	case "br":
		return 4, true
	case "gzip":
		return 5, true
	}
	return 0, false
}

// Level returns the level c uses for encoding: the configured one or the
// default.
func (c *Compress) Level(encoding string) int {
	if l, ok := c.Levels[encoding]; ok {
		return l
	}
	l, _ := DefaultCompressLevel(encoding)
	return l
}

// compressLevelRange returns the levels an encoding's library accepts.
func compressLevelRange(encoding string) (lo, hi int) {
	switch encoding {
	case "zstd":
		return 1, 22
	case "br":
		return 0, 11
	default: // gzip
		return 1, 9
	}
}

const compressValidEncodings = "zstd, br, gzip"

func (c *Compress) setDefaults() { *c = DefaultCompress() }

func (c *Compress) check() []Problem {
	var ps []Problem
	if len(c.Encodings) == 0 {
		ps = append(ps, Problem{Field: "encodings", Message: "no encodings: nothing would be compressed",
			Hint: "remove the key for the default [" + compressValidEncodings + "] or remove the middleware"})
	}
	for i, e := range c.Encodings {
		field := fmt.Sprintf("encodings[%d]", i)
		if _, ok := DefaultCompressLevel(e); !ok {
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("unknown encoding %q", e),
				Hint: encodingHint(e)})
			continue
		}
		if j := slices.Index(c.Encodings, e); j < i {
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("encoding %q is listed twice (first at encodings[%d])", e, j),
				Hint: "list each encoding once, in preference order"})
		}
	}
	for _, e := range slices.Sorted(maps.Keys(c.Levels)) {
		field := "levels." + e
		if _, ok := DefaultCompressLevel(e); !ok {
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("level for unknown encoding %q", e),
				Hint: encodingHint(e)})
			continue
		}
		if !slices.Contains(c.Encodings, e) {
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("level for %s, which is not in encodings", e),
				Hint: fmt.Sprintf("add %s to encodings or remove this level", e)})
			continue
		}
		if lo, hi := compressLevelRange(e); c.Levels[e] < lo || c.Levels[e] > hi {
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("%s level %d is out of range", e, c.Levels[e]),
				Hint: fmt.Sprintf("%s levels are %d to %d", e, lo, hi)})
		}
	}
	if c.MinLength < 0 {
		ps = append(ps, Problem{Field: "min_length", Message: fmt.Sprintf("negative size %d", int64(c.MinLength)),
			Hint: "write a size such as 256B or 1KiB, or 0 to compress every length"})
	}
	if len(c.Types) == 0 {
		ps = append(ps, Problem{Field: "types", Message: "no types: nothing would be compressed",
			Hint: "remove the key for the default list"})
	}
	for i, t := range c.Types {
		if msg, hint := checkMediaPattern(t); msg != "" {
			ps = append(ps, Problem{Field: fmt.Sprintf("types[%d]", i), Message: fmt.Sprintf("%q %s", t, msg), Hint: hint})
		}
	}
	return ps
}

// encodingHint suggests the valid spelling of an unknown encoding name.
func encodingHint(e string) string {
	switch strings.ToLower(e) {
	case "brotli":
		return "brotli is spelled br; valid encodings: " + compressValidEncodings
	case "x-gzip":
		return "x-gzip is spelled gzip; valid encodings: " + compressValidEncodings
	case "zstandard":
		return "zstandard is spelled zstd; valid encodings: " + compressValidEncodings
	case "gzip", "br", "zstd":
		return "encoding names are lowercase; valid encodings: " + compressValidEncodings
	}
	return "valid encodings: " + compressValidEncodings
}

// checkMediaPattern returns what is wrong with a media type pattern and how
// to fix it, or "" when it is valid. RFC 9110 §8.3.1: type and subtype are
// tokens; the pattern may replace the whole subtype with "*", or the name
// before a structured syntax suffix (RFC 6838 §4.2.8) with "*".
func checkMediaPattern(p string) (problem, hint string) {
	const shapes = `write type/subtype ("application/json"), type/* ("text/*") or type/*+suffix ("application/*+json")`
	typ, sub, ok := strings.Cut(p, "/")
	switch {
	case !ok:
		return "is not a media type", shapes
	case strings.Contains(p, ";"):
		bare, _, _ := strings.Cut(p, ";")
		return "has parameters, which are not matched", fmt.Sprintf("write %q", strings.TrimSpace(bare))
	case typ == "*":
		return "matches every type, images and archives included", "list the types worth compressing"
	case !isToken(typ) || strings.Contains(typ, "*"):
		return "has a bad type name", shapes
	case sub == "*":
		return "", ""
	case strings.HasPrefix(sub, "*+"):
		if !isToken(sub[2:]) || strings.Contains(sub[2:], "*") {
			return "has a bad suffix after *+", shapes
		}
		return "", ""
	case !isToken(sub) || strings.Contains(sub, "*"):
		return "has a bad subtype name", shapes
	}
	return "", ""
}
