package route

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzSpecs is a fixed, conflict-free table that uses every predicate and
// every precedence rule.
func fuzzSpecs() []Spec {
	return []Spec{
		{Name: "api-users", Hosts: []string{"api.example.com"}, Path: "/v1/users"},
		{Name: "api-v1", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/"},
		{Name: "api-v1-write", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/", Methods: []string{"POST", "PUT"}},
		{Name: "api-any", Hosts: []string{"api.example.com", "API2.example.com."}},
		{Name: "wild", Hosts: []string{"*.example.com"}, PathPrefix: "/"},
		{Name: "wild-eu", Hosts: []string{"*.eu.example.com"}, PathRegex: `^/[a-z]+$`},
		{Name: "canary", PathPrefix: "/app", Headers: map[string]string{"x-canary": "1"}},
		{Name: "beta", PathPrefix: "/app", Cookies: map[string]string{"beta": "on"}},
		{Name: "v2", PathPrefix: "/app", Query: map[string]string{"v": "2 x"}},
		{Name: "app", PathPrefix: "/app"},
		{Name: "app-slash", PathPrefix: "/app/"},
		{Name: "ab", PathRegex: `a+b`},
		{Name: "css", PathRegex: `^/static/.*\.css$`, Methods: []string{"GET", "HEAD"}},
		{Name: "ab-get", PathRegex: `a+b`, Methods: []string{"GET"}},
		{Name: "health", Path: "/health"},
		{Name: "admin", Path: "/admin", Priority: 10, Cookies: map[string]string{"session": ""}},
		{Name: "last-resort", Priority: -1},
		{Name: "loopback6", Hosts: []string{"[::1]"}, PathPrefix: "/"},
		{Name: "loopback4", Hosts: []string{"127.0.0.1"}, Query: map[string]string{"a": ""}},
		{Name: "shop", Hosts: []string{"shop.example.org", "*.shop.example.org"}, PathPrefix: "/cart/", Query: map[string]string{"id": "7", "k&": "="}},
		{Name: "shop-canary", Hosts: []string{"*.shop.example.org"}, Headers: map[string]string{"X-Canary": "1"}, Cookies: map[string]string{"beta": "on"}},
	}
}

// FuzzLookup checks Lookup against refLookup, a slow matcher written from
// the documented rules: every route is tested on its own with net/http's
// and net/url's parsers, and the winner is the minimum of one sort key.
func FuzzLookup(f *testing.F) {
	specs := fuzzSpecs()
	tbl := mustBuild(f, specs)
	f.Fuzz(func(t *testing.T, method, host, path, query, cookie, canary string) {
		if strings.Count(query, "&") >= 10000 || strings.Count(cookie, ";")+strings.Count(cookie, "\n") >= 3000 {
			// net/url and net/http give up on that many parameters or
			// cookies, which Lookup, allocating nothing, need not do: the
			// reference cannot judge such an input.
			return
		}
		r := &http.Request{
			Method: method,
			Host:   host,
			URL:    &url.URL{Path: path, RawQuery: query},
			Header: http.Header{},
		}
		if cookie != "" {
			r.Header["Cookie"] = strings.Split(cookie, "\n")
		}
		if canary != "" {
			r.Header["X-Canary"] = strings.Split(canary, "\n")
		}
		got := ""
		if rt, ok := tbl.Lookup(r); ok {
			got = rt.Name
		}
		if want := refLookup(specs, r); got != want {
			t.Errorf("Lookup(%q %q %q %q, Cookie %q, X-Canary %q) = %q, want %q", method, host, path, query, cookie, canary, got, want)
		}
	})
}

// refLookup returns the name of the route for r by the documented rules, or
// "" when none matches.
func refLookup(specs []Spec, r *http.Request) string {
	host := refHost(r.Host)
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	query, _ := url.ParseQuery(r.URL.RawQuery)
	cookies := r.Cookies()

	firstRegex := map[string]int{}
	var best []int
	bestName := ""
	for i, s := range specs {
		if s.PathRegex != "" {
			if _, ok := firstRegex[s.PathRegex]; !ok {
				firstRegex[s.PathRegex] = i
			}
		}
		hostRank, ok := refHostRank(s.Hosts, host)
		if !ok {
			continue
		}
		var pathRank []int
		switch {
		case s.Path != "":
			ok, pathRank = path == s.Path, []int{0, 0}
		case s.PathRegex != "":
			ok, pathRank = regexp.MustCompile(s.PathRegex).MatchString(path), []int{1, firstRegex[s.PathRegex]}
		case s.PathPrefix != "":
			ok, pathRank = strings.HasPrefix(path, s.PathPrefix), []int{2, -len(s.PathPrefix)}
		default:
			pathRank = []int{3, 0}
		}
		if !ok {
			continue
		}
		preds := len(s.Headers) + len(s.Query) + len(s.Cookies)
		if len(s.Methods) > 0 {
			preds++
			ok = slices.Contains(s.Methods, r.Method)
		}
		for name, value := range s.Headers {
			ok = ok && slices.Contains(r.Header.Values(name), value)
		}
		for name, value := range s.Query {
			ok = ok && slices.Contains(query[name], value)
		}
		for name, value := range s.Cookies {
			ok = ok && slices.ContainsFunc(cookies, func(c *http.Cookie) bool { return c.Name == name && c.Value == value })
		}
		if !ok {
			continue
		}
		key := slices.Concat([]int{-s.Priority}, hostRank, pathRank, []int{-preds, i})
		if best == nil || slices.Compare(key, best) < 0 {
			best, bestName = key, s.Name
		}
	}
	return bestName
}

// refHostRank returns the best rank among patterns that match host (exact,
// then wildcards by suffix length, then no host at all), and false when
// none matches.
func refHostRank(patterns []string, host string) ([]int, bool) {
	if len(patterns) == 0 {
		return []int{2, 0}, true
	}
	var best []int
	for _, p := range patterns {
		var rank []int
		p = strings.ToLower(p)
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			suffix = strings.TrimSuffix(suffix, ".")
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				rank = []int{1, -len(suffix)}
			}
		} else if refHost(p) == host {
			rank = []int{0, 0}
		}
		if rank != nil && (best == nil || slices.Compare(rank, best) < 0) {
			best = rank
		}
	}
	return best, best != nil
}

