package upstream

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestNewBackend(t *testing.T) {
	b := NewBackend("app", "127.0.0.1:9001")
	if b.Upstream != "app" || b.Addr != "127.0.0.1:9001" {
		t.Errorf("NewBackend identity = (%q, %q), want (%q, %q)", b.Upstream, b.Addr, "app", "127.0.0.1:9001")
	}
	if !b.Available() {
		t.Errorf("NewBackend: Available() = false, want true")
	}
	if got := b.Weight(); got != 1 {
		t.Errorf("NewBackend: Weight() = %d, want 1", got)
	}
	if b.InFlight() != 0 || b.Requests() != 0 || b.Failures() != 0 || b.EWMA() != 0 {
		t.Errorf("NewBackend: InFlight, Requests, Failures, EWMA = %d, %d, %d, %v; want zeros", b.InFlight(), b.Requests(), b.Failures(), b.EWMA())
	}
}

func TestSetHealthy(t *testing.T) {
	b := NewBackend("app", "127.0.0.1:9001")
	for _, ok := range []bool{false, false, true, false, true} {
		b.SetHealthy(ok, "test")
		if got := b.Available(); got != ok {
			t.Errorf("SetHealthy(%v): Available() = %v, want %v", ok, got, ok)
		}
	}
}

func TestSetWeight(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   int
		want int
	}{
		{"one", 1, 1},
		{"ten", 10, 10},
		{"zero clamps to one", 0, 1},
		{"negative clamps to one", -5, 1},
		{"most negative clamps to one", math.MinInt, 1},
		{"largest int32", math.MaxInt32, math.MaxInt32},
		// Config validation bounds weight only from below, so a document
		// may carry any int. Regression guard: the int32 conversion must not
		// wrap to zero or a negative weight (Weight promises at least 1).
		{"2^32 saturates", 1 << 32, math.MaxInt32},
		{"2^31 saturates", 1 << 31, math.MaxInt32},
		{"3e9 saturates", 3_000_000_000, math.MaxInt32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBackend("app", "127.0.0.1:9001")
			b.SetWeight(tc.in)
			if got := b.Weight(); got != tc.want {
				t.Errorf("SetWeight(%d): Weight() = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestAcquireRelease(t *testing.T) {
	b := NewBackend("app", "127.0.0.1:9001")
	r1 := b.Acquire()
	r2 := b.Acquire()
	r3 := b.Acquire()
	if got := b.InFlight(); got != 3 {
		t.Errorf("after 3 Acquire: InFlight() = %d, want 3", got)
	}
	if got := b.Requests(); got != 3 {
		t.Errorf("after 3 Acquire: Requests() = %d, want 3", got)
	}

	r1(10*time.Millisecond, nil)
	r2(0, errors.New("connection reset"))
	if got := b.InFlight(); got != 1 {
		t.Errorf("after 2 releases: InFlight() = %d, want 1", got)
	}
	if got := b.Failures(); got != 1 {
		t.Errorf("after one failed release: Failures() = %d, want 1", got)
	}
	r3(0, errors.New("timeout"))
	if b.InFlight() != 0 || b.Requests() != 3 || b.Failures() != 2 {
		t.Errorf("after all releases: InFlight, Requests, Failures = %d, %d, %d; want 0, 3, 2", b.InFlight(), b.Requests(), b.Failures())
	}
	if got, want := b.EWMA(), 10*time.Millisecond; got != want {
		t.Errorf("EWMA() = %v, want %v (failures carry no latency sample)", got, want)
	}
}

func TestEWMA(t *testing.T) {
	// Samples are multiples of 8ns so the 1/8 smoothing is exact.
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"no sample", nil, 0},
		{"first sample taken as is", []time.Duration{80 * time.Millisecond}, 80 * time.Millisecond},
		{"second sample moves 1/8 up", []time.Duration{80 * time.Millisecond, 160 * time.Millisecond}, 90 * time.Millisecond},
		{"then 1/8 down", []time.Duration{80 * time.Millisecond, 160 * time.Millisecond, 10 * time.Millisecond}, 80 * time.Millisecond},
		{"steady samples stay", []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}, 40 * time.Millisecond},
		{"spike damped", []time.Duration{8 * time.Millisecond, 808 * time.Millisecond}, 108 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBackend("app", "127.0.0.1:9001")
			for _, s := range tc.samples {
				b.Acquire()(s, nil)
			}
			if got := b.EWMA(); got != tc.want {
				t.Errorf("EWMA() after %v = %v, want %v", tc.samples, got, tc.want)
			}
		})
	}
}

func TestEWMAFailuresIgnored(t *testing.T) {
	b := NewBackend("app", "127.0.0.1:9001")
	b.Acquire()(time.Second, errors.New("refused"))
	if got := b.EWMA(); got != 0 {
		t.Errorf("EWMA() after a failed exchange = %v, want 0", got)
	}
	b.Acquire()(24*time.Millisecond, nil)
	if got, want := b.EWMA(), 24*time.Millisecond; got != want {
		t.Errorf("EWMA() after a failure then a success = %v, want %v (the success is the first sample)", got, want)
	}
}

func TestAcquireConcurrent(t *testing.T) {
	b := NewBackend("app", "127.0.0.1:9001")
	const workers, each = 8, 500
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				release := b.Acquire()
				var err error
				if (w+i)%5 == 0 {
					err = errors.New("fail")
				}
				release(8*time.Millisecond, err)
			}
		}()
	}
	for range workers {
		<-done
	}
	if b.InFlight() != 0 || b.Requests() != workers*each || b.Failures() != workers*each/5 {
		t.Errorf("InFlight, Requests, Failures = %d, %d, %d; want 0, %d, %d", b.InFlight(), b.Requests(), b.Failures(), workers*each, workers*each/5)
	}
	if got, want := b.EWMA(), 8*time.Millisecond; got != want {
		t.Errorf("EWMA() of equal samples = %v, want %v", got, want)
	}
}

func TestAcquireAllocs(t *testing.T) {
	b := NewBackend("app", "127.0.0.1:9001")
	errFail := errors.New("fail")
	if n := testing.AllocsPerRun(1000, func() {
		release := b.Acquire()
		release(time.Millisecond, nil)
	}); n != 0 {
		t.Errorf("Acquire+release (success) allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		release := b.Acquire()
		release(time.Millisecond, errFail)
	}); n != 0 {
		t.Errorf("Acquire+release (failure) allocates %v times, want 0", n)
	}
}

func BenchmarkAcquire(b *testing.B) {
	be := NewBackend("app", "127.0.0.1:9001")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			be.Acquire()(time.Millisecond, nil)
		}
	})
}
