package gateway

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// The conformance tests of the cache middleware (internal/cache), named
// after the sections of RFC 9111 (and RFC 5861, 9110, 9211) they cover.
// Each drives real requests through a gateway to a loopback origin that
// counts and records what it receives. They live here because the gateway
// imports the cache.

// origin is a loopback backend whose answer a test sets per path.
type origin struct {
	mu    sync.Mutex
	seen  []http.Header // request headers, in arrival order
	paths []string
	n     atomic.Int64
	serve func(w http.ResponseWriter, r *http.Request, n int64)
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.n.Add(1)
	o.mu.Lock()
	o.seen = append(o.seen, r.Header.Clone())
	o.paths = append(o.paths, r.Method+" "+r.URL.RequestURI())
	o.mu.Unlock()
	o.serve(w, r, n)
}

func (o *origin) count() int64 { return o.n.Load() }

func (o *origin) last() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[len(o.seen)-1]
}

// startCache runs a gateway with one cached route (the middleware body
// extra added to {kind: cache, zone: z}) in front of an origin answering
// with serve.
func startCache(t *testing.T, extra string, serve func(w http.ResponseWriter, r *http.Request, n int64)) (*harness, *origin) {
	t.Helper()
	o := &origin{serve: serve}
	addr := testenv.Backend(t, o).Listener.Addr().String()
	if extra != "" {
		extra = ", " + extra
	}
	h := start(t, fmt.Sprintf(`
access_log: {output: "off"}
listeners:
  - {name: web, address: "127.0.0.1:0"}
cache_zones:
  - {name: z, max_size: 16MiB, max_object_size: 1MiB}
routes:
  - {name: app, match: {path_prefix: /}, middlewares: [{kind: cache, zone: z%s}], upstream: app}
upstreams:
  - {name: app, backends: [{address: %q}]}
`, extra, addr))
	return h, o
}

type reply struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, h *harness, method, path string, hdr ...string) reply {
	t.Helper()
	req := newRequest(t, method, h.url(path), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	status, body, header := get(t, http.DefaultClient, req)
	return reply{status, body, header}
}

// eventually polls cond until it holds, for at most 10s: for the tests
// where real time must pass (a max-age of one second running out).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRFC9111_4_2_FreshResponseServedFromCache(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "body %d", n)
	})
	first := do(t, h, "GET", "/a")
	second := do(t, h, "GET", "/a")
	if o.count() != 1 {
		t.Errorf("origin saw %d requests for two GETs within max-age, want 1", o.count())
	}
	if first.body != "body 1" || second.body != "body 1" {
		t.Errorf("bodies %q, %q, want both %q", first.body, second.body, "body 1")
	}
	if got := second.header.Get("Age"); got == "" {
		t.Error("a hit has no Age field (RFC 9111 §5.1: required from a cache)")
	}
	if got := second.header.Get("Cache-Status"); !strings.Contains(got, "hit") {
		t.Errorf("Cache-Status of a hit = %q, want hit", got)
	}
	if got := first.header.Get("Cache-Status"); !strings.Contains(got, "fwd=uri-miss") || !strings.Contains(got, "stored") {
		t.Errorf("Cache-Status of the first request = %q, want fwd=uri-miss and stored", got)
	}
	do(t, h, "HEAD", "/a")
	if o.count() != 1 {
		t.Errorf("a HEAD after a stored GET reached the origin (%d requests), want it answered from the cache", o.count())
	}
}

func TestRFC9111_4_3_1_StaleRevalidatedWithValidators(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Version", fmt.Sprint(n))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "content")
	})
	do(t, h, "GET", "/r")
	eventually(t, "the stored response to go stale", func() bool {
		do(t, h, "GET", "/r")
		return o.count() > 1
	})
	if got := o.last().Get("If-None-Match"); got != `"v1"` {
		t.Errorf("the request after expiry had If-None-Match %q, want the stored ETag", got)
	}
	// RFC 9111 §4.3.4: the 304's fields update the stored response.
	r := do(t, h, "GET", "/r")
	if r.body != "content" {
		t.Errorf("body after revalidation = %q, want the stored body", r.body)
	}
	if got := r.header.Get("X-Version"); got != "2" {
		t.Errorf("X-Version after a 304 = %q, want 2 (the 304 updates the stored header)", got)
	}
}

