package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Validate checks c as a whole and returns every problem, in source order,
// positioned with c.Positions; it returns nil when c is valid. Parse has
// already run it: callers need it only for a Config they changed.
func (c *Config) Validate() Diagnostics {
	if ds := validate(c, nil); len(ds) > 0 {
		return sortDiagnostics(ds)
	}
	return nil
}

// validator collects the problems of one Config. Its checks read only
// decoded values, so each assumes nothing about the others.
type validator struct {
	cfg *Config
	// failed holds the paths the decoder could not decode; problems at or
	// under them are not reported again.
	failed map[string]bool
	diags  Diagnostics
}

func validate(c *Config, failed map[string]bool) Diagnostics {
	v := &validator{cfg: c, failed: failed}
	v.runtime()
	v.accessLog()
	listeners := v.listeners()
	upstreams := v.upstreams()
	v.routes(listeners, upstreams)
	v.cacheRoutes(v.cacheZones())
	v.rateLimitRoutes(v.rateLimitZones())
	return v.diags
}

// report records a problem with the value at path unless the decoder
// already reported it.
func (v *validator) report(path, message, hint string) {
	for p := path; ; p = parentPath(p) {
		if v.failed[p] {
			return
		}
		if p == "" {
			break
		}
	}
	v.diags = append(v.diags, v.cfg.Diagnostic(path, message, hint))
}

// written reports whether the document wrote a value at path.
func (v *validator) written(path string) bool {
	_, ok := v.cfg.Positions[path]
	return ok
}

// elemPath is the path of entry i of the list at path, or path itself
// when the document wrote the list as one scalar (a StringList).
func (v *validator) elemPath(path string, i int) string {
	p := index(path, i)
	if !v.written(p) && v.written(path) {
		return path
	}
	return p
}

func (v *validator) runtime() {
	r := v.cfg.Runtime
	if r.GOGC == 0 || r.GOGC < -1 {
		v.report("runtime.gogc", fmt.Sprintf("must be -1 (collector off) or a percentage of 1 or more, got %d", r.GOGC),
			"the default is 200; Go's own default is 100")
	}
	if r.MemoryLimit < 0 {
		v.report("runtime.memory_limit", "must not be negative", "write 0 for no limit")
	}
}

// maxWeight bounds a backend weight, so sums over a pool cannot overflow.
const maxWeight = 1 << 20

func (v *validator) accessLog() {
	if v.cfg.AccessLog.Output == "" {
		v.report("access_log.output", "must not be empty", "write stdout, stderr, off or a file path")
	}
	if b := v.cfg.AccessLog.Buffer; b < 0 || b > 16<<20 {
		v.report("access_log.buffer", "must be between 0 and 16MiB", "write 64KiB, or 0 to write every line at once")
	}
	if v.cfg.AccessLog.Buffer > 0 && v.cfg.AccessLog.FlushInterval <= 0 {
		v.report("access_log.flush_interval", "must be positive when buffer is set", "write 1s")
	}
}

// names checks the name of every entry of a section (listeners, routes or
// upstreams) and returns the valid names, in document order without
// repeats.
func (v *validator) names(section, label, example string, names []string) []string {
	var valid []string
	first := make(map[string]int)
	for i, name := range names {
		p := index(section, i) + ".name"
		switch prev, dup := first[name]; {
		case name == "" && !v.written(p):
			v.report(p, "missing", fmt.Sprintf("every %s needs a unique name, like name: %s", label, example))
		case name == "":
			v.report(p, "must not be empty", fmt.Sprintf("every %s needs a unique name, like name: %s", label, example))
		case !validName(name):
			v.report(p, fmt.Sprintf("%q is not a valid name", name), "use letters, digits, _, . and -, starting with a letter or digit")
		case dup:
			at := v.cfg.Pos(index(section, prev) + ".name")
			v.report(p, fmt.Sprintf("duplicate %s name %q (first defined at %d:%d)", label, name, at.Line, at.Col), "")
		default:
			first[name] = i
			valid = append(valid, name)
		}
	}
	return valid
}

