package route

import (
	"fmt"
	"net/http"
	"testing"
)

// benchSpecs returns a table of 50 routes shaped like a real deployment:
// ten services on their own hosts, a wildcard site, and shared any-host
// routes using every predicate.
func benchSpecs() []Spec {
	var specs []Spec
	for i := range 10 {
		host := fmt.Sprintf("svc%d.example.com", i)
		specs = append(specs,
			Spec{Name: fmt.Sprintf("svc%d-health", i), Hosts: []string{host}, Path: "/health"},
			Spec{Name: fmt.Sprintf("svc%d-v1", i), Hosts: []string{host}, PathPrefix: "/api/v1/"},
			Spec{Name: fmt.Sprintf("svc%d-api", i), Hosts: []string{host}, PathPrefix: "/api/"},
		)
	}
	specs = append(specs,
		Spec{Name: "site-static", Hosts: []string{"*.example.com"}, PathPrefix: "/static/"},
		Spec{Name: "site-images", Hosts: []string{"*.example.com"}, PathRegex: `^/img/[a-z0-9]+\.(png|jpg)$`},
		Spec{Name: "site-canary", Hosts: []string{"*.example.com"}, Headers: map[string]string{"X-Canary": "1"}},
		Spec{Name: "site-write", Hosts: []string{"*.example.com"}, Methods: []string{"POST", "PUT", "DELETE"}},
		// No path predicate rather than prefix "/": a prefix beats every
		// path-less route, so "/" would hide site-canary and site-write.
		Spec{Name: "site", Hosts: []string{"*.example.com"}},
		Spec{Name: "eu-site", Hosts: []string{"*.eu.example.com"}, PathPrefix: "/"},
		Spec{Name: "admin", Path: "/admin", Priority: 10, Cookies: map[string]string{"role": "admin"}},
	)
	for i := range 10 {
		specs = append(specs, Spec{Name: fmt.Sprintf("shared%d", i), PathPrefix: fmt.Sprintf("/shared/%d/", i)})
	}
	specs = append(specs,
		Spec{Name: "beta", PathPrefix: "/app/", Cookies: map[string]string{"beta": "on"}},
		Spec{Name: "v2", PathPrefix: "/app/", Query: map[string]string{"version": "2"}},
		Spec{Name: "app", PathPrefix: "/app/"},
		Spec{Name: "docs", PathRegex: `^/docs/v[0-9]+/`},
		Spec{Name: "login", Path: "/login", Methods: []string{"POST"}},
		Spec{Name: "metrics", Path: "/metrics"},
		Spec{Name: "catch-all"},
	)
	return specs
}

// benchRequests returns requests against benchSpecs, one per kind of match,
// with the route each must reach.
func benchRequests() []lookupCase {
	cookies := http.Header{"Cookie": {"session=abc123; theme=dark; beta=on; lang=en"}}
	return []lookupCase{
		{"exact host exact path", request{host: "svc7.example.com", target: "/health"}, "svc7-health"},
		{"exact host longest prefix", request{host: "svc3.example.com:8080", target: "/api/v1/users/42"}, "svc3-v1"},
		{"upper-case host", request{host: "SVC3.Example.com", target: "/api/v2/users"}, "svc3-api"},
		{"wildcard prefix", request{host: "www.example.com", target: "/static/app.css"}, "site-static"},
		{"wildcard regex", request{host: "www.example.com", target: "/img/logo.png"}, "site-images"},
		{"wildcard header", request{host: "www.example.com", target: "/", header: http.Header{"X-Canary": {"1"}}}, "site-canary"},
		{"wildcard method", request{method: "POST", host: "www.example.com", target: "/form"}, "site-write"},
		{"longer wildcard", request{host: "fr.eu.example.com", target: "/"}, "eu-site"},
		{"any host prefix", request{host: "other.test", target: "/shared/9/x"}, "shared9"},
		{"cookie", request{host: "other.test", target: "/app/", header: cookies}, "beta"},
		{"query", request{host: "other.test", target: "/app/?lang=en&version=2"}, "v2"},
		{"priority cookie", request{host: "svc1.example.com", target: "/admin", header: http.Header{"Cookie": {"session=1; role=admin"}}}, "admin"},
		{"any host regex", request{host: "other.test", target: "/docs/v3/intro"}, "docs"},
		{"IPv6 host catch-all", request{host: "[2001:db8::1]:443", target: "/nothing"}, "catch-all"},
	}
}

func BenchmarkLookup(b *testing.B) {
	tbl := mustBuild(b, benchSpecs())
	for _, bc := range benchRequests() {
		r := bc.req.build()
		rt, ok := tbl.Lookup(r)
		if !ok || rt.Name != bc.want {
			b.Fatalf("Lookup(%s %q %q) = %v, %v; want route %q", r.Method, r.Host, r.URL, rt, ok, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tbl.Lookup(r)
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	specs := benchSpecs()
	for i := range specs {
		specs[i].Handler = namedHandler(specs[i].Name)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(specs); err != nil {
			b.Fatal(err)
		}
	}
}
