package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"palisade/internal/cache"
	"palisade/internal/config"
	"palisade/internal/testenv"
)

// testTimeout is the stores' command timeout in these tests, and
// callBound what any one call may take: generous against a loaded machine
// running the race detector, yet far below what an unbounded wait for a
// dead or stopped Redis would take.
const (
	testTimeout = 200 * time.Millisecond
	callBound   = 3 * testTimeout
)

// testConfig is a zone's Redis section for r, with the defaults.
func testConfig(addr string) config.CacheRedis {
	return config.CacheRedis{
		Address:       addr,
		KeyPrefix:     "palisade:cache:",
		Timeout:       config.Duration(testTimeout),
		MaxObjectSize: 1 << 20,
	}
}

// newStore returns a store on cfg, closed when the test ends, and the
// recorder of its log.
func newStore(t *testing.T, cfg config.CacheRedis) (*Store, *logRecorder) {
	t.Helper()
	log, rec := newLogRecorder(t)
	s, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s, rec
}

// rawClient returns a plain client of r for looking behind the store.
func rawClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// entry returns a fresh 200 tagged tags that expires in an hour.
func entry(body string, tags ...string) *cache.Entry {
	now := time.Now()
	return &cache.Entry{
		Status:       200,
		Header:       http.Header{"Content-Type": {"text/plain"}},
		Body:         []byte(body),
		RequestTime:  now.Add(-time.Millisecond),
		ResponseTime: now,
		Tags:         tags,
		Expires:      now.Add(time.Hour),
	}
}

func mustSet(t *testing.T, s *Store, key string, e *cache.Entry) {
	t.Helper()
	if err := s.Set(context.Background(), key, e); err != nil {
		t.Fatalf("Set(%q) = %v", key, err)
	}
}

