package gateway

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRFC9211_CacheStatusForwardReasons covers the fwd values (RFC 9211
// §2.2) this cache sends.
func TestRFC9211_CacheStatusForwardReasons(t *testing.T) {
	h, _ := startCache(t, `bypass: {headers: [X-Debug]}`, func(w http.ResponseWriter, r *http.Request, n int64) {
		switch r.URL.Path {
		case "/revalidate":
			w.Header().Set("Cache-Control", "max-age=0")
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		default:
			w.Header().Set("Cache-Control", "max-age=300")
			w.Header().Set("Vary", "X-Lang")
		}
		io.WriteString(w, "x")
	})
	for _, tc := range []struct {
		name string
		path string
		hdr  []string
		want string
	}{
		{"nothing stored for the URI", "/s", []string{"X-Lang", "en"}, "Palisade; fwd=uri-miss; fwd-status=200; stored"},
		{"hit", "/s", []string{"X-Lang", "en"}, "Palisade; hit; ttl="},
		{"the URI stored but not this variant", "/s", []string{"X-Lang", "fr"}, "Palisade; fwd=vary-miss; fwd-status=200; stored"},
		{"client no-cache on a fresh response", "/s", []string{"X-Lang", "en", "Cache-Control", "no-cache"}, "Palisade; fwd=request; fwd-status=200; stored"},
		{"client max-age=0 on a fresh response", "/s", []string{"X-Lang", "en", "Cache-Control", "max-age=0"}, "Palisade; fwd=request; fwd-status=200; stored"},
		{"Pragma no-cache on a fresh response", "/s", []string{"X-Lang", "en", "Pragma", "no-cache"}, "Palisade; fwd=request; fwd-status=200; stored"},
		{"client no-store on a miss is a miss", "/t", []string{"Cache-Control", "no-store"}, "Palisade; fwd=uri-miss; fwd-status=200"},
		{"bypass", "/s", []string{"X-Debug", "1"}, "Palisade; fwd=bypass"},
		{"stale fill", "/revalidate", nil, "Palisade; fwd=uri-miss; fwd-status=200; stored"},
		{"stale revalidated", "/revalidate", nil, "Palisade; fwd=stale; fwd-status=304; ttl="},
		{"client no-cache on a stale response is stale", "/revalidate", []string{"Cache-Control", "no-cache"}, "Palisade; fwd=stale; fwd-status=304; ttl="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, h, "GET", tc.path, tc.hdr...)
			got := r.header.Get("Cache-Status")
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("Cache-Status = %q, want it to start %q", got, tc.want)
			}
			if strings.HasSuffix(tc.want, "fwd-status=200") && strings.Contains(got, "stored") {
				t.Errorf("Cache-Status = %q, want no stored", got)
			}
		})
	}
}

// TestRFC9211_2_5_StoredOnlyWhenKnownToFit: the head leaves before the
// body, so stored is claimed only for a body whose declared length fits
// max_object_size. A regression test: a response that outgrew the limit
// mid-body had already said stored.
func TestRFC9211_2_5_StoredOnlyWhenKnownToFit(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		size := 100
		if r.URL.Path == "/big" {
			size = 2 << 20 // beyond the zone's 1 MiB max_object_size
		}
		w.(http.Flusher).Flush() // no Content-Length: the body's size is unknown at the head
		io.WriteString(w, strings.Repeat("x", size))
	})
	for _, tc := range []struct {
		path       string
		wantStored bool
	}{{"/small", true}, {"/big", false}} {
		t.Run(tc.path, func(t *testing.T) {
			before := o.count()
			first := do(t, h, "GET", tc.path)
			if got := first.header.Get("Cache-Status"); strings.Contains(got, "stored") || !strings.Contains(got, "fwd=uri-miss") {
				t.Errorf("Cache-Status of a body of unknown length = %q, want fwd=uri-miss without stored", got)
			}
			second := do(t, h, "GET", tc.path)
			if stored := o.count()-before == 1; stored != tc.wantStored {
				t.Errorf("second GET of %s: stored = %v (origin requests %d), want %v", tc.path, stored, o.count()-before, tc.wantStored)
			}
			if len(second.body) != len(first.body) {
				t.Errorf("second GET of %s: %d bytes, want %d", tc.path, len(second.body), len(first.body))
			}
		})
	}
}

// TestRFC9211_2_6_Collapsed: a request that waited on another's fill and
// was sent its stored response says collapsed; one that waited in vain
// (the response was not storable) says collapsed=?0.
func TestRFC9211_2_6_Collapsed(t *testing.T) {
	release := make(chan struct{})
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		if r.Header.Get("X-Leader") != "" {
			<-release
		}
		if r.URL.Path == "/uncacheable" {
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "max-age=300")
		}
		io.WriteString(w, "x")
	})
	for _, tc := range []struct {
		path, wantPrefix, wantSuffix string
	}{
		{"/cold", "Palisade; fwd=uri-miss; fwd-status=200; ttl=", "; collapsed"},
		{"/uncacheable", "Palisade; fwd=uri-miss; fwd-status=200", "; collapsed=?0"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			release = make(chan struct{})
			before := o.count()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				do(t, h, "GET", tc.path, "X-Leader", "1")
			}()
			eventually(t, "the leader at the origin", func() bool { return o.count()-before == 1 })
			var follower reply
			wg.Add(1)
			go func() {
				defer wg.Done()
				follower = do(t, h, "GET", tc.path)
			}()
			time.Sleep(100 * time.Millisecond) // let the follower wait on the fill
			close(release)
			wg.Wait()
			if got := follower.header.Get("Cache-Status"); !strings.HasPrefix(got, tc.wantPrefix) || !strings.HasSuffix(got, tc.wantSuffix) {
				t.Errorf("Cache-Status of the waiting request = %q, want %q...%q", got, tc.wantPrefix, tc.wantSuffix)
			}
			if tc.path == "/cold" && o.count()-before != 1 {
				t.Errorf("origin saw %d requests, want 1", o.count()-before)
			}
		})
	}
}
