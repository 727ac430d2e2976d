package route

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// namedHandler is a Handler that carries its route's name, so a test can
// check that Route.Handler is the one the Spec gave.
type namedHandler string

func (namedHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// mustBuild builds specs, giving each spec without a handler one named after
// the route.
func mustBuild(t testing.TB, specs []Spec) *Table {
	t.Helper()
	for i := range specs {
		if specs[i].Handler == nil {
			specs[i].Handler = namedHandler(specs[i].Name)
		}
	}
	tbl, err := Build(specs)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tbl
}

// request describes one request as the server hands it to Lookup.
type request struct {
	method string      // GET when empty
	host   string      // r.Host
	target string      // request target, "/" when empty
	header http.Header // added to the request's header
}

func (q request) build() *http.Request {
	method, target := q.method, q.target
	if method == "" {
		method = http.MethodGet
	}
	if target == "" {
		target = "/"
	}
	r := httptest.NewRequest(method, target, nil)
	r.Host = q.host
	for k, vs := range q.header {
		r.Header[k] = vs
	}
	return r
}

// lookupName returns the name of the route Lookup picks for r, or "" when
// none matches, checking that the route's handler is its own.
func lookupName(t *testing.T, tbl *Table, r *http.Request) string {
	t.Helper()
	rt, ok := tbl.Lookup(r)
	if !ok {
		if rt != nil {
			t.Errorf("Lookup(%s %q %q) = %v, false; want a nil route with false", r.Method, r.Host, r.URL, rt)
		}
		return ""
	}
	if h, _ := rt.Handler.(namedHandler); string(h) != rt.Name {
		t.Errorf("Lookup(%s %q %q).Handler = %v, want the handler of route %q", r.Method, r.Host, r.URL, rt.Handler, rt.Name)
	}
	return rt.Name
}

type lookupCase struct {
	name string
	req  request
	want string // route name, "" for no match
}

func runLookupCases(t *testing.T, tbl *Table, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req.build()
			if got := lookupName(t, tbl, r); got != tc.want {
				t.Errorf("Lookup(%s %q %q) = %q, want %q", r.Method, r.Host, r.URL, got, tc.want)
			}
		})
	}
}

func TestLookupHost(t *testing.T) {
	tbl := mustBuild(t, []Spec{
		{Name: "wild", Hosts: []string{"*.example.com"}},
		{Name: "wild-eu", Hosts: []string{"*.eu.example.com"}},
		{Name: "api", Hosts: []string{"api.example.com"}},
		{Name: "apex", Hosts: []string{"example.com"}},
		{Name: "api-v2", Hosts: []string{"api.eu.example.com"}, PathPrefix: "/v2/"},
		{Name: "multi", Hosts: []string{"shop.example.org", "Store.Example.org."}},
		{Name: "loopback6", Hosts: []string{"[::1]"}},
		{Name: "v6", Hosts: []string{"2001:DB8:0:0::1"}},
		{Name: "v4", Hosts: []string{"192.0.2.1"}},
		{Name: "any", PathPrefix: "/"},
	})
	runLookupCases(t, tbl, []lookupCase{
		{"exact host", request{host: "api.example.com"}, "api"},
		{"exact host beats wildcard", request{host: "api.example.com", target: "/x"}, "api"},
		{"wildcard matches one label", request{host: "www.example.com"}, "wild"},
		{"wildcard matches several labels", request{host: "a.b.example.com"}, "wild"},
		{"wildcard does not match its apex", request{host: "example.com"}, "apex"},
		{"longer wildcard suffix wins", request{host: "fr.eu.example.com"}, "wild-eu"},
		{"shorter wildcard still matches its own names", request{host: "eu.example.com"}, "wild"},
		{"exact host under a longer wildcard", request{host: "api.eu.example.com", target: "/v2/x"}, "api-v2"},
		{"falls through to wildcard when exact host routes fail", request{host: "api.eu.example.com", target: "/v1/x"}, "wild-eu"},
		{"unknown host falls to any host", request{host: "example.net"}, "any"},
		{"suffix without the dot is not a subdomain", request{host: "notexample.com"}, "any"},
		{"port stripped", request{host: "api.example.com:8443"}, "api"},
		{"upper case", request{host: "API.Example.COM"}, "api"},
		{"trailing dot", request{host: "api.example.com."}, "api"},
		{"trailing dot and port", request{host: "API.example.com.:80"}, "api"},
		{"wildcard with upper case and port", request{host: "WWW.Example.Com:8080"}, "wild"},
		{"second host of a route", request{host: "store.example.org"}, "multi"},
		{"first host of a route", request{host: "shop.example.org"}, "multi"},
		{"IPv6 literal with port", request{host: "[::1]:8080"}, "loopback6"},
		{"IPv6 literal without port", request{host: "[::1]"}, "loopback6"},
		{"IPv6 literal in another spelling", request{host: "[0:0:0:0:0:0:0:1]"}, "loopback6"},
		{"IPv6 literal in upper case", request{host: "[2001:db8::1]:443"}, "v6"},
		{"IPv6 literal without brackets", request{host: "2001:db8::1"}, "v6"},
		{"IPv4 literal with port", request{host: "192.0.2.1:8080"}, "v4"},
		{"empty host matches only any-host routes", request{host: ""}, "any"},
	})
}

