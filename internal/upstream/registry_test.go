package upstream

import (
	"sync"
	"testing"
)

func TestRegistryBackendIdentity(t *testing.T) {
	r := NewRegistry()
	a := r.Backend("app", "127.0.0.1:9001")
	for _, tc := range []struct {
		name     string
		upstream string
		addr     string
		wantSame bool
	}{
		{"same upstream and address", "app", "127.0.0.1:9001", true},
		{"same address, other upstream", "api", "127.0.0.1:9001", false},
		{"same upstream, other address", "app", "127.0.0.1:9002", false},
		{"address spelled differently", "app", "localhost:9001", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := r.Backend(tc.upstream, tc.addr)
			if got := b == a; got != tc.wantSame {
				t.Errorf("Backend(%q, %q) == Backend(%q, %q) is %v, want %v", tc.upstream, tc.addr, "app", "127.0.0.1:9001", got, tc.wantSame)
			}
			if b.Upstream != tc.upstream || b.Addr != tc.addr {
				t.Errorf("Backend(%q, %q) has identity (%q, %q)", tc.upstream, tc.addr, b.Upstream, b.Addr)
			}
		})
	}
	if got, want := r.Len(), 4; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

func TestRegistryKeepsState(t *testing.T) {
	r := NewRegistry()
	b := r.Backend("app", "127.0.0.1:9001")
	b.SetHealthy(false, "probe failed")
	release := b.Acquire()
	if again := r.Backend("app", "127.0.0.1:9001"); again.Available() || again.InFlight() != 1 {
		t.Errorf("Backend(same identity): Available() = %v, InFlight() = %d; want the live state false, 1", again.Available(), again.InFlight())
	}
	release(0, nil)
}

func TestRegistryRetain(t *testing.T) {
	r := NewRegistry()
	keepA := r.Backend("app", "127.0.0.1:9001")
	dropB := r.Backend("app", "127.0.0.1:9002")
	keepC := r.Backend("api", "127.0.0.1:9001")
	dropB.SetHealthy(false, "down")

	r.Retain([]*Backend{keepA, keepC, keepA})

	if got, want := r.Len(), 2; got != want {
		t.Errorf("Len() after Retain = %d, want %d", got, want)
	}
	if got := r.Backend("app", "127.0.0.1:9001"); got != keepA {
		t.Errorf("Backend(app, :9001) after Retain = %p, want the retained %p", got, keepA)
	}
	if got := r.Backend("api", "127.0.0.1:9001"); got != keepC {
		t.Errorf("Backend(api, :9001) after Retain = %p, want the retained %p", got, keepC)
	}
	fresh := r.Backend("app", "127.0.0.1:9002")
	if fresh == dropB {
		t.Errorf("Backend(app, :9002) after Retain returned the dropped backend, want a new one")
	}
	if !fresh.Available() {
		t.Errorf("Backend(app, :9002) after Retain: Available() = false, want a fresh healthy backend")
	}
}

func TestRegistryRetainNothing(t *testing.T) {
	r := NewRegistry()
	r.Backend("app", "127.0.0.1:9001")
	r.Backend("app", "127.0.0.1:9002")
	r.Retain(nil)
	if got := r.Len(); got != 0 {
		t.Errorf("Len() after Retain(nil) = %d, want 0", got)
	}
}

func TestRegistryRetainForeignBackend(t *testing.T) {
	r := NewRegistry()
	b := r.Backend("app", "127.0.0.1:9001")
	// A backend with the same identity that the registry did not hand out
	// does not keep the registered one alive.
	r.Retain([]*Backend{NewBackend("app", "127.0.0.1:9001")})
	if got := r.Backend("app", "127.0.0.1:9001"); got == b {
		t.Errorf("Retain(foreign backend) kept the registered one, want it dropped")
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	const workers = 8
	got := make([]*Backend, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range 100 {
				got[i] = r.Backend("app", "127.0.0.1:9001")
				r.Backend("app", "127.0.0.1:9002")
				r.Len()
			}
		})
	}
	wg.Wait()
	for i := 1; i < workers; i++ {
		if got[i] != got[0] {
			t.Errorf("concurrent Backend(app, :9001) returned %p and %p, want one backend", got[0], got[i])
		}
	}
	if n := r.Len(); n != 2 {
		t.Errorf("Len() = %d, want 2", n)
	}
}
