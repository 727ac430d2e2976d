package upstream

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// limitedPick returns a pick for Queue that takes a slot of b below its
// request limit atomically, as Available followed by Acquire would if no
// other request raced for the slot; the caller releases it with b.release.
func limitedPick(b *Backend) func() *Backend {
	return func() *Backend {
		for {
			n := b.inflight.Load()
			if n >= b.maxInflight.Load() {
				return nil
			}
			if b.inflight.CompareAndSwap(n, n+1) {
				b.requests.Add(1)
				return b
			}
		}
	}
}

func queueSettings(pending int) Settings {
	return Settings{MaxRequests: 1, MaxPending: pending, QueueTimeout: time.Second}
}

func TestQueueNone(t *testing.T) {
	p, _ := newTestPool(t, queueSettings(0), testMembers(1)...)
	b := p.Primaries()[0]
	release := b.Acquire()
	defer release(0, nil)
	if _, err := p.Queue(t.Context(), limitedPick(b)); !errors.Is(err, ErrQueueFull) {
		t.Errorf("max_pending 0: Queue() error = %v, want %v", err, ErrQueueFull)
	}
	if got := p.Waiting(); got != 0 {
		t.Errorf("Waiting() = %d, want 0", got)
	}
}

func TestQueueFreeBackendAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, queueSettings(1), testMembers(1)...)
		b := p.Primaries()[0]
		start := time.Now()
		got, err := p.Queue(t.Context(), limitedPick(b))
		if got != b || err != nil || time.Since(start) != 0 {
			t.Errorf("free backend: Queue() = %v, %v after %v; want %v, nil at once", got, err, time.Since(start), b)
		}
		b.release(0, nil)
	})
}

func TestQueueWaitersServedInTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, queueSettings(2), testMembers(1)...)
		b := p.Primaries()[0]
		release := b.Acquire()
		type result struct {
			b   *Backend
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				got, err := p.Queue(t.Context(), limitedPick(b))
				results <- result{got, err}
			}()
		}
		synctest.Wait()
		if got := p.Waiting(); got != 2 {
			t.Fatalf("two requests queued: Waiting() = %d, want 2", got)
		}
		// A third one finds the queue full.
		if _, err := p.Queue(t.Context(), limitedPick(b)); !errors.Is(err, ErrQueueFull) {
			t.Errorf("more waiters than max_pending: Queue() error = %v, want %v", err, ErrQueueFull)
		}
		time.Sleep(100 * time.Millisecond)
		release(time.Millisecond, nil)
		for i := range 2 {
			synctest.Wait()
			select {
			case r := <-results:
				if r.b != b || r.err != nil {
					t.Errorf("waiter %d: Queue() = %v, %v; want %v, nil", i, r.b, r.err, b)
				}
			default:
				t.Fatalf("a slot freed: no waiter got it")
			}
			if got, want := p.Waiting(), 1-i; got != want {
				t.Errorf("after %d served: Waiting() = %d, want %d", i+1, got, want)
			}
			select {
			case r := <-results:
				t.Fatalf("one slot freed, but two waiters were served (%v)", r)
			default:
			}
			b.release(time.Millisecond, nil)
		}
	})
}

func TestQueueTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, queueSettings(1), testMembers(1)...)
		b := p.Primaries()[0]
		release := b.Acquire()
		defer release(0, nil)
		start := time.Now()
		if got, err := p.Queue(t.Context(), limitedPick(b)); got != nil || !errors.Is(err, ErrQueueTimeout) {
			t.Errorf("no slot frees: Queue() = %v, %v; want nil, %v", got, err, ErrQueueTimeout)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("Queue() timed out after %v, want %v", got, time.Second)
		}
		if got := p.Waiting(); got != 0 {
			t.Errorf("after the timeout: Waiting() = %d, want 0", got)
		}
	})
}

func TestQueueWakeNotFree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A release of another backend wakes the waiter, which finds its
		// backend still busy and waits on until the timeout.
		p, _ := newTestPool(t, queueSettings(1), testMembers(2)...)
		b, other := p.Primaries()[0], p.Primaries()[1]
		release := b.Acquire()
		defer release(0, nil)
		go func() {
			time.Sleep(300 * time.Millisecond)
			exchange(other, nil)
		}()
		start := time.Now()
		if _, err := p.Queue(t.Context(), limitedPick(b)); !errors.Is(err, ErrQueueTimeout) {
			t.Errorf("Queue() error = %v, want %v", err, ErrQueueTimeout)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("Queue() timed out after %v, want %v", got, time.Second)
		}
	})
}

func TestQueueContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newTestPool(t, queueSettings(1), testMembers(1)...)
		b := p.Primaries()[0]
		release := b.Acquire()
		defer release(0, nil)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		if _, err := p.Queue(ctx, limitedPick(b)); !errors.Is(err, context.Canceled) {
			t.Errorf("context canceled: Queue() error = %v, want %v", err, context.Canceled)
		}
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Errorf("Queue() returned after %v, want 200ms", got)
		}
		ctx, cancel = context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		if _, err := p.Queue(ctx, limitedPick(b)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("context deadline: Queue() error = %v, want %v", err, context.DeadlineExceeded)
		}
		if got := p.Waiting(); got != 0 {
			t.Errorf("Waiting() = %d, want 0", got)
		}
	})
}
