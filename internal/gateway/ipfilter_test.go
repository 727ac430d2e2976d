package gateway

import (
	"fmt"
	"net/http"
	"testing"

	"palisade/internal/testenv"
)

// The ip-filter middleware (internal/ipfilter) end to end: a gateway from
// YAML with two listeners, one on 127.0.0.1 (a trusted proxy, so its
// X-Forwarded-For names the client) and one on ::1 (untrusted, so its
// X-Forwarded-For is replaced and the peer address decides).

func startFiltered(t *testing.T, mw string) (v4, v6 string) {
	t.Helper()
	addr := testenv.Backend(t, nameHandler("app")).Listener.Addr().String()
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners:
  - {name: v4, address: "127.0.0.1:0", trusted_proxies: [127.0.0.1/32]}
  - {name: v6, address: "[::1]:0", trusted_proxies: [127.0.0.1/32]}
routes:
  - {name: app, match: {path_prefix: /}, middlewares: [%s], upstream: app}
upstreams:
  - {name: app, backends: [{address: %q}]}
`, mw, addr))
	snap := h.g.Snapshot()
	return h.addr, h.g.Addr(snap.Config.Listeners[1].Address).String()
}

func TestIPFilter(t *testing.T) {
	for _, tc := range []struct {
		name, mw string
		cases    []struct {
			listener, xff string
			want          int
		}
	}{
		{"allow and deny", `{kind: ipfilter, allow: [127.0.0.1, 10.0.0.0/8], deny: [10.9.0.0/16]}`, []struct {
			listener, xff string
			want          int
		}{
			{"v4", "", 200},                   // the trusted peer itself
			{"v4", "10.1.2.3", 200},           // behind the trusted proxy, allowed
			{"v4", "10.9.1.1", 403},           // deny wins over allow
			{"v4", "192.0.2.1", 403},          // outside the allow list
			{"v4", "10.9.1.1, 10.1.2.3", 200}, // the right-most untrusted entry decides
			{"v6", "", 403},                   // ::1 is not allowed
			{"v6", "10.1.2.3", 403},           // an untrusted peer's X-Forwarded-For is ignored
			{"v6", "127.0.0.1", 403},
		}},
		{"deny only", `{kind: ipfilter, deny: ["::1", 192.0.2.0/24]}`, []struct {
			listener, xff string
			want          int
		}{
			{"v4", "", 200},
			{"v4", "::1", 403}, // an IPv6 client behind the trusted proxy
			{"v4", "192.0.2.9", 403},
			{"v4", "198.51.100.1", 200},
			{"v6", "", 403},
			{"v6", "198.51.100.1", 403}, // spoofed: still ::1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v4, v6 := startFiltered(t, tc.mw)
			for _, c := range tc.cases {
				addr := v4
				if c.listener == "v6" {
					addr = v6
				}
				req := newRequest(t, "GET", "http://"+addr+"/", nil)
				if c.xff != "" {
					req.Header.Set("X-Forwarded-For", c.xff)
				}
				status, body, hdr := get(t, http.DefaultClient, req)
				if status != c.want {
					t.Errorf("via %s with X-Forwarded-For %q: status %d, want %d", c.listener, c.xff, status, c.want)
					continue
				}
				if status == 200 && body != "app" {
					t.Errorf("via %s with X-Forwarded-For %q: body %q, want app", c.listener, c.xff, body)
				}
				if status == 403 && hdr.Get("X-Request-Id") == "" {
					t.Errorf("via %s with X-Forwarded-For %q: 403 without X-Request-Id", c.listener, c.xff)
				}
			}
		})
	}
}

// listenerFilterConfig is two listeners with the same ip_filter, one on
// 127.0.0.1 and one on ::1.
func listenerFilterConfig(backend, filter string) string {
	return fmt.Sprintf(`
access_log: {output: "off"}
listeners:
  - {name: v4, address: "127.0.0.1:0", trusted_proxies: [127.0.0.1/32]%[2]s}
  - {name: v6, address: "[::1]:0"%[2]s}
routes:
  - {name: app, match: {path_prefix: /}, upstream: app}
upstreams:
  - {name: app, backends: [{address: %[1]q}]}
`, backend, filter)
}

// TestListenerIPFilter: a listener's ip_filter closes a denied peer's
// connection at accept, whatever X-Forwarded-For it would have sent, counts
// it, and follows a reload.
func TestListenerIPFilter(t *testing.T) {
	backend := testenv.Backend(t, nameHandler("app")).Listener.Addr().String()
	h := start(t, listenerFilterConfig(backend, `, ip_filter: {deny: ["::1"]}`))
	v4 := h.addr
	v6 := h.g.Addr(h.g.Snapshot().Config.Listeners[1].Address).String()
	try := func(addr, xff string) (int, error) {
		req := newRequest(t, "GET", "http://"+addr+"/", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		// A fresh connection each time: the filter runs at accept.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// denied sums the counters of both listeners.
	denied := func() uint64 {
		h.g.mu.Lock()
		defer h.g.mu.Unlock()
		var n uint64
		for _, ol := range h.g.listeners {
			n += ol.denied.Load()
		}
		return n
	}
	if status, err := try(v4, "::1"); err != nil || status != 200 {
		// The listener sees the TCP peer, not X-Forwarded-For.
		t.Errorf("127.0.0.1 with X-Forwarded-For ::1 = %d, %v; want 200", status, err)
	}
	if status, err := try(v6, "127.0.0.1"); err == nil {
		t.Errorf("::1 with X-Forwarded-For 127.0.0.1 = %d, want the connection closed", status)
	}
	if n := denied(); n != 1 {
		t.Errorf("denied connections = %d, want 1", n)
	}

	// An allow list: only ::1 may connect.
	if err := h.reload(t, listenerFilterConfig(backend, `, ip_filter: {allow: ["::1"]}`)); err != nil {
		t.Fatal(err)
	}
	if status, err := try(v6, ""); err != nil || status != 200 {
		t.Errorf("::1 after reload = %d, %v; want 200", status, err)
	}
	if status, err := try(v4, ""); err == nil {
		t.Errorf("127.0.0.1 after reload = %d, want the connection closed", status)
	}

	// No filter: everyone.
	if err := h.reload(t, listenerFilterConfig(backend, "")); err != nil {
		t.Fatal(err)
	}
	if status, err := try(v4, ""); err != nil || status != 200 {
		t.Errorf("127.0.0.1 without a filter = %d, %v; want 200", status, err)
	}
	if n := denied(); n != 2 {
		t.Errorf("denied connections = %d, want 2", n)
	}
}
