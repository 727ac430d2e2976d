package route

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
)

// Spec is one route as the snapshot builder hands it over. Package config
// has validated it (regular expressions compile, at most one path
// predicate); Build still rejects what it cannot compile. Every predicate
// that is set must hold for the route to match.
type Spec struct {
	// Name identifies the route in messages, logs and metrics.
	Name string
	// Where is the route's source position for messages, such as
	// "palisade.yaml:14:5".
	Where string
	// Hosts lists exact hosts ("api.example.com") and wildcards
	// ("*.example.com", which matches any name ending in ".example.com" but
	// not example.com itself). Empty means any host.
	Hosts []string
	// Path, PathPrefix and PathRegex are the path predicate; at most one is
	// set. Path must equal the request path, PathPrefix must be a prefix of
	// it, and PathRegex is a Go regular expression that must match somewhere
	// in it (unanchored unless the pattern anchors itself).
	Path       string
	PathPrefix string
	PathRegex  string
	// Methods lists the request methods the route accepts, compared
	// case-sensitively. Empty means any method.
	Methods []string
	// Headers maps a header name to the exact value one of the request's
	// fields of that name must have.
	Headers map[string]string
	// Query maps a query parameter to the exact value (after percent-decoding)
	// one of its occurrences must have.
	Query map[string]string
	// Cookies maps a cookie name to the exact value one of the request's
	// cookies of that name must have.
	Cookies map[string]string
	// Priority orders routes before any specificity rule: a higher priority
	// is tried first. Routes of equal priority fall back to specificity.
	Priority int
	// Handler is what the snapshot runs for requests that match the route.
	Handler http.Handler
}

// Route is one compiled route. Lookup returns a pointer into the Table the
// route was built into; it is shared by every request and must not be
// modified.
type Route struct {
	// Name is the route's name, from Spec.Name.
	Name string
	// Where is the route's source position, from Spec.Where.
	Where string
	// Handler runs the route's middlewares and forwards the request.
	Handler http.Handler

	index    int // position in the specs given to Build; the last tie-break
	priority int

	pathKind pathKind
	path     string // the exact path or the prefix
	regex    *regexp.Regexp
	// regexRank is the config position of the first route with the same
	// pattern, so that regular expressions keep config order while routes
	// sharing one pattern are still ordered by their other predicates.
	regexRank int

	methods []string
	headers []pair // names canonical
	query   []pair
	cookies []pair
	// preds counts the predicates beyond host and path: a method
	// restriction counts once, each header, query and cookie pair once.
	preds int
}

type pathKind uint8

// The order of the kinds is their precedence. As in nginx, regular
// expressions come before prefixes, so a catch-all prefix such as "/" never
// hides them; a priority is how a prefix wins over a regular expression.
const (
	pathExact pathKind = iota
	pathRegex
	pathPrefix
	pathAny
)

type pair struct{ name, value string }

// Table is the compiled route table. It is immutable once Build returns and
// safe for any number of concurrent Lookups.
type Table struct {
	levels []level // one per distinct priority, highest first
}

// level holds the routes of one priority, indexed by host.
type level struct {
	exact     map[string]*bucket
	wildcards []wildcard // longest suffix first
	any       *bucket    // routes without a host; may be nil
}

type wildcard struct {
	suffix string // ".example.com" for "*.example.com"
	b      *bucket
}

// bucket holds the routes of one priority and one host pattern.
type bucket struct {
	exact   map[string][]*Route // by path, each list in precedence order
	ordered []*Route            // regex, prefix and path-less routes in precedence order
}

type hostKind uint8

// The order of the kinds is their precedence.
const (
	hostExact hostKind = iota
	hostWildcard
	hostAny
)

// hostKey is one normalized host pattern of a route.
type hostKey struct {
	kind hostKind
	name string // exact host, or wildcard suffix with its leading dot
}

func (k hostKey) String() string {
	switch k.kind {
	case hostExact:
		return fmt.Sprintf("host %q", k.name)
	case hostWildcard:
		return fmt.Sprintf("host %q", "*"+k.name)
	}
	return "any host"
}

// SpecError reports a Spec that Build cannot compile. Package config should
// have rejected it first, so it points at a validation gap.
type SpecError struct {
	Name, Where string
	Err         error
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("route %s: %v", routeRef(e.Name, e.Where), e.Err)
}

func (e *SpecError) Unwrap() error { return e.Err }