func TestLookupPath(t *testing.T) {
	tbl := mustBuild(t, []Spec{
		{Name: "none"},
		{Name: "regex-first", PathRegex: `^/v[0-9]+/`},
		{Name: "regex-second", PathRegex: `/v1/$`},
		{Name: "regex-unanchored", PathRegex: `\.php$`},
		{Name: "prefix-api-slash", PathPrefix: "/api/"},
		{Name: "prefix-api", PathPrefix: "/api"},
		{Name: "prefix-api-v1", PathPrefix: "/api/v1/"},
		{Name: "exact-api-v1-status", Path: "/api/v1/status"},
		{Name: "exact-root", Path: "/"},
		{Name: "exact-encoded", Path: "/a b"},
		{Name: "exact-v2", Path: "/v2/exact"},
	})
	runLookupCases(t, tbl, []lookupCase{
		{"exact beats prefix", request{target: "/api/v1/status"}, "exact-api-v1-status"},
		{"exact is exact", request{target: "/api/v1/status/"}, "prefix-api-v1"},
		{"longest prefix wins", request{target: "/api/v1/users"}, "prefix-api-v1"},
		{"shorter prefix", request{target: "/api/v2/users"}, "prefix-api-slash"},
		{"prefix with trailing slash matches itself", request{target: "/api/"}, "prefix-api-slash"},
		{"prefix without slash matches the bare path", request{target: "/api"}, "prefix-api"},
		{"prefix without slash matches a longer segment", request{target: "/apix"}, "prefix-api"},
		{"exact beats regex", request{target: "/v2/exact"}, "exact-v2"},
		{"regex beats prefix", request{target: "/api/x.php"}, "regex-unanchored"},
		{"regex beats longest prefix", request{target: "/api/v1/x.php"}, "regex-unanchored"},
		{"prefix when every regex fails", request{target: "/api/v1/x.html"}, "prefix-api-v1"},
		{"regex in config order", request{target: "/v1/x"}, "regex-first"},
		{"later regex when earlier fails", request{target: "/x/v1/"}, "regex-second"},
		{"regex is unanchored", request{target: "/deep/index.php"}, "regex-unanchored"},
		{"regex beats no path", request{target: "/v2/"}, "regex-first"},
		{"no path predicate last", request{target: "/other"}, "none"},
		{"exact root", request{target: "/"}, "exact-root"},
		{"decoded path", request{target: "/a%20b"}, "exact-encoded"},
	})
}