// refHost normalizes a host as docs/routing.md describes: port and brackets
// gone, IP literals in canonical form, ASCII lower case, no trailing dot.
func refHost(h string) string {
	switch {
	case strings.HasPrefix(h, "["):
		if end := strings.Index(h, "]"); end > 0 {
			if ip, err := netip.ParseAddr(h[1:end]); err == nil {
				return ip.String()
			}
			h = h[1:end]
		}
	case strings.Count(h, ":") == 1:
		h = h[:strings.Index(h, ":")]
	case strings.Count(h, ":") > 1:
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip.String()
		}
	}
	// Byte by byte: strings.ToLower and strings.Map would rewrite invalid
	// UTF-8 and map some non-ASCII letters to ASCII.
	b := []byte(strings.TrimSuffix(h, "."))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// TestRefLookup checks the reference matcher itself on cases whose answers
// are worked out by hand, so the fuzzer compares against something right.
func TestRefLookup(t *testing.T) {
	specs := fuzzSpecs()
	tbl := mustBuild(t, specs)
	for _, tc := range []struct {
		name                                      string
		method, host, path, query, cookie, canary string
		want                                      string
	}{
		{"exact path", "GET", "api.example.com", "/v1/users", "", "", "", "api-users"},
		{"method predicate", "PUT", "API.example.com:443", "/v1/x", "", "", "", "api-v1-write"},
		{"prefix", "GET", "api.example.com", "/v1/x", "", "", "", "api-v1"},
		{"second host", "GET", "api2.example.com", "/v1/x", "", "", "", "api-any"},
		{"wildcard", "GET", "www.example.com", "/v1/x", "", "", "", "wild"},
		{"longer wildcard", "GET", "a.eu.example.com", "/abc", "", "", "", "wild-eu"},
		{"longer wildcard fails, shorter holds", "GET", "a.eu.example.com", "/ABC", "", "", "", "wild"},
		{"header", "GET", "x", "/apple", "", "", "0\n1", "canary"},
		{"cookie", "GET", "x", "/apple", "", "a=1; beta=on", "", "beta"},
		{"query", "GET", "x", "/apple", "v=2+x", "", "", "v2"},
		{"longer prefix beats predicates", "GET", "x", "/app/", "", "beta=on", "", "app-slash"},
		{"regex with more predicates", "GET", "x", "/xaab", "", "", "", "ab-get"},
		{"regex config order", "GET", "x", "/static/ab.css", "", "", "", "ab-get"},
		{"regex beats prefix", "GET", "x", "/app/ab", "", "beta=on", "", "ab-get"},
		{"regex with fewer predicates beats prefix", "POST", "x", "/app/ab", "", "beta=on", "", "ab"},
		{"priority", "GET", "api.example.com", "/admin", "", "session=", "", "admin"},
		{"negative priority", "GET", "api3.example.net", "/x", "", "", "", "last-resort"},
		{"IPv6", "GET", "[0::1]:80", "/x", "", "", "", "loopback6"},
		{"IPv4 query", "GET", "127.0.0.1:80", "/x", "a", "", "", "loopback4"},
		{"encoded query", "GET", "a.shop.example.org", "/cart/", "id=7&k%26=%3D", "", "", "shop"},
		{"wildcard predicates", "GET", "a.shop.example.org", "/x", "", "beta=on", "1", "shop-canary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Method: tc.method, Host: tc.host, URL: &url.URL{Path: tc.path, RawQuery: tc.query}, Header: http.Header{}}
			if tc.cookie != "" {
				r.Header["Cookie"] = strings.Split(tc.cookie, "\n")
			}
			if tc.canary != "" {
				r.Header["X-Canary"] = strings.Split(tc.canary, "\n")
			}
			if got := refLookup(specs, r); got != tc.want {
				t.Errorf("refLookup(%s %q %q?%s) = %q, want %q", tc.method, tc.host, tc.path, tc.query, got, tc.want)
			}
			got := ""
			if rt, ok := tbl.Lookup(r); ok {
				got = rt.Name
			}
			if got != tc.want {
				t.Errorf("Lookup(%s %q %q?%s) = %q, want %q", tc.method, tc.host, tc.path, tc.query, got, tc.want)
			}
		})
	}
}