// routeRef formats a route name and its position for messages.
func routeRef(name, where string) string {
	if where == "" {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("%q (%s)", name, where)
}

// Build compiles specs into a Table. Spec order is config order: it breaks
// ties between regular expressions and between routes equal in every
// precedence rule.
//
// When a spec cannot be compiled, Build returns every such problem as
// *SpecError values joined with errors.Join. Otherwise, when routes
// conflict, it returns a *ConflictError listing every conflicting pair. The
// Table is nil whenever the error is not.
func Build(specs []Spec) (*Table, error) {
	routes := make([]*Route, 0, len(specs))
	hosts := make([][]hostKey, 0, len(specs))
	var errs []error
	for i, s := range specs {
		rt, hk, problems := compile(i, s)
		for _, err := range problems {
			errs = append(errs, &SpecError{Name: s.Name, Where: s.Where, Err: err})
		}
		routes = append(routes, rt)
		hosts = append(hosts, hk)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	rankRegexps(routes)
	if cs := findConflicts(routes, hosts); len(cs) > 0 {
		return nil, &ConflictError{Conflicts: cs}
	}
	return assemble(routes, hosts), nil
}

// compile turns one spec into a Route and its normalized host patterns,
// returning every problem found.
func compile(i int, s Spec) (*Route, []hostKey, []error) {
	var errs []error
	rt := &Route{Name: s.Name, Where: s.Where, Handler: s.Handler, index: i, priority: s.Priority, pathKind: pathAny}
	if s.Handler == nil {
		errs = append(errs, errors.New("no handler"))
	}

	hosts := make([]hostKey, 0, len(s.Hosts))
	for _, h := range s.Hosts {
		k, err := specHost(h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(hosts, k) {
			hosts = append(hosts, k)
		}
	}
	if len(s.Hosts) == 0 {
		hosts = append(hosts, hostKey{kind: hostAny})
	}

	set := 0
	if s.Path != "" {
		set++
		rt.pathKind, rt.path = pathExact, s.Path
		if s.Path[0] != '/' && s.Path != "*" {
			errs = append(errs, fmt.Errorf("path %q does not start with \"/\"", s.Path))
		}
	}
	if s.PathPrefix != "" {
		set++
		rt.pathKind, rt.path = pathPrefix, s.PathPrefix
		if s.PathPrefix[0] != '/' {
			errs = append(errs, fmt.Errorf("path_prefix %q does not start with \"/\"", s.PathPrefix))
		}
	}
	if s.PathRegex != "" {
		set++
		re, err := regexp.Compile(s.PathRegex)
		if err != nil {
			errs = append(errs, fmt.Errorf("path_regex: %w", err))
		}
		rt.pathKind, rt.path, rt.regex = pathRegex, s.PathRegex, re
	}
	if set > 1 {
		errs = append(errs, errors.New("more than one of path, path_prefix and path_regex is set"))
	}

	for _, m := range s.Methods {
		if !isToken(m) {
			errs = append(errs, fmt.Errorf("method %q is not a token", m))
			continue
		}
		if !slices.Contains(rt.methods, m) {
			rt.methods = append(rt.methods, m)
		}
	}
	if len(rt.methods) > 0 {
		rt.preds++
	}

	for name, value := range s.Headers {
		if !isToken(name) {
			errs = append(errs, fmt.Errorf("header name %q is not a token", name))
			continue
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		if name == "Host" {
			// net/http moves Host out of the header map, so the predicate
			// could never hold.
			errs = append(errs, errors.New("header Host cannot be matched as a header (hint: use host)"))
			continue
		}
		rt.headers = append(rt.headers, pair{name, value})
	}
	for name, value := range s.Query {
		rt.query = append(rt.query, pair{name, value})
	}
	for name, value := range s.Cookies {
		if !isToken(name) {
			errs = append(errs, fmt.Errorf("cookie name %q is not a token", name))
			continue
		}
		if !validCookieValue(value) {
			errs = append(errs, fmt.Errorf("cookie %q: value %q holds a byte no cookie value may contain", name, value))
			continue
		}
		rt.cookies = append(rt.cookies, pair{name, value})
	}
	// Sorted pairs make conflict keys and messages deterministic.
	for _, ps := range [][]pair{rt.headers, rt.query, rt.cookies} {
		slices.SortFunc(ps, func(a, b pair) int { return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.value, b.value)) })
	}
	rt.preds += len(rt.headers) + len(rt.query) + len(rt.cookies)
	return rt, hosts, errs
}

// specHost normalizes one configured host: lower case, no trailing dot, IP
// literals in canonical form without brackets, wildcards as their suffix.
func specHost(h string) (hostKey, error) {
	orig := h
	h = strings.ToLower(h)
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		rest = strings.TrimSuffix(rest, ".")
		if !validHostname(rest) {
			return hostKey{}, fmt.Errorf("host %q: the part after \"*.\" is not a host name", orig)
		}
		return hostKey{kind: hostWildcard, name: "." + rest}, nil
	}
	if strings.Contains(h, "*") {
		return hostKey{}, fmt.Errorf("host %q: a wildcard must be the whole first label (hint: write \"*.example.com\", or leave host out to match any host)", orig)
	}
	if inner, ok := strings.CutPrefix(h, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		ip, err := netip.ParseAddr(inner)
		if !ok || err != nil || !ip.Is6() {
			return hostKey{}, fmt.Errorf("host %q: not an IPv6 literal", orig)
		}
		return hostKey{kind: hostExact, name: ip.String()}, nil
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return hostKey{kind: hostExact, name: ip.String()}, nil
	}
	if strings.Contains(h, ":") {
		return hostKey{}, fmt.Errorf("host %q: a host must not carry a port (hint: routes match any port; use listeners to tell ports apart)", orig)
	}
	h = strings.TrimSuffix(h, ".")
	if !validHostname(h) {
		return hostKey{}, fmt.Errorf("host %q is not a host name (hint: write internationalized names in their xn-- form)", orig)
	}
	return hostKey{kind: hostExact, name: h}, nil
}

// validHostname reports whether h (lower case, no trailing dot) is a
// sequence of non-empty labels of letters, digits, '-' and '_'.
func validHostname(h string) bool {
	if h == "" {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// rankRegexps gives each regex route the config position of the first
// route with the same pattern.
func rankRegexps(routes []*Route) {
	first := make(map[string]int)
	for _, rt := range routes {
		if rt.pathKind != pathRegex {
			continue
		}
		if _, ok := first[rt.path]; !ok {
			first[rt.path] = rt.index
		}
		rt.regexRank = first[rt.path]
	}
}

// assemble indexes conflict-free routes by priority, host and path, in
// precedence order.
func assemble(routes []*Route, hosts [][]hostKey) *Table {
	byPriority := make(map[int]*level)
	var priorities []int
	for i, rt := range routes {
		lv := byPriority[rt.priority]
		if lv == nil {
			lv = &level{exact: make(map[string]*bucket)}
			byPriority[rt.priority] = lv
			priorities = append(priorities, rt.priority)
		}
		for _, k := range hosts[i] {
			lv.bucketFor(k).add(rt)
		}
	}
	slices.SortFunc(priorities, func(a, b int) int { return cmp.Compare(b, a) })

	t := &Table{levels: make([]level, 0, len(priorities))}
	for _, p := range priorities {
		lv := byPriority[p]
		slices.SortFunc(lv.wildcards, func(a, b wildcard) int {
			return cmp.Or(cmp.Compare(len(b.suffix), len(a.suffix)), strings.Compare(a.suffix, b.suffix))
		})
		for _, b := range lv.exact {
			b.sort()
		}
		for _, w := range lv.wildcards {
			w.b.sort()
		}
		if lv.any != nil {
			lv.any.sort()
		}
		t.levels = append(t.levels, *lv)
	}
	return t
}

// bucketFor returns the bucket for host pattern k, creating it.
func (lv *level) bucketFor(k hostKey) *bucket {
	switch k.kind {
	case hostExact:
		b := lv.exact[k.name]
		if b == nil {
			b = &bucket{}
			lv.exact[k.name] = b
		}
		return b
	case hostWildcard:
		for _, w := range lv.wildcards {
			if w.suffix == k.name {
				return w.b
			}
		}
		b := &bucket{}
		lv.wildcards = append(lv.wildcards, wildcard{suffix: k.name, b: b})
		return b
	}
	if lv.any == nil {
		lv.any = &bucket{}
	}
	return lv.any
}

func (b *bucket) add(rt *Route) {
	if rt.pathKind != pathExact {
		b.ordered = append(b.ordered, rt)
		return
	}
	if b.exact == nil {
		b.exact = make(map[string][]*Route)
	}
	b.exact[rt.path] = append(b.exact[rt.path], rt)
}

// sort puts the bucket's routes in precedence order: regular expressions
// (in config order) before prefixes (longer before shorter) before
// path-less routes; among routes with the same path predicate, more
// predicates first, then config order.
func (b *bucket) sort() {
	for _, rs := range b.exact {
		slices.SortFunc(rs, comparePredicates)
	}
	slices.SortFunc(b.ordered, func(x, y *Route) int {
		if c := cmp.Compare(x.pathKind, y.pathKind); c != 0 {
			return c
		}
		switch x.pathKind {
		case pathRegex:
			if c := cmp.Compare(x.regexRank, y.regexRank); c != 0 {
				return c
			}
		case pathPrefix:
			if c := cmp.Compare(len(y.path), len(x.path)); c != 0 {
				return c
			}
		}
		return comparePredicates(x, y)
	})
}

// comparePredicates orders routes that tie on host and path: more
// predicates first, then config order.
func comparePredicates(x, y *Route) int {
	return cmp.Or(cmp.Compare(y.preds, x.preds), cmp.Compare(x.index, y.index))
}