// TestLookupRegexBeatsCatchAllPrefix guards the nginx order of path
// predicates: a regular expression is tried before any prefix, so a
// catch-all "path_prefix: /" does not hide a "path_regex" route.
func TestLookupRegexBeatsCatchAllPrefix(t *testing.T) {
	tbl := mustBuild(t, []Spec{
		{Name: "prefix", PathPrefix: "/"},
		{Name: "regex", PathRegex: `^/items/[0-9]+$`},
	})
	runLookupCases(t, tbl, []lookupCase{
		{"regex matches", request{target: "/items/42"}, "regex"},
		{"regex fails, prefix holds", request{target: "/items/x"}, "prefix"},
	})
}

func TestLookupEmptyPathIsRoot(t *testing.T) {
	tbl := mustBuild(t, []Spec{{Name: "root", Path: "/"}})
	r := request{}.build()
	r.URL.Path = ""
	if got := lookupName(t, tbl, r); got != "root" {
		t.Errorf("Lookup(path %q) = %q, want %q", r.URL.Path, got, "root")
	}
}

func TestLookupPredicates(t *testing.T) {
	tbl := mustBuild(t, []Spec{
		{Name: "fallback"},
		{Name: "get", Path: "/m", Methods: []string{"GET", "HEAD"}},
		{Name: "post", Path: "/m", Methods: []string{"POST"}},
		{Name: "canary", Path: "/h", Headers: map[string]string{"x-canary": "1"}},
		{Name: "empty-header", Path: "/h", Headers: map[string]string{"X-Empty": ""}},
		{Name: "query", Path: "/q", Query: map[string]string{"v": "2"}},
		{Name: "query-empty", Path: "/q", Query: map[string]string{"flag": ""}},
		{Name: "query-decoded", Path: "/q", Query: map[string]string{"a b&": "c/d=é"}},
		{Name: "cookie", Path: "/c", Cookies: map[string]string{"beta": "on"}},
		{Name: "cookie-empty", Path: "/c", Cookies: map[string]string{"gone": ""}},
		{Name: "all", Path: "/all", Methods: []string{"PUT"}, Headers: map[string]string{"X-A": "1"}, Query: map[string]string{"q": "1"}, Cookies: map[string]string{"c": "1"}},
	})
	h := func(kv ...string) http.Header {
		hd := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hd[kv[i]] = append(hd[kv[i]], kv[i+1])
		}
		return hd
	}
	runLookupCases(t, tbl, []lookupCase{
		{"method listed", request{method: "HEAD", target: "/m"}, "get"},
		{"other method", request{method: "POST", target: "/m"}, "post"},
		{"method not listed", request{method: "DELETE", target: "/m"}, "fallback"},
		{"method is case-sensitive", request{method: "get", target: "/m"}, "fallback"},

		{"header value", request{target: "/h", header: h("X-Canary", "1")}, "canary"},
		{"header value differs", request{target: "/h", header: h("X-Canary", "0")}, "fallback"},
		{"header value compared exactly", request{target: "/h", header: h("X-Empty", "x", "X-Canary", "1 ")}, "fallback"},
		{"any field of a header", request{target: "/h", header: h("X-Canary", "0", "X-Canary", "1")}, "canary"},
		{"a list in one field is one value", request{target: "/h", header: h("X-Canary", "0, 1")}, "fallback"},
		{"empty header value", request{target: "/h", header: h("X-Empty", "")}, "empty-header"},
		{"absent header", request{target: "/h"}, "fallback"},

		{"query value", request{target: "/q?v=2"}, "query"},
		{"query among others", request{target: "/q?a=1&v=2&z"}, "query"},
		{"query repeated, any occurrence", request{target: "/q?v=1&v=2"}, "query"},
		{"query value differs", request{target: "/q?v=22"}, "fallback"},
		{"query empty value with equals", request{target: "/q?flag="}, "query-empty"},
		{"query empty value without equals", request{target: "/q?x=1&flag"}, "query-empty"},
		{"query empty value wanted, other given", request{target: "/q?flag=1"}, "fallback"},
		{"query empty pairs skipped", request{target: "/q?&&v=2&"}, "query"},
		{"query percent-encoded value", request{target: "/q?v=%32"}, "query"},
		{"query plus and escapes in name and value", request{target: "/q?a+b%26=c%2Fd%3D%C3%A9"}, "query-decoded"},
		{"query lower-case escapes", request{target: "/q?a%20b%26=c/d%3d%c3%a9"}, "query-decoded"},
		{"query malformed escape skipped", request{target: "/q?v=2%"}, "fallback"},
		{"query malformed escape in other pair", request{target: "/q?x=%zz&v=2"}, "query"},
		{"query semicolon pair skipped", request{target: "/q?v=2;x=1"}, "fallback"},
		{"query name is case-sensitive", request{target: "/q?V=2"}, "fallback"},

		{"cookie", request{target: "/c", header: h("Cookie", "beta=on")}, "cookie"},
		{"cookie among others", request{target: "/c", header: h("Cookie", "a=1; beta=on; z=2")}, "cookie"},
		{"cookie without spaces", request{target: "/c", header: h("Cookie", "a=1;beta=on")}, "cookie"},
		{"cookie with extra spaces", request{target: "/c", header: h("Cookie", " a=1 ;  beta=on  ")}, "cookie"},
		{"cookie quoted", request{target: "/c", header: h("Cookie", `beta="on"`)}, "cookie"},
		{"cookie in second field", request{target: "/c", header: h("Cookie", "a=1", "Cookie", "beta=on")}, "cookie"},
		{"cookie repeated, any occurrence", request{target: "/c", header: h("Cookie", "beta=off; beta=on")}, "cookie"},
		{"cookie value differs", request{target: "/c", header: h("Cookie", "beta=onx")}, "fallback"},
		{"cookie name is case-sensitive", request{target: "/c", header: h("Cookie", "Beta=on")}, "fallback"},
		{"cookie name is not a suffix", request{target: "/c", header: h("Cookie", "xbeta=on")}, "fallback"},
		{"cookie value is not percent-decoded", request{target: "/c", header: h("Cookie", "beta=o%6E")}, "fallback"},
		{"cookie empty value", request{target: "/c", header: h("Cookie", "gone=")}, "cookie-empty"},
		{"cookie empty value without equals", request{target: "/c", header: h("Cookie", "gone")}, "cookie-empty"},
		{"cookie empty quoted value", request{target: "/c", header: h("Cookie", `gone=""`)}, "cookie-empty"},
		{"cookie header absent", request{target: "/c"}, "fallback"},

		{"all predicates hold", request{method: "PUT", target: "/all?q=1", header: h("X-A", "1", "Cookie", "c=1")}, "all"},
		{"one predicate fails", request{method: "PUT", target: "/all?q=1", header: h("X-A", "1", "Cookie", "c=2")}, "fallback"},
	})
}