func TestRFC9111_4_1_VarySelectsVariant(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang=%s", r.Header.Get("Accept-Language"))
	})
	for _, tc := range []struct{ lang, want string }{
		{"en", "lang=en"}, {"fr", "lang=fr"}, {"en", "lang=en"}, {"fr", "lang=fr"},
	} {
		if r := do(t, h, "GET", "/v", "Accept-Language", tc.lang); r.body != tc.want {
			t.Errorf("GET with Accept-Language %s = %q, want %q", tc.lang, r.body, tc.want)
		}
	}
	if o.count() != 2 {
		t.Errorf("origin saw %d requests for two variants asked twice, want 2", o.count())
	}
}

func TestRFC9111_5_2_2_5_NoStoreNeverStored(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "no-store, max-age=300")
		io.WriteString(w, "secret")
	})
	do(t, h, "GET", "/ns")
	do(t, h, "GET", "/ns")
	if o.count() != 2 {
		t.Errorf("origin saw %d requests for a no-store response asked twice, want 2", o.count())
	}
}

func TestRFC9111_3_5_AuthorizationWithoutPublicNotShared(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "for %s", r.Header.Get("Authorization"))
	})
	do(t, h, "GET", "/me", "Authorization", "Bearer alice")
	r := do(t, h, "GET", "/me")
	if o.count() != 2 || strings.Contains(r.body, "alice") {
		t.Errorf("a response to Authorization without public was served to another client (%d origin requests, body %q)", o.count(), r.body)
	}
}

func TestRFC9111_5_2_1_7_OnlyIfCached(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "x")
	})
	if r := do(t, h, "GET", "/oic", "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
		t.Errorf("only-if-cached with nothing stored = %d, want 504", r.status)
	}
	do(t, h, "GET", "/oic")
	if r := do(t, h, "GET", "/oic", "Cache-Control", "only-if-cached"); r.status != 200 {
		t.Errorf("only-if-cached with a fresh response stored = %d, want 200", r.status)
	}
	if o.count() != 1 {
		t.Errorf("origin saw %d requests, want 1 (only-if-cached never forwards)", o.count())
	}
}

func TestRFC9111_5_2_1_4_RequestNoCacheRevalidates(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "x")
	})
	do(t, h, "GET", "/nc")
	do(t, h, "GET", "/nc", "Cache-Control", "no-cache")
	if o.count() != 2 {
		t.Errorf("origin saw %d requests, want 2: the client's no-cache goes to the origin", o.count())
	}
	do(t, h, "GET", "/nc", "Pragma", "no-cache")
	if o.count() != 3 {
		t.Errorf("origin saw %d requests, want 3: Pragma: no-cache without Cache-Control goes to the origin", o.count())
	}
}

func TestRFC9110_13_ClientConditionalAnsweredFromCache(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("ETag", `"e"`)
		io.WriteString(w, "x")
	})
	if r := do(t, h, "GET", "/c", "If-None-Match", `"e"`); r.status != http.StatusNotModified {
		t.Errorf("conditional miss = %d, want 304 from the stored response", r.status)
	}
	if r := do(t, h, "GET", "/c", "If-None-Match", `"e"`); r.status != http.StatusNotModified {
		t.Errorf("conditional hit = %d, want 304", r.status)
	}
	if r := do(t, h, "GET", "/c", "If-None-Match", `"other"`); r.status != 200 || r.body != "x" {
		t.Errorf("non-matching conditional = %d %q, want 200 x", r.status, r.body)
	}
	if o.count() != 1 {
		t.Errorf("origin saw %d requests, want 1", o.count())
	}
	if h := o.last(); h.Get("If-None-Match") != "" {
		t.Errorf("the fill carried the client's If-None-Match %q, want the whole response asked for", h.Get("If-None-Match"))
	}
}

func TestRFC9111_4_4_UnsafeMethodInvalidates(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		if r.Method == "POST" {
			w.Header().Set("Location", "/other")
			w.WriteHeader(http.StatusCreated)
			return
		}
		fmt.Fprintf(w, "%s %d", r.URL.Path, n)
	})
	do(t, h, "GET", "/item")
	do(t, h, "GET", "/other")
	do(t, h, "POST", "/item")
	before := o.count()
	do(t, h, "GET", "/item")
	do(t, h, "GET", "/other")
	if got := o.count() - before; got != 2 {
		t.Errorf("after a successful POST, %d of the target and Location URIs went to the origin, want 2", got)
	}
}

