package lifecycle

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
)

// value is a long-lived value: its identity is its pointer.
type value struct{ name string }

func (v *value) String() string { return v.name }

// fixture is a Set of *value by string key that records releases and
// creations.
type fixture struct {
	set *Set[string, *value]

	mu       sync.Mutex
	released map[*value]int
	created  int
}

func newFixture() *fixture {
	f := &fixture{released: make(map[*value]int)}
	f.set = NewSet(func(k string, v *value) {
		if v.name != k {
			panic(fmt.Sprintf("release(%q, %v): the key is not the value's", k, v))
		}
		f.mu.Lock()
		f.released[v]++
		f.mu.Unlock()
	})
	return f
}

// take takes k in t, creating a new value named k when none is live.
func (f *fixture) take(t *testing.T, txn *Txn, k string) *value {
	t.Helper()
	v, err := f.set.Take(txn, k, func() (*value, error) {
		f.mu.Lock()
		f.created++
		f.mu.Unlock()
		return &value{name: k}, nil
	})
	if err != nil {
		t.Fatalf("Take(%q) error = %v, want nil", k, err)
	}
	return v
}

// releases returns how many times v was released.
func (f *fixture) releases(v *value) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.released[v]
}

func (f *fixture) totalReleases() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.released {
		n += c
	}
	return n
}

// liveKeys returns the sorted keys of the live values.
func (f *fixture) liveKeys() []string {
	var keys []string
	f.set.Each(func(k string, _ *value) { keys = append(keys, k) })
	slices.Sort(keys)
	return keys
}

// commitKeys commits a Txn that takes keys and returns their values.
func (f *fixture) commitKeys(t *testing.T, keys ...string) map[string]*value {
	t.Helper()
	var txn Txn
	vs := make(map[string]*value)
	for _, k := range keys {
		vs[k] = f.take(t, &txn, k)
	}
	txn.Commit()
	return vs
}

func TestTakeReusesLive(t *testing.T) {
	f := newFixture()
	first := f.commitKeys(t, "a", "b")
	var txn Txn
	if got := f.take(t, &txn, "a"); got != first["a"] {
		t.Errorf("Take(%q) = %v (%p), want the live %p", "a", got, got, first["a"])
	}
	if f.created != 2 {
		t.Errorf("Take of a live key: %d values created in all, want 2", f.created)
	}
	txn.Commit()
	if got, ok := f.set.Live("a"); !ok || got != first["a"] {
		t.Errorf("after Commit: Live(%q) = %p, %v; want %p, true", "a", got, ok, first["a"])
	}
}

func TestTakeCreatesOncePerTxn(t *testing.T) {
	f := newFixture()
	var txn Txn
	v1 := f.take(t, &txn, "a")
	v2 := f.take(t, &txn, "a")
	if v1 != v2 || f.created != 1 {
		t.Errorf("Take(%q) twice in one Txn: %p, %p with %d created; want the same value, 1 created", "a", v1, v2, f.created)
	}
	if _, ok := f.set.Live("a"); ok || f.set.Len() != 0 {
		t.Errorf("before Commit: Live(%q) found, Len() = %d; want pending values not live", "a", f.set.Len())
	}
	txn.Commit()
	if got, ok := f.set.Live("a"); !ok || got != v1 {
		t.Errorf("after Commit: Live(%q) = %p, %v; want %p, true", "a", got, ok, v1)
	}
	if n := f.totalReleases(); n != 0 {
		t.Errorf("Commit of new values released %d, want 0", n)
	}
}

func TestTakeCreateError(t *testing.T) {
	f := newFixture()
	var txn Txn
	errCreate := errors.New("listen: address in use")
	if _, err := f.set.Take(&txn, "a", func() (*value, error) { return nil, errCreate }); !errors.Is(err, errCreate) {
		t.Errorf("Take with a failing create: error = %v, want %v", err, errCreate)
	}
	// Nothing was recorded: the key is created again.
	v := f.take(t, &txn, "a")
	if f.created != 1 {
		t.Errorf("Take after a failed create: %d created, want 1", f.created)
	}
	txn.Abort()
	if got := f.releases(v); got != 1 {
		t.Errorf("Abort: value released %d times, want 1", got)
	}
	if n := f.totalReleases(); n != 1 {
		t.Errorf("Abort: %d releases, want 1 (the failed create made nothing)", n)
	}
}

