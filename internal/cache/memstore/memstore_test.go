package memstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"palisade/internal/cache"
)

func newStore(t *testing.T, maxBytes int64) *Store {
	t.Helper()
	s := New(maxBytes)
	t.Cleanup(func() { s.Close() })
	return s
}

func entry(body string, tags ...string) *cache.Entry {
	return &cache.Entry{Status: 200, Body: []byte(body), Tags: tags, Expires: time.Now().Add(time.Hour)}
}

func mustGet(t *testing.T, s *Store, key string) *cache.Entry {
	t.Helper()
	e, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want an entry", key, err)
	}
	return e
}

func wantMiss(t *testing.T, s *Store, key string) {
	t.Helper()
	if e, err := s.Get(context.Background(), key); !errors.Is(err, cache.ErrMiss) {
		t.Errorf("Get(%q) = %v, %v, want ErrMiss", key, e, err)
	}
}

func TestGetReturnsTheStoredEntry(t *testing.T) {
	s := newStore(t, 1<<20)
	ctx := context.Background()
	e := entry("hello")
	if err := s.Set(ctx, "k", e); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "k"); got != e {
		t.Errorf("Get returned %p, want the stored entry %p (no copy)", got, e)
	}
	wantMiss(t, s, "other")
	e2 := entry("replaced")
	s.Set(ctx, "k", e2)
	if got := mustGet(t, s, "k"); got != e2 {
		t.Errorf("after replacing, Get = %q, want %q", got.Body, e2.Body)
	}
	s.Delete(ctx, "k")
	wantMiss(t, s, "k")
}

func TestGetAllocatesNothing(t *testing.T) {
	s := newStore(t, 1<<20)
	s.Set(context.Background(), "k", entry("hello"))
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { s.Get(ctx, "k") }); n != 0 {
		t.Errorf("Get allocates %v times, want 0", n)
	}
}

func TestEntryExpires(t *testing.T) {
	s := newStore(t, 1<<20)
	ctx := context.Background()
	expired := entry("old")
	expired.Expires = time.Now().Add(-time.Second)
	s.Set(ctx, "expired", expired)
	wantMiss(t, s, "expired")

	e := entry("soon")
	e.Expires = time.Now().Add(50 * time.Millisecond)
	s.Set(ctx, "soon", e)
	mustGet(t, s, "soon")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := s.Get(ctx, "soon"); errors.Is(err, cache.ErrMiss) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("entry still served 5s after its Expires")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBoundedByBytes(t *testing.T) {
	const max = 64 << 10
	s := newStore(t, max)
	ctx := context.Background()
	big := entry(strings.Repeat("x", max))
	s.Set(ctx, "too-big", big)
	wantMiss(t, s, "too-big")

	body := strings.Repeat("y", 1000)
	for i := range 1000 {
		s.Set(ctx, fmt.Sprintf("k%d", i), entry(body))
	}
	s.c.CleanUp()
	if got := s.WeightedSize(); got > max {
		t.Errorf("WeightedSize() = %d after 1000 entries of 1 KB, want at most %d", got, max)
	}
	if n := s.Len(); n == 0 || n > max/1000 {
		t.Errorf("Len() = %d, want between 1 and %d", n, max/1000)
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	fill := func(t *testing.T) *Store {
		s := newStore(t, 1<<20)
		s.Set(ctx, "http://a/x/1\x00GET", entry("1", "red"))
		s.Set(ctx, "http://a/x/2\x00GET", entry("2", "red", "blue"))
		s.Set(ctx, "http://a/y\x00GET", entry("3", "blue"))
		s.Set(ctx, "http://b/x/1\x00GET", entry("4", "red"))
		return s
	}
	for _, tc := range []struct {
		name string
		sel  cache.Selector
		want int
		left []string
	}{
		{"exact url", cache.Selector{Prefix: "http://a/y\x00"}, 1, []string{"http://a/x/1\x00GET", "http://a/x/2\x00GET", "http://b/x/1\x00GET"}},
		{"prefix", cache.Selector{Prefix: "http://a/x/"}, 2, []string{"http://a/y\x00GET", "http://b/x/1\x00GET"}},
		{"tag", cache.Selector{Tag: "red"}, 3, []string{"http://a/y\x00GET"}},
		{"tag within a prefix", cache.Selector{Tag: "red", Prefix: "http://a/"}, 2, []string{"http://a/y\x00GET", "http://b/x/1\x00GET"}},
		{"unknown tag", cache.Selector{Tag: "green"}, 0, []string{"http://a/x/1\x00GET", "http://a/x/2\x00GET", "http://a/y\x00GET", "http://b/x/1\x00GET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fill(t)
			n, err := s.Purge(ctx, tc.sel)
			if err != nil || n != tc.want {
				t.Errorf("Purge(%+v) = %d, %v, want %d", tc.sel, n, err, tc.want)
			}
			if s.Len() != len(tc.left) {
				t.Errorf("Len() = %d after purge, want %d", s.Len(), len(tc.left))
			}
			for _, k := range tc.left {
				mustGet(t, s, k)
			}
		})
	}
}

// TestTagIndexFollowsReplacement guards the index against losing a key
// when an entry is replaced by one with the same tag, and against keeping
// a key whose new entry dropped the tag.
func TestTagIndexFollowsReplacement(t *testing.T) {
	s := newStore(t, 1<<20)
	ctx := context.Background()
	s.Set(ctx, "k", entry("1", "red", "blue"))
	s.Set(ctx, "k", entry("2", "red"))
	if n, _ := s.Purge(ctx, cache.Selector{Tag: "blue"}); n != 0 {
		t.Errorf("Purge(blue) = %d after the entry lost the tag, want 0", n)
	}
	if n, _ := s.Purge(ctx, cache.Selector{Tag: "red"}); n != 1 {
		t.Errorf("Purge(red) = %d, want 1", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tags) != 0 {
		t.Errorf("tag index holds %v after every entry left, want nothing", s.tags)
	}
}

func TestClose(t *testing.T) {
	s := New(1 << 20)
	ctx := context.Background()
	s.Set(ctx, "k", entry("1"))
	s.Close()
	wantMiss(t, s, "k")
	if err := s.Set(ctx, "k", entry("1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
}

func BenchmarkGet(b *testing.B) {
	s := New(1 << 20)
	defer s.Close()
	ctx := context.Background()
	s.Set(ctx, "http://example.com/x\x00GET", entry("hello"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Get(ctx, "http://example.com/x\x00GET")
		}
	})
}
