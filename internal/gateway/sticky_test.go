package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStickyPinsSurviveReload is a regression test for sticky sessions
// without a secret losing every pin on each reload: every snapshot build
// drew a new random HMAC key, so after a reload no client's cookie was
// valid any more and each was moved to whatever the policy picked, while
// the docs promise a random key per process.
func TestStickyPinsSurviveReload(t *testing.T) {
	a := httptest.NewServer(nameHandler("a"))
	defer a.Close()
	b := httptest.NewServer(nameHandler("b"))
	defer b.Close()
	doc := func(forwarded bool) string {
		return fmt.Sprintf(`
access_log: {output: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams:
  - name: app
    forwarded: %v
    sticky: {}
    backends: [{address: %q}, {address: %q}]
`, forwarded, a.Listener.Addr().String(), b.Listener.Addr().String())
	}
	h := start(t, doc(false))
	c := &http.Client{}
	_, pinned, hdr := get(t, c, newRequest(t, "GET", h.url("/"), nil))
	resp := http.Response{Header: hdr}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "palisade_backend" {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatalf("first response has no palisade_backend cookie (Set-Cookie %q)", hdr["Set-Cookie"])
	}
	if err := h.reload(t, doc(true)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for i := range 4 {
		req := newRequest(t, "GET", h.url("/"), nil)
		req.AddCookie(cookie)
		_, got, hdr := get(t, c, req)
		if got != pinned || hdr["Set-Cookie"] != nil {
			t.Fatalf("request %d after a reload went to %s (Set-Cookie %q), want %s and no new cookie", i, got, hdr["Set-Cookie"], pinned)
		}
	}
}
