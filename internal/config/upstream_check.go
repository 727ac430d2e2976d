package config

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// upstreamFeatures checks the balancing, health, retry and limit settings
// of the upstream at path.
func (v *validator) upstreamFeatures(p string, u Upstream) {
	v.hashKey(p+".hash_key", u.HashKey)
	if u.BalanceFactor <= 1 {
		v.report(p+".balance_factor", fmt.Sprintf("must be above 1, got %v", float64(u.BalanceFactor)),
			"1.25 lets a backend take a quarter more than the average load")
	}
	if u.EWMADecay <= 0 {
		v.report(p+".ewma_decay", "must be positive", "write 10s")
	}
	// Keys of one policy, or one protocol, written where they do nothing:
	// the document says something the running upstream would not do.
	for _, k := range []struct {
		key      string
		policies []string
	}{
		{"hash_key", []string{"hash", "consistent_hash"}},
		{"balance_factor", []string{"consistent_hash"}},
		{"ewma_decay", []string{"ewma"}},
	} {
		if v.written(p+"."+k.key) && !slices.Contains(k.policies, u.Policy) {
			v.report(p+"."+k.key, fmt.Sprintf("applies only to policy %s, not %s", strings.Join(k.policies, " or "), u.Policy), "remove it, or set the policy")
		}
	}
	primaries := 0
	for _, b := range u.Backends {
		if !b.Backup {
			primaries++
		}
	}
	if len(u.Backends) > 0 && primaries == 0 {
		v.report(p+".backends", "every backend is a backup", "mark at least one backend as a primary (backup: false)")
	}
	if s := u.Sticky; s != nil {
		sp := p + ".sticky"
		if !validCookieName(s.Cookie) {
			v.report(sp+".cookie", fmt.Sprintf("%q is not a cookie name", s.Cookie), "use letters, digits, - and _")
		}
		if !slices.Contains([]string{"", "lax", "strict", "none"}, s.SameSite) {
			v.report(sp+".same_site", fmt.Sprintf("unknown value %q", s.SameSite), "write lax, strict or none")
		}
		if s.SameSite == "none" && !s.Secure {
			v.report(sp+".same_site", "same_site: none needs secure: true", "browsers drop a SameSite=None cookie that is not Secure")
		}
		if s.Path == "" || s.Path[0] != '/' {
			v.report(sp+".path", fmt.Sprintf("%q does not start with /", s.Path), "write /")
		}
	}
	if h := u.HealthCheck; h != nil {
		v.healthCheck(p+".health_check", h)
	}
	v.passiveHealth(p+".passive_health", u.PassiveHealth)
	v.retries(p+".retries", u.Retries)
	l, lp := u.Limits, p+".limits"
	for _, f := range []struct {
		key string
		n   int
	}{{"max_connections", l.MaxConnections}, {"max_requests", l.MaxRequests}, {"max_pending", l.MaxPending}} {
		if f.n < 0 {
			v.report(lp+"."+f.key, fmt.Sprintf("must be 0 (no limit) or more, got %d", f.n), "")
		}
	}
	if l.MaxPending > 0 && l.QueueTimeout <= 0 {
		v.report(lp+".queue_timeout", "must be positive when max_pending is set", "write 1s")
	}
	if u.Resolve.Interval < Duration(time.Second) {
		v.report(p+".resolve.interval", "must be at least 1s", "write 30s")
	}
	if ns := u.Resolve.Nameserver; ns != "" {
		if _, problem, hint := checkHostPort(ns, false); problem != "" {
			v.report(p+".resolve.nameserver", strconv.Quote(ns)+" "+problem, hint)
		}
	}
}

// hashKey checks a hash_key: client_ip, header:NAME, cookie:NAME or
// query:NAME.
func (v *validator) hashKey(path, key string) {
	const shapes = "write client_ip, header:NAME, cookie:NAME or query:NAME"
	if key == "client_ip" {
		return
	}
	src, name, ok := strings.Cut(key, ":")
	switch {
	case !ok:
		v.report(path, fmt.Sprintf("unknown hash key %q", key), shapes)
	case src != "header" && src != "cookie" && src != "query":
		v.report(path, fmt.Sprintf("unknown hash key source %q", src), shapes)
	case name == "":
		v.report(path, fmt.Sprintf("%q names no %s", key, src), shapes)
	case src == "header" && !isToken(name):
		v.report(path, fmt.Sprintf("%q is not a header name", name), "")
	case src == "cookie" && !validCookieName(name):
		v.report(path, fmt.Sprintf("%q is not a cookie name", name), "")
	}
}

func validCookieName(s string) bool { return s != "" && isToken(s) }

