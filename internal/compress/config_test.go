package compress

import (
	"reflect"
	"strings"
	"testing"

	"palisade/internal/config"
)

// parseCompress decodes a document whose only route has the compress
// middleware body mw, written as a YAML flow mapping.
func parseCompress(mw string) (*config.Compress, error) {
	doc := "listeners: [{name: web, address: 127.0.0.1:8080}]\n" +
		"upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]\n" +
		"routes: [{name: a, upstream: api, middlewares: [" + mw + "]}]\n"
	cfg, err := config.Parse("t.yaml", []byte(doc))
	if err != nil {
		return nil, err
	}
	return cfg.Routes[0].Middlewares[0].Compress, nil
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, mw string
		want     func(c *config.Compress)
	}{
		{"bare kind", "{kind: compress}", func(c *config.Compress) {}},
		{"written keys override", "{kind: compress, encodings: [gzip], levels: {gzip: 9}, min_length: 1KiB, types: [text/html]}",
			func(c *config.Compress) {
				c.Encodings, c.Levels, c.MinLength, c.Types = []string{"gzip"}, map[string]int{"gzip": 9}, 1<<10, []string{"text/html"}
			}},
		{"zero min_length compresses every length", "{kind: compress, min_length: 0B}", func(c *config.Compress) { c.MinLength = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCompress(tc.mw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := config.DefaultCompress()
			tc.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("decoded %+v, want %+v", *got, want)
			}
			if _, err := New(*got, nil); err != nil {
				t.Errorf("New(decoded config): %v", err)
			}
		})
	}
}

func TestConfigLevels(t *testing.T) {
	c := config.DefaultCompress()
	c.Levels = map[string]int{"br": 7}
	for _, tc := range []struct {
		encoding string
		want     int
	}{{"zstd", 3}, {"br", 7}, {"gzip", 5}} {
		if got := c.Level(tc.encoding); got != tc.want {
			t.Errorf("Level(%q) = %d, want %d", tc.encoding, got, tc.want)
		}
	}
}

func TestConfigProblems(t *testing.T) {
	const at = "routes[0].middlewares[0]."
	for _, tc := range []struct {
		name, mw string
		want     []string // diagnostics, without file and position
	}{
		{"unknown encoding", "{kind: compress, encodings: [brotli]}",
			[]string{at + `encodings[0]: unknown encoding "brotli" (hint: brotli is spelled br; valid encodings: zstd, br, gzip)`}},
		{"uppercase encoding", "{kind: compress, encodings: [GZIP]}",
			[]string{at + `encodings[0]: unknown encoding "GZIP" (hint: encoding names are lowercase; valid encodings: zstd, br, gzip)`}},
		{"duplicate encoding", "{kind: compress, encodings: [gzip, br, gzip]}",
			[]string{at + `encodings[2]: encoding "gzip" is listed twice (first at encodings[0]) (hint: list each encoding once, in preference order)`}},
		{"no encodings", "{kind: compress, encodings: []}",
			[]string{at + "encodings: no encodings: nothing would be compressed (hint: remove the key for the default [zstd, br, gzip] or remove the middleware)"}},
		{"level for an unknown encoding", "{kind: compress, levels: {deflate: 6}}",
			[]string{at + `levels.deflate: level for unknown encoding "deflate" (hint: valid encodings: zstd, br, gzip)`}},
		{"level for an unlisted encoding", "{kind: compress, encodings: [gzip], levels: {zstd: 3}}",
			[]string{at + "levels.zstd: level for zstd, which is not in encodings (hint: add zstd to encodings or remove this level)"}},
		{"gzip level range", "{kind: compress, levels: {gzip: 0}}",
			[]string{at + "levels.gzip: gzip level 0 is out of range (hint: gzip levels are 1 to 9)"}},
		{"br level range", "{kind: compress, levels: {br: 12}}",
			[]string{at + "levels.br: br level 12 is out of range (hint: br levels are 0 to 11)"}},
		{"zstd level range", "{kind: compress, levels: {zstd: 23}}",
			[]string{at + "levels.zstd: zstd level 23 is out of range (hint: zstd levels are 1 to 22)"}},
		{"no types", "{kind: compress, types: []}",
			[]string{at + "types: no types: nothing would be compressed (hint: remove the key for the default list)"}},
		{"bad types", "{kind: compress, types: [json, '*/*', 'text/html; charset=utf-8', 'a/b*c', 'application/*+', text/*, 'application/*+json']}",
			[]string{
				at + `types[0]: "json" is not a media type (hint: write type/subtype ("application/json"), type/* ("text/*") or type/*+suffix ("application/*+json"))`,
				at + `types[1]: "*/*" matches every type, images and archives included (hint: list the types worth compressing)`,
				at + `types[2]: "text/html; charset=utf-8" has parameters, which are not matched (hint: write "text/html")`,
				at + `types[3]: "a/b*c" has a bad subtype name`,
				at + `types[4]: "application/*+" has a bad suffix after *+`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCompress(tc.mw)
			if err == nil {
				t.Fatalf("Parse(%s) succeeded, want %d problems", tc.mw, len(tc.want))
			}
			ds, ok := err.(config.Diagnostics)
			if !ok {
				t.Fatalf("Parse error is %T, want config.Diagnostics", err)
			}
			if len(ds) != len(tc.want) {
				t.Errorf("got %d diagnostics, want %d:\n%v", len(ds), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("diagnostics lack %q:\n%v", w, err)
				}
			}
		})
	}
}
