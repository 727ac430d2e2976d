package route

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ConflictHint is the advice every Conflict carries.
const ConflictHint = "give one a distinct match or a priority"

// Conflict is one pair of routes that no request can tell apart in
// precedence: equal priority, a host pattern in common, the same path
// predicate, identical header, query and cookie predicates, and method
// restrictions that both match some method (or both absent). Whichever came
// first in config would always win, so the later route is unreachable for
// those requests.
type Conflict struct {
	// Name and Where identify the later route in config order, the one a
	// diagnostic should point at.
	Name, Where string
	// OtherName and OtherWhere identify the earlier route.
	OtherName, OtherWhere string
	// Shared says what both routes match, such as
	// `host "api.example.com", path prefix "/v1/"`.
	Shared string
	// Hint says how to resolve the conflict.
	Hint string
}

// Message is the conflict without the later route's own name and position,
// for a diagnostic already positioned at that route.
func (c Conflict) Message() string {
	return fmt.Sprintf("conflicts with route %s: both match %s", routeRef(c.OtherName, c.OtherWhere), c.Shared)
}

func (c Conflict) Error() string {
	return fmt.Sprintf("route %s %s (hint: %s)", routeRef(c.Name, c.Where), c.Message(), c.Hint)
}

// ConflictError is returned by Build when routes conflict. Conflicts holds
// every conflicting pair once, ordered by the later route's config position
// and then the earlier one's.
type ConflictError struct {
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	lines := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		lines[i] = c.Error()
	}
	return strings.Join(lines, "\n")
}

// conflictKey holds everything that places a route in precedence, except
// the method set, which needs a pairwise overlap test.
type conflictKey struct {
	priority   int
	host       hostKey
	pathKind   pathKind
	path       string
	predicates string // headers, query and cookies, encoded
	hasMethods bool   // a method restriction counts as one predicate
}

// findConflicts returns every conflicting pair among routes, whose host
// patterns are hosts[i] for routes[i].
func findConflicts(routes []*Route, hosts [][]hostKey) []Conflict {
	groups := make(map[conflictKey][]*Route)
	var keys []conflictKey // first-seen order, for deterministic host lists
	for i, rt := range routes {
		preds := encodePredicates(rt)
		for _, h := range hosts[i] {
			k := conflictKey{rt.priority, h, rt.pathKind, rt.path, preds, len(rt.methods) > 0}
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], rt)
		}
	}

	type pairKey struct{ later, earlier int }
	found := make(map[pairKey]*conflictAcc)
	var order []pairKey
	for _, k := range keys {
		g := groups[k]
		for j := 1; j < len(g); j++ {
			for i := 0; i < j; i++ {
				methods, ok := overlap(g[i].methods, g[j].methods)
				if !ok {
					continue
				}
				pk := pairKey{g[j].index, g[i].index}
				acc := found[pk]
				if acc == nil {
					acc = &conflictAcc{later: g[j], earlier: g[i], methods: methods}
					found[pk] = acc
					order = append(order, pk)
				}
				acc.hosts = append(acc.hosts, k.host)
			}
		}
	}
	slices.SortFunc(order, func(a, b pairKey) int {
		return cmp.Or(cmp.Compare(a.later, b.later), cmp.Compare(a.earlier, b.earlier))
	})
	cs := make([]Conflict, 0, len(order))
	for _, pk := range order {
		cs = append(cs, found[pk].conflict())
	}
	return cs
}

// conflictAcc gathers the host patterns one pair of routes shares.
type conflictAcc struct {
	later, earlier *Route
	hosts          []hostKey
	methods        []string
}

func (a *conflictAcc) conflict() Conflict {
	var parts []string
	switch {
	case a.hosts[0].kind == hostAny:
		parts = append(parts, "any host")
	case len(a.hosts) == 1:
		parts = append(parts, a.hosts[0].String())
	default:
		names := make([]string, len(a.hosts))
		for i, h := range a.hosts {
			names[i] = strings.TrimPrefix(h.String(), "host ")
		}
		parts = append(parts, "hosts "+strings.Join(names, ", "))
	}
	rt := a.later
	switch rt.pathKind {
	case pathExact:
		parts = append(parts, fmt.Sprintf("path %q", rt.path))
	case pathPrefix:
		parts = append(parts, fmt.Sprintf("path prefix %q", rt.path))
	case pathRegex:
		parts = append(parts, fmt.Sprintf("path regex %q", rt.path))
	default:
		parts = append(parts, "any path")
	}
	switch len(a.methods) {
	case 0:
	case 1:
		parts = append(parts, "method "+a.methods[0])
	default:
		parts = append(parts, "methods "+strings.Join(a.methods, ", "))
	}
	for _, p := range rt.headers {
		parts = append(parts, fmt.Sprintf("header %s %q", p.name, p.value))
	}
	for _, p := range rt.query {
		parts = append(parts, fmt.Sprintf("query %s %q", p.name, p.value))
	}
	for _, p := range rt.cookies {
		parts = append(parts, fmt.Sprintf("cookie %s %q", p.name, p.value))
	}
	if rt.priority != 0 {
		parts = append(parts, fmt.Sprintf("at priority %d", rt.priority))
	}
	return Conflict{
		Name: rt.Name, Where: rt.Where,
		OtherName: a.earlier.Name, OtherWhere: a.earlier.Where,
		Shared: strings.Join(parts, ", "),
		Hint:   ConflictHint,
	}
}

// overlap reports whether two method restrictions of equal weight match a
// common method, and which methods both match. Both empty means both match
// every method.
func overlap(a, b []string) ([]string, bool) {
	if len(a) == 0 && len(b) == 0 {
		return nil, true
	}
	var both []string
	for _, m := range a {
		if slices.Contains(b, m) {
			both = append(both, m)
		}
	}
	return both, len(both) > 0
}

// encodePredicates encodes the sorted header, query and cookie predicates of
// rt so that equal strings mean identical predicates.
func encodePredicates(rt *Route) string {
	var b strings.Builder
	for _, sec := range []struct {
		tag   byte
		pairs []pair
	}{{'h', rt.headers}, {'q', rt.query}, {'c', rt.cookies}} {
		for _, p := range sec.pairs {
			b.WriteByte(sec.tag)
			b.WriteString(strconv.Quote(p.name))
			b.WriteString(strconv.Quote(p.value))
		}
	}
	return b.String()
}