func (v *validator) healthCheck(p string, h *HealthCheck) {
	if !slices.Contains(healthCheckTypes(), h.Type) {
		v.report(p+".type", fmt.Sprintf("unknown health check type %q", h.Type), oneOfHint(h.Type, "known types", healthCheckTypes()))
	}
	if h.Interval <= 0 {
		v.report(p+".interval", "must be positive", "write 5s")
	}
	if h.Timeout <= 0 {
		v.report(p+".timeout", "must be positive", "write 2s")
	} else if h.Interval > 0 && h.Timeout > h.Interval {
		v.report(p+".timeout", fmt.Sprintf("%v is longer than the interval %v", h.Timeout, h.Interval), "a probe must end before the next one starts")
	}
	if h.Rise < 1 {
		v.report(p+".rise", fmt.Sprintf("must be at least 1, got %d", h.Rise), "write 2")
	}
	if h.Fall < 1 {
		v.report(p+".fall", fmt.Sprintf("must be at least 1, got %d", h.Fall), "write 3")
	}
	if h.Jitter > 0.5 {
		v.report(p+".jitter", fmt.Sprintf("%v is more than 50%%", h.Jitter), "write 10%")
	}
	if h.Port < 0 || h.Port > 65535 {
		v.report(p+".port", fmt.Sprintf("%d is not a port", h.Port), "write 0 to probe the backend's own port")
	}
	if h.Type != "http" {
		for _, k := range []string{"path", "method", "host", "headers", "expect_status", "expect_body"} {
			if v.written(p + "." + k) {
				v.report(p+"."+k, fmt.Sprintf("applies only to http checks, not %s", h.Type), "remove it")
			}
		}
	}
	if h.Type != "grpc" && v.written(p+".service") {
		v.report(p+".service", fmt.Sprintf("applies only to grpc checks, not %s", h.Type), "remove it")
	}
	if h.Path == "" || h.Path[0] != '/' {
		v.report(p+".path", fmt.Sprintf("%q does not start with /", h.Path), "write /healthz")
	}
	if !isToken(h.Method) || strings.ToUpper(h.Method) != h.Method {
		v.report(p+".method", fmt.Sprintf("%q is not a method", h.Method), "write GET or HEAD")
	}
	for name := range h.Headers {
		if !isToken(name) {
			v.report(p+".headers."+name, fmt.Sprintf("%q is not a header name", name), "")
		}
	}
	if len(h.ExpectStatus) == 0 {
		v.report(p+".expect_status", "no statuses: every probe would fail", "remove the key for the default [200-399]")
	}
	for i, s := range h.ExpectStatus {
		if _, _, ok := ParseStatusRange(s); !ok {
			v.report(fmt.Sprintf("%s.expect_status[%d]", p, i), fmt.Sprintf("%q is not a status or a range", s), "write 200 or 200-399")
		}
	}
}

// ParseStatusRange parses "200" or "200-399" into its bounds.
func ParseStatusRange(s string) (lo, hi int, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, false
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, false
		}
	}
	if lo < 100 || hi > 599 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

func (v *validator) passiveHealth(p string, ph PassiveHealth) {
	if ph.ConsecutiveFailures < 0 {
		v.report(p+".consecutive_failures", "must not be negative", "write 0 to turn the rule off")
	}
	if ph.ErrorRatio > 1 {
		v.report(p+".error_ratio", fmt.Sprintf("%v is more than 100%%", ph.ErrorRatio), "write 50%, or 0 to turn the rule off")
	}
	if ph.ErrorRatio > 0 && ph.Window <= 0 {
		v.report(p+".window", "must be positive when error_ratio is set", "write 10s")
	}
	if ph.MinRequests < 1 {
		v.report(p+".min_requests", fmt.Sprintf("must be at least 1, got %d", ph.MinRequests), "write 20")
	}
	if ph.EjectTime <= 0 {
		v.report(p+".eject_time", "must be positive", "write 30s")
	}
	if ph.MaxEjectTime < ph.EjectTime {
		v.report(p+".max_eject_time", fmt.Sprintf("%v is shorter than eject_time %v", ph.MaxEjectTime, ph.EjectTime), "write 5m")
	}
	if ph.MaxEjected > 1 {
		v.report(p+".max_ejected", fmt.Sprintf("%v is more than 100%%", ph.MaxEjected), "write 50%")
	}
}

func (v *validator) retries(p string, r Retries) {
	if r.Attempts < 1 {
		v.report(p+".attempts", fmt.Sprintf("must be at least 1, got %d", r.Attempts), "write 1 to retry nothing but connect failures")
	}
	for i, s := range r.OnStatus {
		if s < 500 || s > 599 || s == http.StatusNotImplemented || s == http.StatusHTTPVersionNotSupported {
			v.report(fmt.Sprintf("%s.on_status[%d]", p, i), fmt.Sprintf("%d is not a retryable status", s), "list 5xx statuses other than 501 and 505, such as 502, 503, 504")
		}
	}
	if r.BodyBuffer < 0 || r.BodyBuffer > 16<<20 {
		v.report(p+".body_buffer", "must be between 0 and 16MiB", "write 64KiB")
	}
	if r.Budget > 1 {
		v.report(p+".budget", fmt.Sprintf("%v is more than 100%%", r.Budget), "write 20%")
	}
	if r.MinPerSecond < 0 {
		v.report(p+".min_per_second", "must not be negative", "write 10")
	}
}
