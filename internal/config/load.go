package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Loader reads configuration documents. The zero Loader is ready to use and
// resolves ${NAME} references from the process environment. A Loader holds
// no state between calls and may be used concurrently.
type Loader struct {
	// LookupEnv resolves ${NAME} references; it reports whether NAME is
	// set. Nil means os.LookupEnv. It must be safe for concurrent use if
	// the Loader is.
	LookupEnv func(name string) (value string, ok bool)
}

// Load reads the file at path and parses it with the zero Loader; see
// Loader.Parse.
func Load(path string) (*Config, error) {
	return Loader{}.Load(path)
}

// Parse parses one document with the zero Loader; see Loader.Parse.
func Parse(file string, data []byte) (*Config, error) {
	return Loader{}.Parse(file, data)
}

// Load reads the file at path and parses it, naming it path in
// diagnostics. Relative file paths in it are resolved against the
// directory of path (see Config.Dir). If the file cannot be read the error
// wraps the os error (errors.Is(err, fs.ErrNotExist) works); otherwise it
// is as for Parse.
func (l Loader) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return l.parse(path, configDir(path), data)
}

// Parse decodes data, one YAML document, into a Config: it substitutes
// ${ENV} references, applies defaults, decodes every value (rejecting
// unknown keys) and validates the whole. file names the document in
// diagnostics and Config.File; it may be "" for bytes with no file.
//
// Parse returns either a valid Config, which the caller owns, or nil and
// Diagnostics listing every problem found, in source order. The returned
// Config's Positions maps the path of every value written in the document
// ("routes[3].match") to where it was written. The document has no
// directory of its own, so its relative file paths stay relative to the
// working directory; Load resolves them against the file's.
func (l Loader) Parse(file string, data []byte) (*Config, error) {
	return l.parse(file, "", data)
}

// parse is Parse with the directory relative file paths are resolved
// against ("" for none).
func (l Loader) parse(file, dir string, data []byte) (*Config, error) {
	lookup := l.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	root, syntax := parseDocument(data)
	if syntax != nil {
		syntax.File = file
		return nil, Diagnostics{*syntax}
	}
	d := newDecoder(file, lookup, root)
	cfg := &Config{File: file, Dir: dir}
	cfg.setDefaults()
	if root != nil && !isNull(root) {
		d.decode(root, "", reflect.ValueOf(cfg).Elem())
	}
	cfg.Positions = d.positions
	diags := d.diags
	if d.budget >= 0 {
		// Past the budget, values were left undecoded without being marked
		// failed; validating them would only add noise.
		diags = append(diags, validate(cfg, d.failed)...)
	}
	if len(diags) > 0 {
		return nil, sortDiagnostics(diags)
	}
	cfg.resolvePaths()
	return cfg, nil
}

// parseDocument parses data into a node tree and returns its root: nil for
// a document with no content (empty, or only comments). A problem the
// YAML parser finds, or a second document, comes back as a diagnostic.
func parseDocument(data []byte) (*yaml.Node, *Diagnostic) {
	ld, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, &Diagnostic{Message: err.Error()}
	}
	var doc yaml.Node
	if err := ld.Load(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxDiagnostic(data, err)
	}
	var next yaml.Node
	switch err := ld.Load(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxDiagnostic(data, err)
	default:
		return nil, &Diagnostic{
			Pos:     nodePos(&next),
			Message: "a second YAML document starts here",
			Hint:    "a config file holds one document; remove this --- and merge what follows into the first",
		}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// syntaxDiagnostic turns an error from the YAML parser into a diagnostic,
// with a hint for the mistakes people make most.
func syntaxDiagnostic(data []byte, err error) *Diagnostic {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		return &Diagnostic{Message: err.Error()}
	}
	d := &Diagnostic{Pos: Pos{Line: le.Mark.Line, Col: le.Mark.Column}, Message: le.Message}
	if le.ContextMsg != "" {
		d.Message += " " + le.ContextMsg
		if m := le.ContextMark; m.Line > 0 && m != le.Mark {
			d.Message += fmt.Sprintf(" that starts at %d:%d", m.Line, m.Column)
		}
	}
	line := sourceLine(data, le.Mark.Line)
	if le.ContextMark.Line > 0 && le.ContextMark.Line != le.Mark.Line {
		line += "\n" + sourceLine(data, le.ContextMark.Line)
	}
	switch {
	case strings.Contains(le.Message, "tab"), strings.HasPrefix(strings.TrimLeft(line, " "), "\t"):
		d.Hint = "indent with spaces; YAML does not allow tabs for indentation"
	case strings.Contains(le.ContextMsg, "flow") && strings.Contains(line, "${"):
		// Inside [ ] and { } a plain scalar cannot contain "{" or "}".
		d.Hint = `quote ${NAME} references inside [ ] and { }, like {idle: "${IDLE}"}`
	}
	return d
}

// sourceLine returns line n (1-based) of data, or "" if there is none.
func sourceLine(data []byte, n int) string {
	if n < 1 {
		return ""
	}
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

// sortDiagnostics orders ds by position, keeping the order in which they
// were found among diagnostics at one position, and drops exact repeats
// (an alias used twice repeats the problems of what it refers to).
func sortDiagnostics(ds Diagnostics) Diagnostics {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int { return comparePos(a.Pos, b.Pos) })
	return slices.CompactFunc(ds, func(a, b Diagnostic) bool { return a == b })
}

// comparePos orders positions as they appear in a document.
func comparePos(a, b Pos) int {
	return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
}

// Pos returns where the value at path was written. For a value the
// document does not write (a default, a missing key) it returns the
// position of the nearest enclosing value that it does, so a diagnostic
// about "routes[3].upstream" points at routes[3] when the key is missing.
// It returns the zero Pos when nothing encloses path.
func (c *Config) Pos(path string) Pos {
	for {
		if p, ok := c.Positions[path]; ok {
			return p
		}
		if path == "" {
			return Pos{}
		}
		path = parentPath(path)
	}
}

// Diagnostic returns a diagnostic about the value at path, positioned with
// Pos, for problems found after Parse (a route conflict, a certificate that
// does not load).
func (c *Config) Diagnostic(path, message, hint string) Diagnostic {
	return Diagnostic{File: c.File, Pos: c.Pos(path), Path: path, Message: message, Hint: hint}
}

// parentPath returns the path enclosing path: "routes[2]" for
// "routes[2].match" and "routes" for "routes[2]"; "" at the top.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}