// validName reports whether s matches ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func (v *validator) listeners() []string {
	c := v.cfg
	if len(c.Listeners) == 0 {
		v.report("listeners", "at least one listener is required",
			"add one, like listeners: [{name: web, address: 127.0.0.1:8080}]")
		return nil
	}
	names := make([]string, len(c.Listeners))
	for i, l := range c.Listeners {
		names[i] = l.Name
	}
	valid := v.names("listeners", "listener", "web", names)
	first := make(map[string]int)
	for i, l := range c.Listeners {
		p := index("listeners", i)
		if key, ok := v.address(p+".address", l.Address, true); ok && !strings.HasSuffix(key, ":0") {
			if prev, dup := first[key]; dup {
				at := c.Pos(index("listeners", prev) + ".address")
				v.report(p+".address", fmt.Sprintf("duplicate listener address %q (first defined at %d:%d)", l.Address, at.Line, at.Col), "")
			} else {
				first[key] = i
			}
		}
		if n := l.Limits.MaxHeaderBytes; n < 1<<10 || n > 1<<20 {
			v.report(p+".limits.max_header_bytes", fmt.Sprintf("must be between 1KiB and 1MiB, got %s", n), "the default is 32KiB")
		}
		if n := l.Limits.MaxHeaderCount; n < 8 || n > 1000 {
			v.report(p+".limits.max_header_count", fmt.Sprintf("must be between 8 and 1000, got %d", n), "the default is 100")
		}
		if l.Limits.MaxBodyBytes < 0 {
			v.report(p+".limits.max_body_bytes", "must not be negative", "write 0 for no limit")
		}
		if !slices.Contains(underscorePolicies(), l.UnderscoresInHeaders) {
			v.report(p+".underscores_in_headers", fmt.Sprintf("unknown value %q", l.UnderscoresInHeaders),
				oneOfHint(l.UnderscoresInHeaders, "known values", underscorePolicies()))
		}
		v.listenerTLS(p+".tls", l.TLS)
		if l.IPFilter != nil {
			for _, pr := range l.IPFilter.check() {
				v.report(join(p+".ip_filter", pr.Field), pr.Message, pr.Hint)
			}
		}
	}
	return valid
}

// address checks the host:port at path. A listener may leave the host
// empty (every interface) and use port 0 (any free port). It returns a
// canonical form for finding duplicates, and whether addr is valid.
func (v *validator) address(path, addr string, listener bool) (string, bool) {
	if addr == "" {
		example := "127.0.0.1:9001"
		if listener {
			example = "127.0.0.1:8080"
		}
		v.report(path, "missing", "write host:port, like "+example)
		return "", false
	}
	key, problem, hint := checkHostPort(addr, listener)
	if problem != "" {
		v.report(path, strconv.Quote(addr)+" "+problem, hint)
		return "", false
	}
	return key, true
}

// checkHostPort checks addr as host:port; problem is empty when it is
// valid, and key is then addr in a canonical form.
func checkHostPort(addr string, listener bool) (key, problem, hint string) {
	if i := strings.Index(addr, "://"); i >= 0 {
		rest := addr[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[:j]
		}
		return "", "must not include a scheme", "write " + rest
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if a, aerr := netip.ParseAddr(addr); aerr == nil && a.Is6() {
			return "", "is not host:port", "put an IPv6 address in brackets, like [::1]:8080"
		}
		if _, aerr := netip.ParseAddr(addr); aerr == nil || validHostname(addr) {
			return "", "has no port", "write " + net.JoinHostPort(addr, "8080") + ", with the port you mean"
		}
		return "", "is not host:port", "write host:port, like 127.0.0.1:8080 or [::1]:8080"
	}
	n, err := strconv.Atoi(port)
	if err != nil || port == "" || port[0] < '0' || port[0] > '9' {
		return "", "has a port that is not a number", "ports are numbers from 1 to 65535"
	}
	switch {
	case n > 65535:
		return "", "has a port above 65535", ""
	case n == 0 && !listener:
		return "", "has port 0", "write the port the backend listens on"
	}
	switch a, err := netip.ParseAddr(host); {
	case host == "" && !listener:
		return "", "has no host", "write " + net.JoinHostPort("127.0.0.1", port)
	case err == nil:
		host = a.String()
	case host != "" && !validHostname(host):
		return "", "has an invalid host", "write a host name or an IP address before the port"
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n)), "", ""
}