func TestLookupPrecedence(t *testing.T) {
	tbl := mustBuild(t, []Spec{
		{Name: "plain", Hosts: []string{"a.example"}, PathPrefix: "/p/"},
		{Name: "get", Hosts: []string{"a.example"}, PathPrefix: "/p/", Methods: []string{"GET"}},
		{Name: "get-canary", Hosts: []string{"a.example"}, PathPrefix: "/p/", Methods: []string{"GET"}, Headers: map[string]string{"X-Canary": "1"}},
		{Name: "header-first", Hosts: []string{"a.example"}, PathPrefix: "/t/", Headers: map[string]string{"X-A": "1"}},
		{Name: "header-second", Hosts: []string{"a.example"}, PathPrefix: "/t/", Headers: map[string]string{"X-B": "1"}},
		{Name: "short-more-preds", Hosts: []string{"a.example"}, PathPrefix: "/s/", Methods: []string{"GET"}, Headers: map[string]string{"X-A": "1"}},
		{Name: "long-fewer-preds", Hosts: []string{"a.example"}, PathPrefix: "/s/long/"},
		{Name: "exact-host-prefix", Hosts: []string{"b.example"}, PathPrefix: "/"},
		{Name: "any-host-exact", Path: "/x"},
		{Name: "priority-any", Path: "/admin", Priority: 10},
		{Name: "exact-admin", Hosts: []string{"b.example"}, Path: "/admin"},
		{Name: "priority-prefix", Hosts: []string{"c.example"}, PathPrefix: "/", Priority: 1},
		{Name: "exact-path-low", Hosts: []string{"c.example"}, Path: "/exact"},
		{Name: "negative", Priority: -5},
		{Name: "priority-fallback", Hosts: []string{"d.example"}, Path: "/f", Priority: 3, Methods: []string{"POST"}},
		{Name: "exact-f", Hosts: []string{"d.example"}, Path: "/f"},
		{Name: "regex-img", Hosts: []string{"e.example"}, PathRegex: `\.png$`},
		{Name: "priority-prefix-img", Hosts: []string{"e.example"}, PathPrefix: "/img/", Priority: 1},
		{Name: "regex-more-preds", Hosts: []string{"f.example"}, PathRegex: `^/r/`},
		{Name: "prefix-more-preds", Hosts: []string{"f.example"}, PathPrefix: "/r/", Methods: []string{"GET"}, Headers: map[string]string{"X-A": "1"}},
	})
	canary := http.Header{"X-Canary": {"1"}}
	runLookupCases(t, tbl, []lookupCase{
		{"more predicates first", request{host: "a.example", target: "/p/x", header: canary}, "get-canary"},
		{"method restriction counts as one", request{host: "a.example", target: "/p/x"}, "get"},
		{"fewest predicates last", request{method: "POST", host: "a.example", target: "/p/x"}, "plain"},
		{"equal predicate counts keep config order", request{host: "a.example", target: "/t/", header: http.Header{"X-A": {"1"}, "X-B": {"1"}}}, "header-first"},
		{"equal counts, earlier fails", request{host: "a.example", target: "/t/", header: http.Header{"X-B": {"1"}}}, "header-second"},
		{"longer prefix beats more predicates", request{host: "a.example", target: "/s/long/x", header: http.Header{"X-A": {"1"}}}, "long-fewer-preds"},
		{"exact host prefix beats any-host exact path", request{host: "b.example", target: "/x"}, "exact-host-prefix"},
		{"any-host exact path for other hosts", request{host: "z.example", target: "/x"}, "any-host-exact"},
		{"priority beats exact host", request{host: "b.example", target: "/admin"}, "priority-any"},
		{"priority beats exact path", request{host: "c.example", target: "/exact"}, "priority-prefix"},
		{"priority route that fails falls back", request{host: "d.example", target: "/f"}, "exact-f"},
		{"priority route that holds", request{method: "POST", host: "d.example", target: "/f"}, "priority-fallback"},
		{"negative priority comes last", request{host: "z.example", target: "/nothing"}, "negative"},
		{"priority lets a prefix beat a regex", request{host: "e.example", target: "/img/a.png"}, "priority-prefix-img"},
		{"regex without priority elsewhere", request{host: "e.example", target: "/a.png"}, "regex-img"},
		{"regex beats prefix with more predicates", request{host: "f.example", target: "/r/x", header: http.Header{"X-A": {"1"}}}, "regex-more-preds"},
	})
}

func TestLookupNoMatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []Spec
		req   request
	}{
		{"empty table", nil, request{host: "example.com"}},
		{"host differs", []Spec{{Name: "a", Hosts: []string{"a.example"}}}, request{host: "b.example"}},
		{"path differs", []Spec{{Name: "a", Path: "/a"}}, request{target: "/b"}},
		{"prefix longer than path", []Spec{{Name: "a", PathPrefix: "/api/"}}, request{target: "/api"}},
		{"method differs", []Spec{{Name: "a", Methods: []string{"GET"}}}, request{method: "POST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := mustBuild(t, tc.specs)
			r := tc.req.build()
			if rt, ok := tbl.Lookup(r); ok || rt != nil {
				t.Errorf("Lookup(%s %q %q) = %v, %v; want nil, false", r.Method, r.Host, r.URL, rt, ok)
			}
		})
	}
	var nilTable *Table
	if rt, ok := nilTable.Lookup(request{}.build()); ok || rt != nil {
		t.Errorf("(*Table)(nil).Lookup() = %v, %v; want nil, false", rt, ok)
	}
}

func TestLookupRoute(t *testing.T) {
	h := namedHandler("api")
	tbl := mustBuild(t, []Spec{{Name: "api", Where: "palisade.yaml:3:5", Handler: h}})
	rt, ok := tbl.Lookup(request{}.build())
	if !ok || rt.Name != "api" || rt.Where != "palisade.yaml:3:5" || rt.Handler != h {
		t.Errorf("Lookup() = %+v, %v; want route api at palisade.yaml:3:5 with its handler", rt, ok)
	}
}

