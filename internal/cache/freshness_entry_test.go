package cache

import (
	"net/http"
	"testing"
	"time"

	"palisade/internal/config"
)

func testCacher(t *testing.T, edit func(*config.Cache)) *cacher {
	t.Helper()
	cfg := config.Cache{Status: true, StatusName: "Palisade", HeuristicFraction: 0.1,
		HeuristicMax: config.Duration(24 * time.Hour), StaleWhileRevalidate: config.Duration(time.Minute),
		StaleIfError: config.Duration(time.Hour), TargetedField: "Palisade-Cache-Control", CDNCacheControl: true}
	if edit != nil {
		edit(&cfg)
	}
	return &cacher{cfg: cfg, policy: freshnessPolicy(cfg)}
}

// TestStoredFreshnessJudgesAsTheHeader: the verdict from an entry's
// precomputed Freshness is the one its header gives, for every kind of
// response and request the judgement distinguishes.
func TestStoredFreshnessJudgesAsTheHeader(t *testing.T) {
	c := testCacher(t, nil)
	responses := map[string]http.Header{
		"max-age":                     {"Cache-Control": {"max-age=60"}, "Date": {httpDate(t0)}},
		"s-maxage":                    {"Cache-Control": {"max-age=10, s-maxage=60"}},
		"expires":                     {"Expires": {httpDate(t0.Add(time.Minute))}, "Date": {httpDate(t0)}},
		"invalid expires":             {"Expires": {"soon"}},
		"heuristic":                   {"Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}, "Date": {httpDate(t0)}},
		"age from upstream":           {"Cache-Control": {"max-age=60"}, "Age": {"50"}},
		"stale-while-revalidate":      {"Cache-Control": {"max-age=1, stale-while-revalidate=30, stale-if-error=300"}},
		"must-revalidate":             {"Cache-Control": {"max-age=1, must-revalidate, stale-if-error=300"}},
		"proxy-revalidate":            {"Cache-Control": {"max-age=1, proxy-revalidate, stale-while-revalidate=30"}},
		"no-cache":                    {"Cache-Control": {"max-age=60, no-cache"}},
		"immutable":                   {"Cache-Control": {"max-age=60, immutable"}},
		"targeted overrides":          {"Cache-Control": {"no-cache"}, "Palisade-Cache-Control": {"max-age=60"}},
		"CDN-Cache-Control overrides": {"Cache-Control": {"max-age=1"}, "Cdn-Cache-Control": {"max-age=60, stale-if-error=10"}},
	}
	requests := map[string]directives{
		"none":      noDirectives(),
		"no-cache":  parseCacheControl([]string{"no-cache"}),
		"max-age":   parseCacheControl([]string{"max-age=5"}),
		"min-fresh": parseCacheControl([]string{"min-fresh=30"}),
		"max-stale": parseCacheControl([]string{"max-stale=20"}),
		"any stale": parseCacheControl([]string{"max-stale"}),
		"sie":       parseCacheControl([]string{"stale-if-error=100"}),
	}
	for rname, h := range responses {
		e := &Entry{Status: 200, Header: h, RequestTime: t0, ResponseTime: t0.Add(time.Second)}
		c.setFreshness(e, c.responseDirectives(h, e.Status))
		fromHeader := *e
		fromHeader.Freshness = Freshness{}
		for _, after := range []time.Duration{0, 5 * time.Second, 50 * time.Second, 90 * time.Second, 10 * time.Minute, 2 * time.Hour} {
			for qname, rd := range requests {
				got, want := c.judge(e, t0.Add(after), &rd), c.judge(&fromHeader, t0.Add(after), &rd)
				if got != want {
					t.Errorf("%s, request %s, %v later: judge with stored freshness = %+v, from the header %+v", rname, qname, after, got, want)
				}
			}
		}
	}
}

// TestStoredFreshnessOfAnotherRoute: a route whose storing settings differ
// from those the entry was stored under judges it from its header.
func TestStoredFreshnessOfAnotherRoute(t *testing.T) {
	withTTL := testCacher(t, func(cfg *config.Cache) { cfg.DefaultTTL = config.Duration(time.Hour) })
	without := testCacher(t, nil)
	if withTTL.policy == without.policy || withTTL.policy == 0 {
		t.Fatalf("policies %x and %x, want distinct and non-zero", withTTL.policy, without.policy)
	}
	h := http.Header{"Etag": {`"x"`}}
	e := &Entry{Status: 200, Header: h, RequestTime: t0, ResponseTime: t0}
	withTTL.setFreshness(e, withTTL.responseDirectives(h, 200))
	rd := noDirectives()
	if v := withTTL.judge(e, t0.Add(time.Minute), &rd); !v.servable {
		t.Errorf("the storing route (default_ttl 1h) judges %+v, want servable", v)
	}
	if v := without.judge(e, t0.Add(time.Minute), &rd); v.servable {
		t.Errorf("a route without default_ttl judges %+v, want not servable (lifetime 0)", v)
	}
}