// validHostname reports whether h is a DNS name: dot-separated labels of
// letters, digits, "-" and "_" (seen in internal names), none empty or
// longer than 63 bytes, none starting or ending with "-".
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (v *validator) upstreams() []string {
	c := v.cfg
	names := make([]string, len(c.Upstreams))
	for i, u := range c.Upstreams {
		names[i] = u.Name
	}
	valid := v.names("upstreams", "upstream", "api", names)
	for i, u := range c.Upstreams {
		p := index("upstreams", i)
		if !slices.Contains(balancingPolicies(), u.Policy) {
			v.report(p+".policy", fmt.Sprintf("unknown policy %q", u.Policy), oneOfHint(u.Policy, "known policies", balancingPolicies()))
		}
		if !slices.Contains(backendProtocols(), u.Protocol) {
			v.report(p+".protocol", fmt.Sprintf("unknown protocol %q", u.Protocol), oneOfHint(u.Protocol, "known protocols", backendProtocols()))
		}
		if u.MaxIdleConns < 0 {
			v.report(p+".max_idle_conns", fmt.Sprintf("must be 0 or more, got %d", u.MaxIdleConns), "write 0 to keep no idle connections")
		}
		v.upstreamFeatures(p, u)
		if len(u.Backends) == 0 {
			v.report(p+".backends", "no backends", "add at least one, like backends: [{address: 127.0.0.1:9001}]")
		}
		first := make(map[string]int)
		for j, b := range u.Backends {
			bp := index(p+".backends", j)
			if key, ok := v.address(bp+".address", b.Address, false); ok {
				if prev, dup := first[key]; dup {
					at := c.Pos(index(p+".backends", prev) + ".address")
					v.report(bp+".address", fmt.Sprintf("duplicate backend address %q (first defined at %d:%d)", b.Address, at.Line, at.Col),
						"give a backend more traffic with weight")
				} else {
					first[key] = j
				}
			}
			if b.Weight < 1 {
				v.report(bp+".weight", fmt.Sprintf("must be at least 1, got %d", b.Weight), "remove the backend to send it no traffic")
			} else if b.Weight > maxWeight {
				v.report(bp+".weight", fmt.Sprintf("must be at most %d, got %d", maxWeight, b.Weight), "weights are relative: divide them all by a common factor")
			}
		}
	}
	return valid
}

func (v *validator) routes(listeners, upstreams []string) {
	c := v.cfg
	names := make([]string, len(c.Routes))
	for i, r := range c.Routes {
		names[i] = r.Name
	}
	v.names("routes", "route", "api", names)
	for i := range c.Routes {
		r := &c.Routes[i]
		p := index("routes", i)
		listed := make(map[string]bool)
		for j, name := range r.Listeners {
			lp := index(p+".listeners", j)
			switch {
			case !slices.Contains(listeners, name):
				v.report(lp, fmt.Sprintf("unknown listener %q (%s)", name, defined("listeners", listeners)), didYouMean(name, listeners))
			case listed[name]:
				v.report(lp, fmt.Sprintf("listener %q is listed twice", name), "remove one")
			}
			listed[name] = true
		}
		switch {
		case r.Upstream == "":
			v.report(p+".upstream", "missing", "name the upstream that serves this route; "+defined("upstreams", upstreams))
		case !slices.Contains(upstreams, r.Upstream):
			v.report(p+".upstream", fmt.Sprintf("unknown upstream %q (%s)", r.Upstream, defined("upstreams", upstreams)), didYouMean(r.Upstream, upstreams))
		}
		v.match(p+".match", &r.Match)
		for j := range r.Middlewares {
			v.kindBody(index(p+".middlewares", j), reflect.ValueOf(&r.Middlewares[j]).Elem())
		}
	}
}