func TestLookupConcurrent(t *testing.T) {
	tbl := mustBuild(t, benchSpecs())
	cases := benchRequests()
	// The goroutines share each request too: the race detector then also
	// checks that Lookup never writes to it.
	reqs := make([]*http.Request, len(cases))
	for i, bc := range cases {
		reqs[i] = bc.req.build()
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for i, r := range reqs {
					got := ""
					if rt, ok := tbl.Lookup(r); ok {
						got = rt.Name
					}
					if got != cases[i].want {
						t.Errorf("Lookup(%s %q %q) = %q, want %q", r.Method, r.Host, r.URL, got, cases[i].want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestLookupDocsExample is the worked example of docs/routing.md ("How a
// route is chosen"); the two must agree.
func TestLookupDocsExample(t *testing.T) {
	tbl := mustBuild(t, []Spec{
		{Name: "users", Hosts: []string{"api.example.com"}, Path: "/v1/users"},
		{Name: "v1", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/"},
		{Name: "writes", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/", Methods: []string{"POST", "PUT", "DELETE"}},
		{Name: "images", Hosts: []string{"*.example.com"}, PathRegex: `^/img/.*\.png$`},
		{Name: "legacy", Hosts: []string{"*.example.com"}, PathPrefix: "/img/legacy/", Priority: 1},
		{Name: "site", Hosts: []string{"*.example.com"}, PathPrefix: "/"},
		{Name: "health", Path: "/health"},
		{Name: "admin", PathPrefix: "/admin/", Cookies: map[string]string{"role": "admin"}, Priority: 10},
	})
	runLookupCases(t, tbl, []lookupCase{
		{"exact path beats prefix", request{host: "api.example.com", target: "/v1/users"}, "users"},
		{"same prefix, more predicates", request{method: "POST", host: "api.example.com", target: "/v1/orders"}, "writes"},
		{"method fails", request{host: "api.example.com", target: "/v1/orders"}, "v1"},
		{"host comes before path", request{host: "api.example.com", target: "/health"}, "site"},
		{"no host-specific route", request{host: "other.test", target: "/health"}, "health"},
		{"regex beats prefix", request{host: "www.example.com", target: "/img/a.png"}, "images"},
		{"prefix when the regex fails", request{host: "www.example.com", target: "/img/a.gif"}, "site"},
		{"priority lets a prefix beat a regex", request{host: "www.example.com", target: "/img/legacy/a.png"}, "legacy"},
		{"wildcard misses its apex", request{host: "example.com", target: "/"}, ""},
		{"priority beats everything", request{host: "api.example.com", target: "/admin/", header: http.Header{"Cookie": {"role=admin"}}}, "admin"},
	})
}