func TestRFC5861_3_StaleWhileRevalidate(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		fmt.Fprintf(w, "v%d", n)
	})
	do(t, h, "GET", "/swr")
	// Once stale (an Age of 1s or more against max-age=1), the stored
	// response is served at once and refreshed in the background, once.
	var stale reply
	eventually(t, "a stale response", func() bool {
		stale = do(t, h, "GET", "/swr")
		return stale.header.Get("Age") != "0"
	})
	if stale.body != "v1" {
		t.Errorf("stale-while-revalidate served %q, want the stale v1 at once", stale.body)
	}
	eventually(t, "the background refresh", func() bool { return o.count() == 2 })
	eventually(t, "the refreshed response", func() bool { return do(t, h, "GET", "/swr").body == "v2" })
	if o.count() != 2 {
		t.Errorf("origin saw %d requests, want 2 (one background refresh)", o.count())
	}
}

func TestRFC5861_4_StaleIfError(t *testing.T) {
	var failing atomic.Bool
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-if-error=600")
		io.WriteString(w, "good")
	})
	do(t, h, "GET", "/sie")
	failing.Store(true)
	var r reply
	eventually(t, "the origin asked again", func() bool {
		r = do(t, h, "GET", "/sie")
		return o.count() > 1
	})
	if r.status != 200 || r.body != "good" {
		t.Errorf("stale-if-error with the origin failing = %d %q, want 200 good", r.status, r.body)
	}
}

func TestRFC5861_4_MustRevalidateNeverStale(t *testing.T) {
	var failing atomic.Bool
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, must-revalidate, stale-if-error=600")
		io.WriteString(w, "good")
	})
	do(t, h, "GET", "/mr")
	failing.Store(true)
	var r reply
	eventually(t, "the origin asked again", func() bool {
		r = do(t, h, "GET", "/mr")
		return o.count() > 1
	})
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("must-revalidate with the origin failing = %d, want the 503 (RFC 9111 §5.2.2.2: never served stale)", r.status)
	}
}

func TestPurge(t *testing.T) {
	h, o := startCache(t, `purge: {allow: [127.0.0.0/8]}`, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		if strings.HasPrefix(r.URL.Path, "/t/") {
			w.Header().Set("Surrogate-Key", "team-a shared")
		}
		fmt.Fprintf(w, "%d", n)
	})
	fill := func(paths ...string) {
		for _, p := range paths {
			do(t, h, "GET", p)
		}
	}
	cached := func(p string) bool {
		before := o.count()
		do(t, h, "GET", p)
		return o.count() == before
	}
	fill("/p/1", "/p/2", "/q", "/t/1", "/t/2")
	if r := do(t, h, "PURGE", "/q"); r.status != 200 || r.body != "purged 1\n" {
		t.Errorf("PURGE /q = %d %q, want 200 purged 1", r.status, r.body)
	}
	if cached("/q") || !cached("/p/1") {
		t.Error("exact purge: want /q gone and /p/1 kept")
	}
	if r := do(t, h, "PURGE", "/p/*"); r.body != "purged 2\n" {
		t.Errorf("PURGE /p/* = %q, want purged 2", r.body)
	}
	if cached("/p/1") || cached("/p/2") {
		t.Error("prefix purge left /p/ entries")
	}
	if r := do(t, h, "PURGE", "/", "Surrogate-Key", "team-a"); r.body != "purged 2\n" {
		t.Errorf("PURGE by tag = %q, want purged 2", r.body)
	}
	if cached("/t/1") {
		t.Error("tag purge left /t/1")
	}
}

func TestRFC9211_CacheStatus(t *testing.T) {
	h, _ := startCache(t, `bypass: {headers: [X-Debug]}`, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		io.WriteString(w, "x")
	})
	for _, tc := range []struct {
		name string
		hdr  []string
		want string
	}{
		{"miss", nil, "Palisade; fwd=uri-miss; fwd-status=200; stored"},
		{"hit", nil, "Palisade; hit; ttl="},
		{"bypass", []string{"X-Debug", "1"}, "Palisade; fwd=bypass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(t, h, "GET", "/s", tc.hdr...).header.Get("Cache-Status"); !strings.HasPrefix(got, tc.want) {
				t.Errorf("Cache-Status = %q, want it to start %q", got, tc.want)
			}
		})
	}
}

