package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestIPFilterDecode(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(`
listeners: [{name: web, address: 127.0.0.1:8080}]
upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]
routes: [{name: a, upstream: api, middlewares: [{kind: ipfilter, allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.1.2.3]}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Routes[0].Middlewares[0].IPFilter
	if f == nil {
		t.Fatal("no IPFilter body")
	}
	wantAllow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	wantDeny := []netip.Prefix{netip.MustParsePrefix("10.1.2.3/32")}
	if !slices.Equal(f.Allow, wantAllow) || !slices.Equal(f.Deny, wantDeny) {
		t.Errorf("IPFilter = %+v, want allow %v deny %v", *f, wantAllow, wantDeny)
	}
}

func TestIPFilterProblems(t *testing.T) {
	for _, tc := range []struct{ name, mw, want string }{
		{"no list", `{kind: ipfilter}`,
			"t.yaml:4:49: routes[0].middlewares[0].allow: neither allow nor deny is set: the filter would pass everyone (hint: list prefixes under allow, deny or both, or remove the filter)"},
		{"bad prefix", `{kind: ipfilter, deny: [10.0.0.1/8]}`,
			`routes[0].middlewares[0].deny[0]: "10.0.0.1/8" has bits set past its prefix length (hint: write 10.0.0.0/8)`},
		{"not an address", `{kind: ipfilter, allow: [example.com]}`,
			`routes[0].middlewares[0].allow[0]: "example.com" is not an IP address or prefix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(`
listeners: [{name: web, address: 127.0.0.1:8080}]
upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]
routes: [{name: a, upstream: api, middlewares: [`+tc.mw+`]}]
`))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestListenerIPFilter(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(`
listeners: [{name: web, address: 127.0.0.1:8080, ip_filter: {allow: [127.0.0.0/8]}}]
upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]
routes: [{name: a, upstream: api}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Listeners[0].IPFilter; f == nil || len(f.Allow) != 1 || f.Allow[0] != netip.MustParsePrefix("127.0.0.0/8") {
		t.Errorf("listener IPFilter = %+v, want allow [127.0.0.0/8]", f)
	}
	_, err = Parse("t.yaml", []byte(`
listeners: [{name: web, address: 127.0.0.1:8080, ip_filter: {}}]
upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]
routes: [{name: a, upstream: api}]
`))
	if want := "listeners[0].ip_filter.allow: neither allow nor deny is set"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse with an empty ip_filter = %v, want an error containing %q", err, want)
	}
}
