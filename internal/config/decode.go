package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// defaulter is implemented by every type with defaults (see defaults.go).
// The decoder calls setDefaults on each value it creates (a list entry, a
// map value, a kind body) before decoding into it, so a key that is written
// overrides its default and a key that is not keeps it. A type's
// setDefaults also sets the defaults of the structs nested in it.
type defaulter interface {
	setDefaults()
}

// checker is implemented by kind bodies, which validate themselves.
type checker interface {
	check() []Problem
}

// maxMergeDepth bounds merge keys (<<) whose values merge further mappings;
// an anchor may be merged into itself, which would never end.
const maxMergeDepth = 16

// decoder walks a yaml.Node tree into typed values. It is driven by struct
// tags: `yaml:"key"` names a field's key and `kind:"name"` marks a body
// pointer of a polymorphic struct (see decodeKinded). It never stops at a
// problem: it reports it, leaves the value as it was, and goes on, so one
// pass finds everything wrong with the document.
type decoder struct {
	file      string
	lookupEnv func(string) (string, bool)
	diags     Diagnostics
	// positions maps the path of every value decoded to where it was
	// written; it becomes Config.Positions.
	positions map[string]Pos
	// failed holds the paths whose values could not be decoded. Validation
	// says nothing about them or anything below them: it would only repeat
	// the problem in other words.
	failed map[string]bool
	// budget is how many more nodes may be visited. Aliases let a small
	// document stand for an exponentially large one.
	budget int
}

// entry is one key and its value in a mapping, after merge keys have been
// applied.
type entry struct {
	key, value *yaml.Node
}

// field is one decodable struct field.
type field struct {
	key   string // the yaml tag's key, or the kind tag's name
	index int
}

func newDecoder(file string, lookupEnv func(string) (string, bool), root *yaml.Node) *decoder {
	return &decoder{
		file:      file,
		lookupEnv: lookupEnv,
		positions: make(map[string]Pos),
		failed:    make(map[string]bool),
		budget:    10*countNodes(root) + 10_000,
	}
}

// countNodes counts the nodes of the tree under n without following
// aliases.
func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, child := range n.Content {
		c += countNodes(child)
	}
	return c
}

// report records a diagnostic at n.
func (d *decoder) report(n *yaml.Node, path, message, hint string) {
	d.diags = append(d.diags, Diagnostic{File: d.file, Pos: nodePos(n), Path: path, Message: message, Hint: hint})
}

// reportFailed records a diagnostic at n and marks path as not decoded.
func (d *decoder) reportFailed(n *yaml.Node, path, message, hint string) {
	d.report(n, path, message, hint)
	d.failed[path] = true
}

// spend takes one node from the budget and reports whether any was left.
// The first overdraft is reported; later ones are silent.
func (d *decoder) spend(n *yaml.Node, path string) bool {
	d.budget--
	if d.budget == -1 {
		d.reportFailed(n, path, "the document is too large once its aliases are expanded",
			"refer to large anchored values (&name) fewer times")
	}
	return d.budget >= 0
}

func nodePos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

// join appends key to path ("routes[2]" + "match" = "routes[2].match").
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to path ("routes" + 2 = "routes[2]").
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// resolve follows aliases to the node they stand for; it returns nil for an
// alias without a target.
func resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops > 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a YAML null ("~", "null" or nothing at all).
// A null value leaves its setting unset, so its default applies.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what n is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return "a string"
	}
	return "an unsupported YAML node"
}

// mismatch reports that n is the wrong kind of node for the value at path.
func (d *decoder) mismatch(n *yaml.Node, path, want string) {
	hint := ""
	switch {
	case want == "a list" && n.Kind == yaml.MappingNode:
		hint = `write each entry on its own line starting with "- "`
	case want == "a list" && n.Kind == yaml.ScalarNode:
		hint = "write [" + n.Value + "]"
	case want == "a mapping" && n.Kind == yaml.SequenceNode:
		hint = `write key: value lines without a leading "- "`
	}
	d.reportFailed(n, path, "expected "+want+", got "+describe(n), hint)
}

