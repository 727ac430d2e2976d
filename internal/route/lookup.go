package route

import (
	"net/http"
)

// Lookup returns the route for r: the first route, in precedence order,
// whose predicates all hold, or false when none does (the caller answers
// 404). The host comes from r.Host and the path from r.URL.Path, which must
// be non-nil; an empty path is taken as "/".
//
// Precedence: higher priority first; then exact host, then wildcard hosts
// longest suffix first, then routes without a host; then exact path, then
// regular expressions in config order, then path prefixes longest first
// (nginx's order: a regular expression beats any plain prefix), then routes
// without a path predicate; then more predicates first; then config order.
// When no route of one host group matches, Lookup goes on to the next.
//
// Lookup does not allocate (apart from rare malformed or over-long hosts),
// takes no locks, does not modify r, and may run concurrently with other
// Lookups. A nil Table matches nothing.
func (t *Table) Lookup(r *http.Request) (*Route, bool) {
	if t == nil {
		return nil, false
	}
	var buf [hostBufLen]byte
	host := requestHost(&buf, r.Host)
	path := r.URL.Path
	if path == "" {
		// An absolute-form request target without a path ("GET
		// http://example.com HTTP/1.1") means "/" (RFC 9112 §3.2.2).
		path = "/"
	}
	for i := range t.levels {
		lv := &t.levels[i]
		if b := lv.exact[string(host)]; b != nil {
			if rt := b.match(r, path); rt != nil {
				return rt, true
			}
		}
		for _, w := range lv.wildcards {
			// The suffix carries its leading dot, so "*.example.com" never
			// matches example.com itself but matches any deeper name.
			if len(host) > len(w.suffix) && string(host[len(host)-len(w.suffix):]) == w.suffix {
				if rt := w.b.match(r, path); rt != nil {
					return rt, true
				}
			}
		}
		if lv.any != nil {
			if rt := lv.any.match(r, path); rt != nil {
				return rt, true
			}
		}
	}
	return nil, false
}

// match returns the first route of b that matches path and r, or nil.
func (b *bucket) match(r *http.Request, path string) *Route {
	for _, rt := range b.exact[path] {
		if rt.matchPredicates(r) {
			return rt
		}
	}
	for _, rt := range b.ordered {
		switch rt.pathKind {
		case pathRegex:
			if !rt.regex.MatchString(path) {
				continue
			}
		case pathPrefix:
			if len(path) < len(rt.path) || path[:len(rt.path)] != rt.path {
				continue
			}
		}
		if rt.matchPredicates(r) {
			return rt
		}
	}
	return nil
}

// matchPredicates reports whether the method, header, query and cookie
// predicates of rt all hold for r.
func (rt *Route) matchPredicates(r *http.Request) bool {
	if len(rt.methods) > 0 && !contains(rt.methods, r.Method) {
		return false
	}
	for _, p := range rt.headers {
		if !contains(r.Header[p.name], p.value) {
			return false
		}
	}
	for _, p := range rt.query {
		if !queryHas(r.URL.RawQuery, p.name, p.value) {
			return false
		}
	}
	if len(rt.cookies) > 0 {
		lines := r.Header["Cookie"]
		for _, p := range rt.cookies {
			if !cookieHas(lines, p.name, p.value) {
				return false
			}
		}
	}
	return true
}

// contains is slices.Contains for strings, kept plain so that it inlines.
func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