// defined lists the names of a section for an "unknown name" message.
func defined(section string, names []string) string {
	if len(names) == 0 {
		return "no " + section + " are defined"
	}
	return "defined " + section + ": " + strings.Join(names, ", ")
}

// didYouMean returns a hint naming the candidate closest to word, or "".
func didYouMean(word string, candidates []string) string {
	if s := closest(word, candidates); s != "" {
		return "did you mean " + s + "?"
	}
	return ""
}

// kindBody runs check on the body set in the polymorphic struct v (see
// decodeKinded) and reports its problems under path.
func (v *validator) kindBody(path string, s reflect.Value) {
	_, kinds := structFields(s.Type())
	for _, k := range kinds {
		f := s.Field(k.index)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		c, ok := f.Interface().(checker)
		if !ok {
			continue
		}
		for _, p := range c.check() {
			fp := path
			if p.Field != "" {
				fp = join(path, p.Field)
			}
			v.report(fp, p.Message, p.Hint)
		}
	}
}

func (v *validator) match(p string, m *Match) {
	// The first of path, path_prefix and path_regex written is the one
	// kept; the others are reported.
	var set []string
	for _, f := range []struct{ key, value string }{
		{"path", m.Path}, {"path_prefix", m.PathPrefix}, {"path_regex", m.PathRegex},
	} {
		if f.value != "" {
			set = append(set, f.key)
		}
	}
	slices.SortStableFunc(set, func(a, b string) int { return comparePos(v.cfg.Pos(join(p, a)), v.cfg.Pos(join(p, b))) })
	for _, key := range set[min(1, len(set)):] {
		v.report(join(p, key), "cannot be combined with "+set[0], "a route matches on at most one of path, path_prefix and path_regex")
	}
	v.path(join(p, "path"), m.Path)
	v.path(join(p, "path_prefix"), m.PathPrefix)
	if m.PathRegex != "" {
		if _, err := regexp.Compile(m.PathRegex); err != nil {
			v.report(join(p, "path_regex"), "invalid regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "), "")
		}
	}
	for i, h := range m.Host {
		if problem, hint := checkHost(h); problem != "" {
			v.report(v.elemPath(join(p, "host"), i), strconv.Quote(h)+" "+problem, hint)
		}
	}
	methods := make(map[string]bool)
	for i, method := range m.Methods {
		mp := index(join(p, "methods"), i)
		switch {
		case !isToken(method):
			v.report(mp, strconv.Quote(method)+" is not a method", "methods are tokens like GET or POST")
		case strings.ToUpper(method) != method:
			v.report(mp, strconv.Quote(method)+" is not upper-case", "write "+strings.ToUpper(method)+"; methods are case-sensitive")
		case methods[method]:
			v.report(mp, strconv.Quote(method)+" is listed twice", "remove one")
		}
		methods[method] = true
	}
	v.headerNames(join(p, "headers"), m.Headers)
	for _, name := range v.tokenKeys(join(p, "cookies"), "cookie", m.Cookies) {
		if value := m.Cookies[name]; !validCookieValue(value) {
			v.report(join(join(p, "cookies"), name), strconv.Quote(value)+" cannot be a cookie value",
				`cookie values are printable ASCII without ", ; and \`)
		}
	}
	for _, name := range v.sortedKeys(join(p, "query"), m.Query) {
		if name == "" {
			v.report(join(p, "query"), "a query parameter name is empty", "")
		}
	}
}

// path checks a path or path_prefix value.
func (v *validator) path(p, s string) {
	switch {
	case s == "":
	case !strings.HasPrefix(s, "/"):
		v.report(p, strconv.Quote(s)+` does not start with "/"`, "write /"+s)
	case strings.ContainsAny(s, "?#"):
		v.report(p, strconv.Quote(s)+" includes a query or fragment", "match query parameters with match.query")
	}
}

// headerNames checks the keys of match.headers: tokens, and no name twice
// in different case (header names are case-insensitive, RFC 9110 §5.1).
func (v *validator) headerNames(p string, headers map[string]string) {
	first := make(map[string]string)
	for _, name := range v.tokenKeys(p, "header", headers) {
		lower := strings.ToLower(name)
		if lower == "host" {
			// net/http moves Host out of the header map; match.host sees it.
			v.report(join(p, name), "Host cannot be matched as a header", "use match.host")
			continue
		}
		prev, dup := first[lower]
		if !dup {
			first[lower] = name
			continue
		}
		at := v.cfg.Pos(join(p, prev))
		v.report(join(p, name), fmt.Sprintf("duplicate header name %q (first defined at %d:%d as %q)", name, at.Line, at.Col, prev),
			"header names are case-insensitive; keep one")
	}
}

// tokenKeys reports the keys of m that are not tokens (RFC 9110 §5.6.2)
// and returns the keys in document order.
func (v *validator) tokenKeys(p, what string, m map[string]string) []string {
	keys := v.sortedKeys(p, m)
	for _, name := range keys {
		if !isToken(name) {
			v.report(join(p, name), fmt.Sprintf("%q is not a valid %s name", name, what),
				"names are tokens: letters, digits and !#$%&'*+-.^_`|~")
		}
	}
	return keys
}