// present reports which of keys the store holds.
func present(t *testing.T, s *Store, keys ...string) []string {
	t.Helper()
	var got []string
	for _, k := range keys {
		_, err := s.Get(context.Background(), k)
		switch {
		case err == nil:
			got = append(got, k)
		case !errors.Is(err, cache.ErrMiss):
			t.Fatalf("Get(%q) = %v", k, err)
		}
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	r := testenv.StartRedis(t)
	s, _ := newStore(t, testConfig(r.Addr))
	ctx := context.Background()
	for name, e := range sampleEntries() {
		t.Run(name, func(t *testing.T) {
			e := *e
			e.Expires = time.Now().Add(time.Hour).Round(0) // stored entries must not have expired
			key := "http://example.com/" + name
			mustSet(t, s, key, &e)
			got, err := s.Get(ctx, key)
			if err != nil {
				t.Fatalf("Get(%q) = %v", key, err)
			}
			if field := sameEntry(got, &e); field != "" {
				t.Errorf("Get(%q).%s = %+v, want %+v", key, field, got, &e)
			}
		})
	}
	t.Run("miss", func(t *testing.T) {
		if e, err := s.Get(ctx, "http://example.com/nothing"); !errors.Is(err, cache.ErrMiss) {
			t.Errorf("Get(absent) = %+v, %v; want ErrMiss", e, err)
		}
	})
	t.Run("replace", func(t *testing.T) {
		key := "http://example.com/replaced"
		mustSet(t, s, key, entry("first"))
		mustSet(t, s, key, entry("second"))
		if e, err := s.Get(ctx, key); err != nil || string(e.Body) != "second" {
			t.Errorf("Get after two Sets = %v, want the second body", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		key := "http://example.com/deleted"
		mustSet(t, s, key, entry("x"))
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete = %v", err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete of an absent key = %v, want nil", err)
		}
		if got := present(t, s, key); len(got) != 0 {
			t.Errorf("Get after Delete found %v", got)
		}
	})
	t.Run("key layout", func(t *testing.T) {
		raw := rawClient(t, r.Addr)
		mustSet(t, s, "GET http://example.com/a", entry("x", "t1"))
		for _, k := range []string{"palisade:cache:e:GET http://example.com/a", "palisade:cache:tag:t1"} {
			if n, err := raw.Exists(ctx, k).Result(); err != nil || n != 1 {
				t.Errorf("EXISTS %q = %d, %v; want 1", k, n, err)
			}
		}
	})
	t.Run("foreign value", func(t *testing.T) {
		// A key of the store's holding something else is an error for
		// Get, not an outage: the store stays up.
		raw := rawClient(t, r.Addr)
		raw.Set(ctx, "palisade:cache:e:garbage", "not an entry", 0)
		raw.SAdd(ctx, "palisade:cache:e:a set", "x")
		for _, k := range []string{"garbage", "a set"} {
			if e, err := s.Get(ctx, k); err == nil || errors.Is(err, cache.ErrMiss) || errors.Is(err, ErrUnavailable) {
				t.Errorf("Get(%q) = %+v, %v; want an error that is neither a miss nor unavailable", k, e, err)
			}
		}
		mustSet(t, s, "garbage", entry("fixed"))
		if got := present(t, s, "garbage"); len(got) != 1 {
			t.Errorf("Set over a foreign value did not replace it")
		}
	})
}

func TestExpiry(t *testing.T) {
	r := testenv.StartRedis(t)
	s, _ := newStore(t, testConfig(r.Addr))
	raw := rawClient(t, r.Addr)
	ctx := context.Background()
	expiresAt := func(k string) time.Time {
		t.Helper()
		ms, err := raw.Do(ctx, "pexpiretime", k).Int64()
		if err != nil || ms < 0 {
			t.Fatalf("PEXPIRETIME %q = %d, %v", k, ms, err)
		}
		return time.UnixMilli(ms)
	}
	base := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	set := func(key string, expires time.Time, tags ...string) {
		t.Helper()
		e := entry(key, tags...)
		e.Expires = expires
		mustSet(t, s, key, e)
	}

	t.Run("entry expires at Expires", func(t *testing.T) {
		set("k1", base, "shared")
		if got := expiresAt("palisade:cache:e:k1"); !got.Equal(base) {
			t.Errorf("entry expires at %v, want %v", got, base)
		}
	})
	t.Run("tag set lives as long as its longest entry", func(t *testing.T) {
		if got := expiresAt("palisade:cache:tag:shared"); !got.Equal(base) {
			t.Errorf("new tag set expires at %v, want %v", got, base)
		}
		set("k2", base.Add(time.Hour), "shared")
		if got := expiresAt("palisade:cache:tag:shared"); !got.Equal(base.Add(time.Hour)) {
			t.Errorf("tag set after a later entry expires at %v, want %v", got, base.Add(time.Hour))
		}
		set("k3", base.Add(-30*time.Minute), "shared")
		if got := expiresAt("palisade:cache:tag:shared"); !got.Equal(base.Add(time.Hour)) {
			t.Errorf("tag set after an earlier entry expires at %v, want still %v", got, base.Add(time.Hour))
		}
	})
	t.Run("Redis drops the entry at Expires", func(t *testing.T) {
		set("short", time.Now().Add(150*time.Millisecond))
		if got := present(t, s, "short"); len(got) != 1 {
			t.Fatal("entry missing before it expired")
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(present(t, s, "short")) == 1 {
			if time.Now().After(deadline) {
				t.Fatal("entry still there 5s after Expires")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("an expired entry deletes the key", func(t *testing.T) {
		set("gone", base)
		set("gone", time.Now().Add(-time.Second))
		if got := present(t, s, "gone"); len(got) != 0 {
			t.Errorf("Set of an expired entry left the old one")
		}
	})
	t.Run("no Expires is an error", func(t *testing.T) {
		e := entry("x")
		e.Expires = time.Time{}
		if err := s.Set(ctx, "forever", e); err == nil {
			t.Error("Set without Expires = nil, want an error")
		}
	})
}

func TestMaxObjectSize(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg := testConfig(r.Addr)
	cfg.MaxObjectSize = 1000
	s, _ := newStore(t, cfg)

	fits := entry("")
	enc, err := encode(fits)
	if err != nil {
		t.Fatal(err)
	}
	fits.Body = []byte(strings.Repeat("x", 1000-len(enc)-1)) // the body length's varint grows by one byte
	if enc, _ := encode(fits); len(enc) != 1000 {
		t.Fatalf("the test entry encodes to %d bytes, want exactly 1000", len(enc))
	}
	over := *fits
	over.Body = append(slices.Clip(fits.Body), 'x')
	huge := entry(strings.Repeat("x", 2000))
	for _, tc := range []struct {
		name   string
		e      *cache.Entry
		stored bool
	}{
		{"exactly the limit", fits, true},
		{"one byte over", &over, false},
		{"body alone over", huge, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Set(context.Background(), tc.name, tc.e); err != nil {
				t.Fatalf("Set = %v, want nil (refusing is not an error)", err)
			}
			if got := len(present(t, s, tc.name)) == 1; got != tc.stored {
				t.Errorf("stored = %v, want %v", got, tc.stored)
			}
		})
	}
}

func TestPurgePrefix(t *testing.T) {
	r := testenv.StartRedis(t)
	s, _ := newStore(t, testConfig(r.Addr))
	other := testConfig(r.Addr)
	other.KeyPrefix = "other:"
	o, _ := newStore(t, other)
	ctx := context.Background()
	keys := []string{
		"http://a.example/x/1",
		"http://a.example/x/2",
		"http://a.example/y/1",
		"http://b.example/x/1",
		"http://a.example/[x]*?/1",
		"http://a.example/[x]*?/2",
		"http://a.example/x]*?/1", // matched by the glob, not by the prefix
		`http://a.example/\x/1`,
	}
	for _, k := range keys {
		mustSet(t, s, k, entry(k))
		mustSet(t, o, k, entry(k))
	}
	for _, tc := range []struct {
		prefix  string
		removed []string
	}{
		{"http://a.example/[x]*?", []string{"http://a.example/[x]*?/1", "http://a.example/[x]*?/2"}},
		{`http://a.example/\`, []string{`http://a.example/\x/1`}},
		{"http://a.example/x/", []string{"http://a.example/x/1", "http://a.example/x/2"}},
		{"http://nothing.example/", nil},
		{"http://a.example/", []string{"http://a.example/y/1", "http://a.example/x]*?/1"}},
	} {
		before := present(t, s, keys...)
		n, err := s.Purge(ctx, cache.Selector{Prefix: tc.prefix})
		if err != nil || n != len(tc.removed) {
			t.Errorf("Purge(prefix %q) = %d, %v; want %d, nil", tc.prefix, n, err, len(tc.removed))
		}
		after := present(t, s, keys...)
		var removed []string
		for _, k := range before {
			if !slices.Contains(after, k) {
				removed = append(removed, k)
			}
		}
		if !slices.Equal(removed, tc.removed) {
			t.Errorf("Purge(prefix %q) removed %q, want %q", tc.prefix, removed, tc.removed)
		}
	}
	if got := present(t, o, keys...); len(got) != len(keys) {
		t.Errorf("purges of one prefix removed another store's entries: %d of %d left", len(got), len(keys))
	}

	// Many keys take many SCAN batches.
	const many = 2500
	for i := range many {
		mustSet(t, s, fmt.Sprintf("http://many.example/%d", i), entry("x"))
	}
	if n, err := s.Purge(ctx, cache.Selector{Prefix: "http://many.example/"}); err != nil || n != many {
		t.Errorf("Purge of %d keys = %d, %v", many, n, err)
	}
	if n, err := s.Purge(ctx, cache.Selector{}); err != nil || n != 1 {
		t.Errorf("Purge(everything) = %d, %v; want 1 (http://b.example/x/1), nil", n, err)
	}
}

func TestPurgeTag(t *testing.T) {
	r := testenv.StartRedis(t)
	s, _ := newStore(t, testConfig(r.Addr))
	raw := rawClient(t, r.Addr)
	ctx := context.Background()
	mustSet(t, s, "p1", entry("1", "product", "product-1"))
	mustSet(t, s, "p2", entry("2", "product", "product-2"))
	mustSet(t, s, "home", entry("h", "home"))
	mustSet(t, s, "plain", entry("x"))
	mustSet(t, s, "deleted", entry("d", "product"))
	if err := s.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	all := []string{"p1", "p2", "home", "plain"}

	if n, err := s.Purge(ctx, cache.Selector{Tag: "product-2"}); err != nil || n != 1 {
		t.Errorf("Purge(tag product-2) = %d, %v; want 1, nil", n, err)
	}
	if got := present(t, s, all...); !slices.Equal(got, []string{"p1", "home", "plain"}) {
		t.Errorf("after purging product-2: %q left", got)
	}
	// The deleted entry is still named by the set and costs nothing.
	if n, err := s.Purge(ctx, cache.Selector{Tag: "product"}); err != nil || n != 1 {
		t.Errorf("Purge(tag product) = %d, %v; want 1 (p1; p2 and deleted are gone), nil", n, err)
	}
	if got := present(t, s, all...); !slices.Equal(got, []string{"home", "plain"}) {
		t.Errorf("after purging product: %q left", got)
	}
	if n, err := s.Purge(ctx, cache.Selector{Tag: "product"}); err != nil || n != 0 {
		t.Errorf("second Purge(tag product) = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.Purge(ctx, cache.Selector{Tag: "never-used"}); err != nil || n != 0 {
		t.Errorf("Purge(unknown tag) = %d, %v; want 0, nil", n, err)
	}
	// Tag takes precedence over Prefix.
	if n, err := s.Purge(ctx, cache.Selector{Tag: "home", Prefix: "pl"}); err != nil || n != 1 {
		t.Errorf("Purge(tag home, prefix pl) = %d, %v; want 1, nil", n, err)
	}
	left, err := raw.Keys(ctx, "*").Result()
	slices.Sort(left)
	if err != nil || !slices.Equal(left, []string{"palisade:cache:e:plain", "palisade:cache:tag:product-1"}) {
		t.Errorf("keys left = %q, %v; want the untagged entry and the unpurged tag's set, no set of a purged tag, no temporary key", left, err)
	}

	// A tag purged once collects new entries again.
	mustSet(t, s, "p3", entry("3", "product"))
	if n, err := s.Purge(ctx, cache.Selector{Tag: "product"}); err != nil || n != 1 {
		t.Errorf("Purge(tag product) after a new Set = %d, %v; want 1, nil", n, err)
	}

	// A large set takes many SSCAN batches.
	const many = 2500
	for i := range many {
		mustSet(t, s, fmt.Sprintf("m%d", i), entry("x", "many"))
	}
	if n, err := s.Purge(ctx, cache.Selector{Tag: "many"}); err != nil || n != many {
		t.Errorf("Purge(tag many) = %d, %v; want %d, nil", n, err, many)
	}
}

// timed runs f and fails the test when it took longer than callBound.
func timed(t *testing.T, what string, f func() error) error {
	t.Helper()
	start := time.Now()
	err := f()
	if d := time.Since(start); d > callBound {
		t.Errorf("%s took %v, want at most %v", what, d, callBound)
	}
	return err
}

// waitUp calls Get until the store answers from Redis again (a hit or a
// miss), and fails the test after 10s.
func waitUp(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := timed(t, "Get while recovering", func() error {
			_, err := s.Get(context.Background(), "probe")
			return err
		})
		if err == nil || errors.Is(err, cache.ErrMiss) {
			return
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get while recovering = %v, want ErrUnavailable or a miss", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still down 10s after Redis came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantDown checks that while Redis is unusable every call fails with
// ErrUnavailable within callBound.
func wantDown(t *testing.T, s *Store, calls int) {
	t.Helper()
	ctx := context.Background()
	for i := range calls {
		key := fmt.Sprintf("k%d", i)
		if err := timed(t, "Get", func() error { _, err := s.Get(ctx, key); return err }); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get(%q) while down = %v, want ErrUnavailable", key, err)
		}
		if err := timed(t, "Set", func() error { return s.Set(ctx, key, entry("x", "t")) }); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Set(%q) while down = %v, want ErrUnavailable", key, err)
		}
		if err := timed(t, "Delete", func() error { return s.Delete(ctx, key) }); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Delete(%q) while down = %v, want ErrUnavailable", key, err)
		}
		time.Sleep(5 * time.Millisecond) // spread the calls over a few backoffs
	}
}

func TestRedisKilled(t *testing.T) {
	r := testenv.StartRedis(t)
	s, rec := newStore(t, testConfig(r.Addr))
	mustSet(t, s, "k", entry("x"))
	if got := present(t, s, "k"); len(got) != 1 {
		t.Fatal("entry missing before the outage")
	}

	r.Kill()
	wantDown(t, s, 100)
	if got := rec.count("cache redis down"); got != 1 {
		t.Errorf("%d down lines during one outage, want 1", got)
	}
	if got := rec.count("cache redis up"); got != 0 {
		t.Errorf("%d up lines while Redis is dead, want 0", got)
	}

	r.Restart()
	waitUp(t, s)
	if got := present(t, s, "k"); len(got) != 0 {
		t.Error("an entry survived a restart of a Redis without persistence")
	}
	mustSet(t, s, "k", entry("y"))
	if got := present(t, s, "k"); len(got) != 1 {
		t.Error("Set after recovery did not store")
	}
	if down, up := rec.count("cache redis down"), rec.count("cache redis up"); down != 1 || up != 1 {
		t.Errorf("%d down and %d up lines for one outage, want 1 and 1", down, up)
	}
}

func TestRedisDownAtStart(t *testing.T) {
	r := testenv.StartRedis(t)
	r.Kill()
	s, rec := newStore(t, testConfig(r.Addr))
	wantDown(t, s, 20)
	r.Restart()
	waitUp(t, s)
	if down, up := rec.count("cache redis down"), rec.count("cache redis up"); down != 1 || up != 1 {
		t.Errorf("%d down and %d up lines, want 1 and 1", down, up)
	}
}

func TestRedisStopped(t *testing.T) {
	r := testenv.StartRedis(t)
	s, rec := newStore(t, testConfig(r.Addr))
	mustSet(t, s, "k", entry("x"))

	r.Pause()
	// Some calls find a live connection and wait for the timeout, the
	// rest are refused at once; none waits longer.
	wantDown(t, s, 30)
	if got := rec.count("cache redis down"); got != 1 {
		t.Errorf("%d down lines while Redis is stopped, want 1", got)
	}

	r.Resume()
	waitUp(t, s)
	if got := present(t, s, "k"); len(got) != 1 {
		t.Error("entry lost across SIGSTOP and SIGCONT")
	}
	if down, up := rec.count("cache redis down"), rec.count("cache redis up"); down != 1 || up != 1 {
		t.Errorf("%d down and %d up lines, want 1 and 1", down, up)
	}
}

// TestCallerGivesUp checks that a caller's own cancelled context fails
// its call without taking the store down: a client that went away says
// nothing about Redis.
func TestCallerGivesUp(t *testing.T) {
	r := testenv.StartRedis(t)
	s, rec := newStore(t, testConfig(r.Addr))
	r.Pause()
	defer r.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout/4)
	defer cancel()
	if _, err := s.Get(ctx, "k"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("Get with the caller's deadline passing = %v, want an error that is not ErrUnavailable", err)
	}
	if got := rec.count("cache redis down"); got != 0 {
		t.Errorf("%d down lines after the caller gave up, want 0", got)
	}
}

func TestClose(t *testing.T) {
	r := testenv.StartRedis(t)
	log, _ := newLogRecorder(t)
	s, err := New(testConfig(r.Addr), log)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "k", entry("x"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := s.Set(context.Background(), "k", entry("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
}