func TestCoalescing(t *testing.T) {
	release := make(chan struct{})
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		if r.URL.Path == "/cold" {
			<-release
			w.Header().Set("Cache-Control", "max-age=300")
		} else {
			w.Header().Set("Cache-Control", "no-store")
			// Every uncacheable request must be in flight at once:
			// none waits for another.
			<-release
		}
		io.WriteString(w, "x")
	})
	for _, tc := range []struct {
		path string
		want int64
	}{{"/cold", 1}, {"/uncacheable", 100}} {
		t.Run(tc.path, func(t *testing.T) {
			release = make(chan struct{})
			before := o.count()
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := http.Get(h.url(tc.path))
					if err != nil {
						errs <- err
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(body) != "x" {
						errs <- fmt.Errorf("body %q", body)
					}
				}()
			}
			if tc.want == 100 {
				// All 100 reach the origin while it holds every one.
				eventually(t, "100 requests at the origin at once", func() bool { return o.count()-before == 100 })
			} else {
				eventually(t, "the first request at the origin", func() bool { return o.count()-before == 1 })
				time.Sleep(50 * time.Millisecond) // let the others queue on the fill
			}
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if got := o.count() - before; got != tc.want {
				t.Errorf("100 concurrent GETs of %s made %d origin requests, want %d", tc.path, got, tc.want)
			}
		})
	}
}

func TestRFC9110_14_RangesFromStoredResponse(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "0123456789")
	})
	for _, tc := range []struct {
		name, rng, ifRange string
		status             int
		body, crange       string
	}{
		{"miss fetches whole, serves the range", "bytes=2-4", "", 206, "234", "bytes 2-4/10"},
		{"one range", "bytes=0-0", "", 206, "0", "bytes 0-0/10"},
		{"suffix", "bytes=-3", "", 206, "789", "bytes 7-9/10"},
		{"unsatisfiable", "bytes=20-", "", 416, "", "bytes */10"},
		{"if-range matches", "bytes=1-2", `"abc"`, 206, "12", "bytes 1-2/10"},
		{"if-range differs", "bytes=1-2", `"old"`, 200, "0123456789", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{"Range", tc.rng}
			if tc.ifRange != "" {
				hdr = append(hdr, "If-Range", tc.ifRange)
			}
			r := do(t, h, "GET", "/range", hdr...)
			if r.status != tc.status || r.body != tc.body || r.header.Get("Content-Range") != tc.crange {
				t.Errorf("Range %s = %d %q Content-Range %q, want %d %q %q", tc.rng, r.status, r.body, r.header.Get("Content-Range"), tc.status, tc.body, tc.crange)
			}
		})
	}
	r := do(t, h, "GET", "/range", "Range", "bytes=0-1,5-6")
	if r.status != 206 || !strings.HasPrefix(r.header.Get("Content-Type"), "multipart/byteranges") {
		t.Errorf("two ranges = %d %q, want a 206 multipart/byteranges", r.status, r.header.Get("Content-Type"))
	}
	if o.count() != 1 {
		t.Errorf("origin saw %d requests, want 1: every range is cut from the stored response", o.count())
	}
}

func TestRFC9213_TargetedFieldWinsAndIsRemoved(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Palisade-Cache-Control", "max-age=300")
		io.WriteString(w, "x")
	})
	first := do(t, h, "GET", "/tg")
	do(t, h, "GET", "/tg")
	if o.count() != 1 {
		t.Errorf("origin saw %d requests, want 1: Palisade-Cache-Control max-age wins over Cache-Control no-store", o.count())
	}
	if got := first.header.Get("Palisade-Cache-Control"); got != "" {
		t.Errorf("the response kept Palisade-Cache-Control %q, want it removed (RFC 9213 §2.2)", got)
	}
	if got := first.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want the origin's no-store passed on", got)
	}
}