// sortedKeys returns the keys of the map at path in document order, so
// that "first defined" means first in the file.
func (v *validator) sortedKeys(path string, m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(comparePos(v.cfg.Pos(join(path, a)), v.cfg.Pos(join(path, b))), strings.Compare(a, b))
	})
	return keys
}

// validCookieValue reports whether every byte of v may appear in a cookie
// value as net/http reads one, so that some request can match it.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkHost checks one match.host entry: a host name, an IP address, or
// "*." and a domain. problem is empty when it is valid.
func checkHost(h string) (problem, hint string) {
	if h == "" {
		return "is empty", "omit host to match every host"
	}
	if i := strings.Index(h, "://"); i >= 0 {
		rest := h[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			rest = rest[:j]
		}
		if host, _, err := net.SplitHostPort(rest); err == nil {
			rest = host
		}
		return "must not include a scheme", "write " + rest
	}
	if i := strings.IndexAny(h, "/?#"); i >= 0 {
		return "must not include a path", "write " + h[:i] + " and match the path with path or path_prefix"
	}
	if h == "*" {
		return "is not needed", "omit host to match every host"
	}
	if suffix, ok := strings.CutPrefix(h, "*."); ok {
		if !validHostname(suffix) {
			return "is not a valid wildcard", `write "*." and a domain, like *.example.com`
		}
		return "", ""
	}
	if strings.Contains(h, "*") {
		return "is not a valid wildcard", `a wildcard is "*." and a domain, like *.example.com`
	}
	if inner, ok := strings.CutPrefix(h, "["); ok {
		inner, closed := strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); err != nil || !closed || !a.Is6() {
			return "is not an IPv6 literal", "write [2001:db8::1], or an IPv4 address without brackets"
		}
		return "", ""
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return "", ""
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		return "must not include a port", "write " + host + "; routes match the host without its port"
	}
	if t := strings.TrimSuffix(h, "."); t != h && validHostname(t) {
		return "ends with a dot", "write " + t
	}
	if !validHostname(h) {
		return "is not a valid host name", "use letters, digits, - and ., like api.example.com; write internationalized names in their xn-- form"
	}
	return "", ""
}