func TestCommit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		live, take []string
		// wantLive are the live keys after Commit, wantReleased the keys
		// whose previous live value was released.
		wantLive, wantReleased []string
	}{
		{"first commit", nil, []string{"a", "b"}, []string{"a", "b"}, nil},
		{"same keys", []string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}, nil},
		{"one dropped", []string{"a", "b"}, []string{"b"}, []string{"b"}, []string{"a"}},
		{"one added, one dropped", []string{"a", "b"}, []string{"b", "c"}, []string{"b", "c"}, []string{"a"}},
		{"all replaced", []string{"a", "b"}, []string{"c"}, []string{"c"}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			before := f.commitKeys(t, tc.live...)
			after := f.commitKeys(t, tc.take...)
			if got := f.liveKeys(); !slices.Equal(got, tc.wantLive) {
				t.Errorf("after Commit: live keys = %v, want %v", got, tc.wantLive)
			}
			for k, v := range after {
				if live, _ := f.set.Live(k); live != v {
					t.Errorf("after Commit: Live(%q) = %p, want the taken %p", k, live, v)
				}
				if old, ok := before[k]; ok && old != v {
					t.Errorf("Take(%q) of a live key = %p, want the live %p", k, v, old)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(before)) {
				want := 0
				if slices.Contains(tc.wantReleased, k) {
					want = 1
				}
				if got := f.releases(before[k]); got != want {
					t.Errorf("%q released %d times, want %d", k, got, want)
				}
			}
			if got := f.totalReleases(); got != len(tc.wantReleased) {
				t.Errorf("releases in all = %d, want %d", got, len(tc.wantReleased))
			}
			// Closing releases the rest, each once.
			f.set.Close()
			if got, want := f.totalReleases(), len(tc.wantReleased)+len(tc.wantLive); got != want {
				t.Errorf("after Close: releases in all = %d, want %d", got, want)
			}
		})
	}
}

func TestAbort(t *testing.T) {
	f := newFixture()
	live := f.commitKeys(t, "a", "b")
	var txn Txn
	reused := f.take(t, &txn, "a")
	created := f.take(t, &txn, "c")
	txn.Abort()
	if got := f.releases(created); got != 1 {
		t.Errorf("Abort: the value it created released %d times, want 1", got)
	}
	if got := f.releases(reused); got != 0 {
		t.Errorf("Abort: the live value it took released %d times, want 0", got)
	}
	if got := f.releases(live["b"]); got != 0 {
		t.Errorf("Abort: a live value it did not take released %d times, want 0", got)
	}
	if got, want := f.liveKeys(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("after Abort: live keys = %v, want %v", got, want)
	}
	// Abort after the end changes nothing, and the Set takes a new Txn.
	txn.Abort()
	if got := f.totalReleases(); got != 1 {
		t.Errorf("second Abort: releases in all = %d, want 1", got)
	}
	next := f.commitKeys(t, "c")
	if next["c"] == created {
		t.Errorf("Take(%q) after an Abort returned the aborted Txn's released value", "c")
	}
}

func TestAbortAfterCommit(t *testing.T) {
	f := newFixture()
	var txn Txn
	v := f.take(t, &txn, "a")
	txn.Commit()
	txn.Abort() // as a deferred Abort does
	if got := f.releases(v); got != 0 {
		t.Errorf("Abort after Commit released the committed value %d times, want 0", got)
	}
	if _, ok := f.set.Live("a"); !ok {
		t.Errorf("Abort after Commit: Live(%q) not found, want it live", "a")
	}
}

func TestJoin(t *testing.T) {
	for _, tc := range []struct {
		name        string
		join        bool
		wantRelease int
	}{
		{"joined, untouched: its values are released", true, 1},
		{"not joined: left as it is", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			used, untouched := newFixture(), newFixture()
			old := untouched.commitKeys(t, "x")
			var txn Txn
			if tc.join {
				if err := untouched.set.Join(&txn); err != nil {
					t.Fatalf("Join() error = %v, want nil", err)
				}
			}
			used.take(t, &txn, "a")
			txn.Commit()
			if got := untouched.releases(old["x"]); got != tc.wantRelease {
				t.Errorf("Commit: the untouched Set's value released %d times, want %d", got, tc.wantRelease)
			}
			if got, want := untouched.set.Len(), 1-tc.wantRelease; got != want {
				t.Errorf("Commit: the untouched Set's Len() = %d, want %d", got, want)
			}
		})
	}
}