// TestRFC9111_4_3_4_NotModifiedSetCookieNotStored guards against a 304
// adding Set-Cookie to a stored response for everyone: the 304 to the
// cache's own revalidation (or to a background refresh) was merged into
// the entry without the Set-Cookie rule of storing, so a session cookie
// issued on revalidation was replayed to every later client.
func TestRFC9111_4_3_4_NotModifiedSetCookieNotStored(t *testing.T) {
	for _, tc := range []struct{ name, cc string }{
		{"revalidation", "max-age=1"},
		{"background refresh", "max-age=1, stale-while-revalidate=60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("X-Version", fmt.Sprint(n))
				if r.Header.Get("If-None-Match") == `"v1"` {
					w.Header().Set("Cache-Control", "max-age=300")
					w.Header().Set("Set-Cookie", fmt.Sprintf("session=%d", n))
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Header().Set("Cache-Control", tc.cc)
				io.WriteString(w, "content")
			})
			do(t, h, "GET", "/sc")
			var r reply
			eventually(t, "the revalidated response", func() bool {
				r = do(t, h, "GET", "/sc")
				return r.header.Get("X-Version") == "2"
			})
			if tc.name == "revalidation" && r.header.Get("Set-Cookie") != "session=2" {
				t.Errorf("the client whose request was revalidated got Set-Cookie %q, want its own session=2", r.header.Get("Set-Cookie"))
			}
			before := o.count()
			r = do(t, h, "GET", "/sc")
			if o.count() != before || r.body != "content" {
				t.Fatalf("after the 304, GET = %q with %d origin requests, want the stored response from the cache", r.body, o.count()-before)
			}
			if got := r.header.Get("Set-Cookie"); got != "" {
				t.Errorf("a later client was sent Set-Cookie %q from the 304 to another request, want none", got)
			}
		})
	}
}

// TestRFC9111_4_3_4_NotModifiedMakingResponseUnstorable guards against a
// 304 carrying private or no-store updating the stored response, which
// then kept being served to everyone: the updated response's storability
// is checked again, and the entry deleted when it fails.
func TestRFC9111_4_3_4_NotModifiedMakingResponseUnstorable(t *testing.T) {
	for _, cc := range []string{"private, max-age=300", "no-store, max-age=300"} {
		t.Run(cc, func(t *testing.T) {
			h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("X-Version", fmt.Sprint(n))
				if r.Header.Get("If-None-Match") == `"v1"` {
					w.Header().Set("Cache-Control", cc)
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Header().Set("Cache-Control", "max-age=1")
				io.WriteString(w, "content")
			})
			do(t, h, "GET", "/u")
			var r reply
			eventually(t, "the revalidation", func() bool {
				r = do(t, h, "GET", "/u")
				return o.count() > 1
			})
			if r.body != "content" || r.header.Get("X-Version") != "2" || r.header.Get("Cache-Control") != cc {
				t.Errorf("the revalidated request got %q X-Version %q Cache-Control %q, want the stored body with the 304's fields",
					r.body, r.header.Get("X-Version"), r.header.Get("Cache-Control"))
			}
			before := o.count()
			r = do(t, h, "GET", "/u")
			if o.count() == before {
				t.Errorf("after a 304 with %s, the next GET was served from the cache (X-Version %q), want it forwarded", cc, r.header.Get("X-Version"))
			}
		})
	}
}

// TestRFC9111_4_1_AcceptLanguageOrderSelectsVariant guards against the
// members of Accept-Language being sorted in the variant key: at equal
// weights their order is the user's preference, so "fr, en" was served
// the response the origin chose for "en, fr".
func TestRFC9111_4_1_AcceptLanguageOrderSelectsVariant(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Vary", "Accept-Language")
		first, _, _ := strings.Cut(r.Header.Get("Accept-Language"), ",")
		fmt.Fprintf(w, "lang=%s", strings.ToLower(strings.TrimSpace(first)))
	})
	for _, tc := range []struct{ lang, want string }{
		{"en, fr", "lang=en"}, {"fr, en", "lang=fr"}, {"EN , FR", "lang=en"}, {"fr,en", "lang=fr"},
	} {
		if r := do(t, h, "GET", "/lang", "Accept-Language", tc.lang); r.body != tc.want {
			t.Errorf("GET with Accept-Language %q = %q, want %q", tc.lang, r.body, tc.want)
		}
	}
	if o.count() != 2 {
		t.Errorf("origin saw %d requests for two orders asked twice (once respelled), want 2", o.count())
	}
}