// badValue reports err, returned for the scalar s written at n. The value
// is quoted as it was after substitution, with the reference it came from
// when it was one.
func (d *decoder) badValue(n *yaml.Node, path, s string, err error) {
	problem, hint := err.Error(), ""
	var ve *valueError
	if errors.As(err, &ve) {
		problem, hint = ve.problem, ve.hint
	}
	quoted := strconv.Quote(s)
	if s != n.Value {
		quoted += " (from " + n.Value + ")"
	}
	d.reportFailed(n, path, quoted+" "+problem, hint)
}

// scalar returns the text of the scalar n after ${ENV} substitution. It
// reports a node of another kind, or a reference it cannot expand, and
// then returns false.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.mismatch(n, path, want)
		return "", false
	}
	s, problems := expandEnv(n.Value, d.lookupEnv)
	for _, p := range problems {
		d.reportFailed(n, path, p.message, p.hint)
	}
	return s, len(problems) == 0
}

// decode decodes n into v, which must be addressable, recording the
// position of n under path.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if !d.spend(n, path) {
		return
	}
	d.positions[path] = nodePos(n)
	target := resolve(n)
	if target == nil {
		d.reportFailed(n, path, "alias refers to nothing", "")
		return
	}
	n = target
	if isNull(n) {
		return
	}
	if sv, ok := v.Addr().Interface().(scalarValue); ok {
		if s, ok := d.scalar(n, path, sv.typeName()); ok {
			if err := sv.parseScalar(s); err != nil {
				d.badValue(n, path, s, err)
			}
		}
		return
	}
	switch t := v.Type(); t {
	case reflect.TypeFor[StringList]():
		if n.Kind == yaml.ScalarNode {
			if s, ok := d.scalar(n, path, "a string"); ok {
				v.Set(reflect.ValueOf(StringList{s}))
			}
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.mismatch(n, path, "a string or a list of strings")
			return
		}
	case reflect.TypeFor[netip.Prefix]():
		if s, ok := d.scalar(n, path, "an IP address or prefix"); ok {
			p, err := parsePrefix(s)
			if err != nil {
				d.badValue(n, path, s, err)
				return
			}
			v.Set(reflect.ValueOf(p))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.decodeBool(n, path, v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.decodeInt(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		setDefaults(p.Elem())
		d.decode(n, path, p.Elem())
		v.Set(p)
	default:
		// Only a schema change can get here; say so rather than panic.
		d.reportFailed(n, path, "the decoder cannot decode into "+v.Type().String(), "this is a bug in palisade")
	}
}

// decodeEntry decodes the value of a mapping entry into v. A block
// mapping or list, or a null, is positioned at its key, where a reader
// sees it start ("match:"), rather than at its first inner key; scalars
// and flow collections are positioned where their value is written.
func (d *decoder) decodeEntry(e entry, path string, v reflect.Value) {
	d.decode(e.value, path, v)
	n := e.value
	block := (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && n.Style&yaml.FlowStyle == 0
	if block || isNull(n) {
		if _, ok := d.positions[path]; ok {
			d.positions[path] = nodePos(e.key)
		}
	}
}

func (d *decoder) decodeBool(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "a boolean")
	if !ok {
		return
	}
	switch s {
	case "true":
		v.SetBool(true)
	case "false":
		v.SetBool(false)
	default:
		d.badValue(n, path, s, &valueError{problem: "is not a boolean", hint: "write true or false"})
	}
}

func (d *decoder) decodeInt(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "an integer")
	if !ok {
		return
	}
	i, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && v.OverflowInt(i):
		d.badValue(n, path, s, &valueError{problem: "is out of range"})
	case err != nil:
		d.badValue(n, path, s, &valueError{problem: "is not an integer"})
	default:
		v.SetInt(i)
	}
}

