package ratelimit

import (
	"encoding/base64"
	"net/http/httptest"
	"net/netip"
	"testing"

	"palisade/internal/middleware"
)

func bearer(payload string) string {
	return "Bearer eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestBearerClaim(t *testing.T) {
	for _, tc := range []struct{ name, auth, claim, want string }{
		{"string claim", bearer(`{"sub":"alice","tenant":"acme"}`), "tenant", "acme"},
		{"number claim", bearer(`{"org":42}`), "org", "42"},
		{"missing claim", bearer(`{"sub":"alice"}`), "tenant", ""},
		{"lowercase scheme", "bearer " + bearer(`{"sub":"bob"}`)[7:], "sub", "bob"},
		{"basic auth", "Basic YWxpY2U6cHc=", "sub", ""},
		{"not a JWT", "Bearer opaque-token", "sub", ""},
		{"payload not JSON", "Bearer a.bm90IGpzb24.c", "sub", ""},
		{"no header", "", "sub", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			if got := bearerClaim(r, tc.claim); got != tc.want {
				t.Errorf("bearerClaim(%q, %q) = %q, want %q", tc.auth, tc.claim, got, tc.want)
			}
		})
	}
}

// TestKeysKeepApart: values that would run together when concatenated
// make different keys, and the same request always makes the same key.
func TestKeysKeepApart(t *testing.T) {
	parts := parseKey([]string{"header:A", "header:B", "client_ip", "cookie:s", "route"})
	key := func(a, b, ip, cookie string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("A", a)
		r.Header.Set("B", b)
		if cookie != "" {
			r.Header.Set("Cookie", "s="+cookie)
		}
		r = r.WithContext(middleware.WithState(r.Context(), &middleware.State{ClientIP: netip.MustParseAddr(ip)}))
		return string(appendKey(nil, parts, r, "app"))
	}
	seen := map[string]string{}
	for _, tc := range [][4]string{
		{"ab", "c", "192.0.2.1", ""},
		{"a", "bc", "192.0.2.1", ""},
		{"a", "bc", "192.0.2.2", ""},
		{"a", "bc", "2001:db8::1", ""},
		{"a", "bc", "192.0.2.1", "x"},
	} {
		k := key(tc[0], tc[1], tc[2], tc[3])
		if prev, dup := seen[k]; dup {
			t.Errorf("%v and %v make the same key", prev, tc)
		}
		seen[k] = tc[0] + "|" + tc[1] + "|" + tc[2] + "|" + tc[3]
		if again := key(tc[0], tc[1], tc[2], tc[3]); again != k {
			t.Errorf("%v makes two different keys", tc)
		}
	}
	// An IPv4-mapped IPv6 client is the IPv4 client.
	if key("", "", "::ffff:192.0.2.1", "") != key("", "", "192.0.2.1", "") {
		t.Error("::ffff:192.0.2.1 and 192.0.2.1 make different keys")
	}
}

// FuzzBearerClaim: the unverified claim reader never panics on any
// Authorization value.
func FuzzBearerClaim(f *testing.F) {
	for _, s := range []string{bearer(`{"sub":"a"}`), "Bearer a.b.c", "Bearer ..", "Bearer a.=.c", "bearer x", "Basic x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{auth}
		bearerClaim(r, "sub")
	})
}