// TestPurgeExactURLWithBareKey guards against a purge of an exact URL
// missing the entries of a route whose key list has no method, header or
// cookie part: their key is the bare URL, with no NUL after it, and the
// purge matched only keys beginning with the URL and a NUL.
func TestPurgeExactURLWithBareKey(t *testing.T) {
	h, o := startCache(t, `key: [scheme, host, path, query], purge: {allow: [127.0.0.0/8]}`, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		if r.URL.Path == "/v" {
			w.Header().Set("Vary", "Accept-Language")
		}
		fmt.Fprintf(w, "%d", n)
	})
	do(t, h, "GET", "/q")
	do(t, h, "GET", "/q2")
	do(t, h, "GET", "/v", "Accept-Language", "en")
	for _, tc := range []struct{ path, want string }{{"/q", "purged 1\n"}, {"/v", "purged 2\n"}} {
		if r := do(t, h, "PURGE", tc.path); r.status != 200 || r.body != tc.want {
			t.Errorf("PURGE %s = %d %q, want 200 %q", tc.path, r.status, r.body, tc.want)
		}
	}
	before := o.count()
	do(t, h, "GET", "/q")
	do(t, h, "GET", "/v", "Accept-Language", "en")
	if got := o.count() - before; got != 2 {
		t.Errorf("after PURGE, %d of /q and /v went to the origin, want 2", got)
	}
	before = o.count()
	do(t, h, "GET", "/q2")
	if o.count() != before {
		t.Error("PURGE /q removed /q2, want only the exact URL purged")
	}
}

// TestFillMemoryFollowsBytesReceived guards against fills pre-allocating
// their buffer: each fill allocated the declared Content-Length (up to
// max_object_size) at the response head, so N concurrent misses for
// distinct keys held N times that before a byte of their bodies arrived.
func TestFillMemoryFollowsBytesReceived(t *testing.T) {
	const (
		fills    = 40
		declared = 1 << 20 // the harness's max_object_size
		sent     = 64 << 10
	)
	release := make(chan struct{})
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Length", fmt.Sprint(declared))
		w.Write(make([]byte, sent))
		w.(http.Flusher).Flush()
		<-release
	})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var wg sync.WaitGroup
	started := make(chan error, fills)
	for i := range fills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(h.url(fmt.Sprintf("/big/%d", i)))
			if err != nil {
				started <- err
				return
			}
			defer resp.Body.Close()
			_, err = io.ReadFull(resp.Body, make([]byte, sent))
			started <- err
			io.Copy(io.Discard, resp.Body)
		}()
	}
	for range fills {
		if err := <-started; err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grown := int64(ms.HeapAlloc) - int64(base)
	close(release)
	wg.Wait()
	if o.count() != fills {
		t.Fatalf("origin saw %d requests, want %d", o.count(), fills)
	}
	t.Logf("%d fills of %d KiB received grew the heap by %d KiB", fills, sent>>10, grown>>10)
	if limit := int64(fills * declared / 4); grown > limit {
		t.Errorf("%d fills that had received %d KiB each of a declared %d KiB grew the heap by %d KiB, want under %d KiB",
			fills, sent>>10, declared>>10, grown>>10, limit>>10)
	}
}