// decodeSlice replaces v with the entries of the list n; a written list
// replaces a default one, it is not appended to. An entry that fails to
// decode keeps its place, so indexes in paths match the document.
func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.mismatch(n, path, "a list")
		return
	}
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		e := reflect.New(v.Type().Elem()).Elem()
		setDefaults(e)
		d.decode(item, index(path, i), e)
		out = reflect.Append(out, e)
	}
	v.Set(out)
}

// decodeMap replaces v with the entries of the mapping n, keyed by string.
func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.reportFailed(n, path, "the decoder cannot decode into "+t.String(), "this is a bug in palisade")
		return
	}
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, path, "a mapping")
		return
	}
	entries := d.entries(n, path)
	out := reflect.MakeMapWithSize(t, len(entries))
	for _, e := range entries {
		elem := reflect.New(t.Elem()).Elem()
		setDefaults(elem)
		d.decodeEntry(e, join(path, e.key.Value), elem)
		out.SetMapIndex(reflect.ValueOf(e.key.Value).Convert(t.Key()), elem)
	}
	v.Set(out)
}

// decodeStruct decodes the mapping n into the fields of v, rejecting keys
// that name no field. At the top level, keys starting with "x-" are
// ignored: they hold anchors (&name) for the sections to refer to.
func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, path, "a mapping")
		return
	}
	fields, kinds := structFields(v.Type())
	entries := d.entries(n, path)
	if len(kinds) > 0 {
		d.decodeKinded(n, path, v, entries, fields, kinds)
		return
	}
	for _, e := range entries {
		f, ok := findField(fields, e.key.Value)
		if !ok && path == "" && strings.HasPrefix(e.key.Value, "x-") {
			// Top-level x- keys are the document's own: a place to
			// anchor values that several sections refer to.
			continue
		}
		if !ok {
			d.unknownKey(e.key, path, fieldKeys(fields))
			continue
		}
		d.decodeEntry(e, join(path, e.key.Value), v.Field(f.index))
	}
}

// decodeKinded decodes a polymorphic struct: one with a `yaml:"kind"`
// string field and pointer fields tagged `kind:"name"`. The kind key
// selects the pointer to set; the struct's own keys are decoded into it
// and every other key of the mapping into a new body, whose setDefaults
// runs first. Adding a kind therefore means adding one tagged field.
func (d *decoder) decodeKinded(n *yaml.Node, path string, v reflect.Value, entries []entry, fields, kinds []field) {
	kindPath := join(path, "kind")
	label := typeLabel(v.Type())
	kindNames := fieldKeys(kinds)
	var kindNode *yaml.Node
	for _, e := range entries {
		if f, ok := findField(fields, e.key.Value); ok {
			d.decodeEntry(e, join(path, e.key.Value), v.Field(f.index))
			if e.key.Value == "kind" {
				kindNode = e.value
			}
		}
	}
	kf, hasKindField := findField(fields, "kind")
	switch {
	case !hasKindField || v.Field(kf.index).Kind() != reflect.String:
		d.reportFailed(n, path, "the decoder cannot decode into "+v.Type().String(), "this is a bug in palisade")
		return
	case d.failed[kindPath]:
		d.failed[path] = true
		return
	case kindNode == nil || isNull(resolve(kindNode)):
		d.reportFailed(n, kindPath, "missing", "say which "+label+" this is with kind: one of "+strings.Join(kindNames, ", "))
		d.failed[path] = true
		return
	}
	kind := v.Field(kf.index).String()
	body, ok := findField(kinds, kind)
	if !ok {
		d.reportFailed(kindNode, kindPath, fmt.Sprintf("unknown %s kind %q", label, kind), oneOfHint(kind, "known kinds", kindNames))
		d.failed[path] = true
		return
	}
	bodyType := v.Type().Field(body.index).Type
	if bodyType.Kind() != reflect.Pointer || bodyType.Elem().Kind() != reflect.Struct {
		d.reportFailed(n, path, "the decoder cannot decode into "+bodyType.String(), "this is a bug in palisade")
		return
	}
	b := reflect.New(bodyType.Elem())
	setDefaults(b.Elem())
	bodyFields, _ := structFields(bodyType.Elem())
	for _, e := range entries {
		if _, own := findField(fields, e.key.Value); own {
			continue
		}
		f, ok := findField(bodyFields, e.key.Value)
		if !ok {
			d.unknownKey(e.key, path, append(fieldKeys(fields), fieldKeys(bodyFields)...))
			continue
		}
		d.decodeEntry(e, join(path, e.key.Value), b.Elem().Field(f.index))
	}
	v.Field(body.index).Set(b)
}

