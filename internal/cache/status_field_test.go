package cache

import (
	"testing"
	"time"
)

func TestCacheStatusAppendTo(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    cacheStatus
		as   string
		want string
	}{
		{"RFC 9211 §2.1 hit with ttl", cacheStatus{hit: true, ttl: 30 * time.Second, hasTTL: true}, "Palisade", "Palisade; hit; ttl=30"},
		{"RFC 9211 §2.2 miss stored", cacheStatus{fwd: "uri-miss", fwdStatus: 200, stored: true}, "Palisade", "Palisade; fwd=uri-miss; fwd-status=200; stored"},
		{"RFC 9211 §2.4 stale ttl is negative and floored", cacheStatus{fwd: "stale", fwdStatus: 304, ttl: -1500 * time.Millisecond, hasTTL: true}, "Palisade", "Palisade; fwd=stale; fwd-status=304; ttl=-2"},
		{"RFC 9211 §2.2 hit excludes fwd", cacheStatus{hit: true, fwd: "miss", fwdStatus: 200}, "Palisade", "Palisade; hit"},
		{"RFC 9211 §2.6 collapsed", cacheStatus{fwd: "uri-miss", collapsed: collapsedYes}, "Palisade", "Palisade; fwd=uri-miss; collapsed"},
		{"RFC 9211 §2.6 collapse attempted in vain", cacheStatus{fwd: "uri-miss", collapsed: collapsedNo}, "Palisade", "Palisade; fwd=uri-miss; collapsed=?0"},
		{"RFC 9211 §2.7 key is an sf-string", cacheStatus{hit: true, key: `GET http://a/"x"\ é`}, "Palisade", `Palisade; hit; key="GET http://a/\"x\"\\ %C3%A9"`},
		{"RFC 9211 §2.8 detail token", cacheStatus{fwd: "request", detail: "no-store"}, "Palisade", "Palisade; fwd=request; detail=no-store"},
		{"RFC 9211 §2.8 detail string", cacheStatus{fwd: "request", detail: "too large"}, "Palisade", `Palisade; fwd=request; detail="too large"`},
		{"RFC 8941 §3.3.4 a name that is no sf-token is a string", cacheStatus{hit: true}, "1cache", `"1cache"; hit`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.s.appendTo(nil, tc.as)); got != tc.want {
				t.Errorf("appendTo(%+v) = %s, want %s", tc.s, got, tc.want)
			}
		})
	}
}