// TestRFC9111_5_2_1_5_NoStoreRequestDoesNotUpdate guards against a
// no-store request (or a HEAD) that revalidated a stale response writing
// the 304's update to the store on its behalf: the stored response must
// stay as it was, stale, for the next request to revalidate.
func TestRFC9111_5_2_1_5_NoStoreRequestDoesNotUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		hdr          []string
	}{
		{"no-store", "GET", []string{"Cache-Control", "no-store"}},
		{"HEAD", "HEAD", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("ETag", `"v1"`)
				w.Header().Set("X-Version", fmt.Sprint(n))
				if r.Header.Get("If-None-Match") == `"v1"` {
					w.Header().Set("Cache-Control", "max-age=300")
					w.WriteHeader(http.StatusNotModified)
					return
				}
				w.Header().Set("Cache-Control", "max-age=1")
				io.WriteString(w, "content")
			})
			do(t, h, "GET", "/ns")
			var r reply
			eventually(t, "the revalidation", func() bool {
				r = do(t, h, tc.method, "/ns", tc.hdr...)
				return o.count() > 1
			})
			if r.status != 200 || r.header.Get("X-Version") != "2" {
				t.Errorf("the %s request that revalidated got %d X-Version %q, want 200 with the 304's fields", tc.name, r.status, r.header.Get("X-Version"))
			}
			before := o.count()
			r = do(t, h, "GET", "/ns")
			if o.count() == before {
				t.Fatalf("a GET after the %s revalidation was served from the cache (X-Version %q), want the stored response still stale and revalidated", tc.name, r.header.Get("X-Version"))
			}
			if got := o.last().Get("If-None-Match"); got != `"v1"` {
				t.Errorf("the GET after the %s revalidation went forward with If-None-Match %q, want the stored ETag (the entry neither updated nor deleted)", tc.name, got)
			}
		})
	}
}

// TestRFC9110_14_RangeMissOfUnstorablePassesRange guards against a Range
// miss always asking the upstream for the whole object and, when that
// turned out unstorable or too large, sending all of it: a 1-byte range of
// a huge file pulled and sent the whole file on every request. Once a
// fill has found the key's response unstorable, later range misses ask
// for the range.
func TestRFC9110_14_RangeMissOfUnstorablePassesRange(t *testing.T) {
	big := strings.Repeat("x", 2<<20) // over the harness's max_object_size
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
	}{
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=300")
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader(big))
		}},
		{"too large, length unknown", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=300")
			if r.Header.Get("Range") != "" {
				http.ServeContent(w, r, "", time.Time{}, strings.NewReader(big))
				return
			}
			for i := 0; i < len(big); i += 64 << 10 {
				io.WriteString(w, big[i:i+64<<10])
				w.(http.Flusher).Flush()
			}
		}},
		{"no-store", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			http.ServeContent(w, r, "", time.Time{}, strings.NewReader("0123456789"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) { tc.serve(w, r) })
			if r := do(t, h, "GET", "/f", "Range", "bytes=0-0"); r.status != 200 || o.last().Get("Range") != "" {
				t.Errorf("first range miss = %d, upstream Range %q; want the whole object asked for and sent (200)", r.status, o.last().Get("Range"))
			}
			r := do(t, h, "GET", "/f", "Range", "bytes=0-0")
			if got := o.last().Get("Range"); got != "bytes=0-0" {
				t.Errorf("range miss after an unstorable fill sent upstream Range %q, want the client's bytes=0-0", got)
			}
			if r.status != http.StatusPartialContent || len(r.body) != 1 {
				t.Errorf("range miss after an unstorable fill = %d with %d bytes, want 206 with 1", r.status, len(r.body))
			}
			if o.count() != 2 {
				t.Errorf("origin saw %d requests, want 2", o.count())
			}
		})
	}
}

// TestRFC9111_5_2_2_7_PrivateSetCookieStripped guards a contradiction
// between the code and docs/cache.md: a response whose Set-Cookie is
// named by private="Set-Cookie" was refused outright when the route does
// not store cookies. RFC 9111 §5.2.2.7 lets a shared cache store the
// response without the named field: it is stored, and a hit carries no
// Set-Cookie.
func TestRFC9111_5_2_2_7_PrivateSetCookieStripped(t *testing.T) {
	h, o := startCache(t, "", func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", `max-age=60, private="Set-Cookie"`)
		w.Header().Set("Set-Cookie", "session=for-the-first-client")
		io.WriteString(w, "shared body")
	})
	first := do(t, h, "GET", "/c")
	if first.header.Get("Set-Cookie") == "" {
		t.Errorf("the first client's response lost its own Set-Cookie")
	}
	second := do(t, h, "GET", "/c")
	if o.count() != 1 {
		t.Errorf("origin saw %d requests, want 1 (stored without the private field)", o.count())
	}
	if c := second.header.Get("Set-Cookie"); c != "" {
		t.Errorf("hit carries Set-Cookie %q, want none", c)
	}
	if second.body != "shared body" {
		t.Errorf("hit body = %q", second.body)
	}
}