// unknownKey reports a key that names no field of the mapping at path.
func (d *decoder) unknownKey(key *yaml.Node, path string, valid []string) {
	d.report(key, path, fmt.Sprintf("unknown key %q", key.Value), oneOfHint(key.Value, "valid keys", valid))
}

// entries returns the keys and values of the mapping n in document order,
// with merge keys (<<) applied: merged keys come after the mapping's own
// and never override them. It reports keys that are not scalars and
// duplicate keys, and leaves them out.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	return d.mergedEntries(n, path, 0)
}

func (d *decoder) mergedEntries(n *yaml.Node, path string, depth int) []entry {
	var own, merged []entry
	first := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.spend(k, path) {
			return nil
		}
		key := resolve(k)
		if key == nil || key.Kind != yaml.ScalarNode {
			d.report(k, path, "expected a string key, got "+describe(key), "")
			continue
		}
		if key.Tag == "!!merge" {
			merged = append(merged, d.merge(val, path, depth)...)
			continue
		}
		if prev, dup := first[key.Value]; dup {
			d.report(k, join(path, key.Value),
				fmt.Sprintf("duplicate key %q (first defined at %d:%d)", key.Value, prev.Line, prev.Column),
				"remove one of them")
			continue
		}
		first[key.Value] = k
		own = append(own, entry{key: key, value: val})
	}
	for _, e := range merged {
		if _, dup := first[e.key.Value]; dup {
			continue
		}
		first[e.key.Value] = e.key
		own = append(own, e)
	}
	return own
}

// merge returns the entries a merge key's value brings: those of a
// mapping, or of a list of mappings where earlier mappings win.
func (d *decoder) merge(v *yaml.Node, path string, depth int) []entry {
	if depth >= maxMergeDepth {
		d.reportFailed(v, path, "merge keys (<<) are nested too deeply", "")
		return nil
	}
	target := resolve(v)
	switch {
	case target != nil && target.Kind == yaml.MappingNode:
		return d.mergedEntries(target, path, depth+1)
	case target != nil && target.Kind == yaml.SequenceNode:
		var out []entry
		seen := make(map[string]bool)
		for _, item := range target.Content {
			m := resolve(item)
			if m == nil || m.Kind != yaml.MappingNode {
				d.reportFailed(item, path, "expected a mapping to merge, got "+describe(m), "")
				continue
			}
			for _, e := range d.mergedEntries(m, path, depth+1) {
				if !seen[e.key.Value] {
					seen[e.key.Value] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	d.reportFailed(v, path, "expected a mapping or a list of mappings to merge, got "+describe(target), "")
	return nil
}

// structFields returns the fields of struct type t decoded from keys, in
// declaration order, and separately its kind bodies (`kind:"name"`).
func structFields(t reflect.Type) (fields, kinds []field) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if k := sf.Tag.Get("kind"); k != "" {
			kinds = append(kinds, field{key: k, index: i})
			continue
		}
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		fields = append(fields, field{key: key, index: i})
	}
	return fields, kinds
}

func findField(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func fieldKeys(fields []field) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return keys
}

// typeLabel names a struct type in messages: "HealthCheck" is "health
// check".
func typeLabel(t reflect.Type) string {
	var b strings.Builder
	for i, r := range t.Name() {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				b.WriteByte(' ')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// setDefaults applies the defaults of v's type, if it has any.
func setDefaults(v reflect.Value) {
	if !v.CanAddr() {
		return
	}
	if d, ok := v.Addr().Interface().(defaulter); ok {
		d.setDefaults()
	}
}