func TestJoinAbort(t *testing.T) {
	f := newFixture()
	f.commitKeys(t, "x")
	var txn Txn
	if err := f.set.Join(&txn); err != nil {
		t.Fatalf("Join() error = %v, want nil", err)
	}
	txn.Abort()
	if n, l := f.totalReleases(), f.set.Len(); n != 0 || l != 1 {
		t.Errorf("Abort of a joined Txn: %d releases, Len() = %d; want 0, 1", n, l)
	}
}

func TestBusy(t *testing.T) {
	f := newFixture()
	var first, second Txn
	f.take(t, &first, "a")
	if _, err := f.set.Take(&second, "a", func() (*value, error) {
		t.Errorf("Take in a second Txn called create")
		return &value{name: "a"}, nil
	}); !errors.Is(err, ErrBusy) {
		t.Errorf("Take in a second Txn: error = %v, want %v", err, ErrBusy)
	}
	if err := f.set.Join(&second); !errors.Is(err, ErrBusy) {
		t.Errorf("Join of a second Txn: error = %v, want %v", err, ErrBusy)
	}
	// Joining again in the same Txn is fine.
	if err := f.set.Join(&first); err != nil {
		t.Errorf("Join of the Txn that has the Set: error = %v, want nil", err)
	}
	first.Commit()
	// The second Txn took nothing: once the first ended it may go on.
	if got := f.take(t, &second, "a"); got == nil {
		t.Fatalf("Take after the first Txn ended returned nil")
	}
	second.Commit()
	if got, want := f.liveKeys(), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("live keys = %v, want %v", got, want)
	}
	if f.created != 1 {
		t.Errorf("%d values created, want 1", f.created)
	}
}

func TestEndedTxnPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		use  func(f *fixture, txn *Txn)
	}{
		{"Commit twice", func(f *fixture, txn *Txn) { txn.Commit() }},
		{"Take after Commit", func(f *fixture, txn *Txn) {
			f.set.Take(txn, "a", func() (*value, error) { return &value{name: "a"}, nil })
		}},
		{"Join after Commit", func(f *fixture, txn *Txn) { f.set.Join(txn) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			var txn Txn
			txn.Commit()
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic, want one", tc.name)
				}
			}()
			tc.use(f, &txn)
		})
	}
}

func TestClose(t *testing.T) {
	f := newFixture()
	vs := f.commitKeys(t, "a", "b", "c")
	f.set.Close()
	for k, v := range vs {
		if got := f.releases(v); got != 1 {
			t.Errorf("Close: %q released %d times, want 1", k, got)
		}
	}
	if got := f.set.Len(); got != 0 {
		t.Errorf("after Close: Len() = %d, want 0", got)
	}
	f.set.Close()
	if got := f.totalReleases(); got != 3 {
		t.Errorf("second Close: releases in all = %d, want 3", got)
	}
}

func TestSeveralSets(t *testing.T) {
	a, b := newFixture(), newFixture()
	var txn Txn
	va := a.take(t, &txn, "x")
	b.take(t, &txn, "y")
	txn.Abort()
	if a.releases(va) != 1 || b.totalReleases() != 1 {
		t.Errorf("Abort across two Sets: releases %d and %d, want 1 and 1", a.totalReleases(), b.totalReleases())
	}
	var next Txn
	a.take(t, &next, "x")
	b.take(t, &next, "y")
	next.Commit()
	if a.set.Len() != 1 || b.set.Len() != 1 {
		t.Errorf("Commit across two Sets: Len() = %d and %d, want 1 and 1", a.set.Len(), b.set.Len())
	}
}

// TestConcurrentReaders reads a Set while reloads commit and abort (run it
// with -race); every released value is released once.
func TestConcurrentReaders(t *testing.T) {
	f := newFixture()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				f.set.Live("a")
				f.set.Len()
				f.set.Each(func(string, *value) {})
			}
		})
	}
	keys := []string{"a", "b", "c", "d"}
	for i := range 500 {
		var txn Txn
		for j, k := range keys {
			if (i+j)%3 != 0 {
				f.take(t, &txn, k)
			}
		}
		if i%4 == 0 {
			txn.Abort()
		} else {
			txn.Commit()
		}
	}
	close(done)
	wg.Wait()
	f.set.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for v, n := range f.released {
		if n != 1 {
			t.Errorf("%v released %d times, want 1", v, n)
		}
	}
	if got := len(f.released); got != f.created {
		t.Errorf("%d values released, want all %d created", got, f.created)
	}
}
