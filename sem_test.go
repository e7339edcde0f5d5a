//go:build !js

package wsio

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestSemExclusion has goroutines take the lock in every way it can be
// taken, some giving up on a short context, and checks that no two hold
// it at once and that nobody is left waiting (a lost wakeup would hang
// the test until its deadline).
func TestSemExclusion(t *testing.T) {
	t.Parallel()
	var s sem
	done := make(chan struct{})
	var inside, total int
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				switch (g + i) % 4 {
				case 0:
					s.lockAlways()
				case 1:
					if !s.tryLock() {
						continue
					}
				case 2:
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*time.Microsecond)
					err := s.lock(ctx, done)
					cancel()
					if err != nil {
						if !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("lock: %v", err)
						}
						continue
					}
				case 3:
					if err := s.lock(context.Background(), done); err != nil {
						t.Errorf("lock: %v", err)
						return
					}
				}
				inside++
				if inside != 1 {
					t.Errorf("%d holders at once", inside)
				}
				total++
				inside--
				s.unlock()
			}
		}()
	}
	wg.Wait()
	if total == 0 {
		t.Fatal("nobody took the lock")
	}
	if s.waiters.Load() != 0 || !s.tryLock() {
		t.Fatalf("after the run: %d waiters, lock free = false", s.waiters.Load())
	}
}

// TestSemGivesUp checks each way a wait ends without the lock.
func TestSemGivesUp(t *testing.T) {
	t.Parallel()
	var s sem
	s.lockAlways()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.lock(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
	done := make(chan struct{})
	close(done)
	if err := s.lock(context.Background(), done); err != errDone {
		t.Errorf("done: %v", err)
	}
	other := make(chan struct{})
	close(other)
	if got := s.lockSlow(nil, nil, other, nil); got != gotOther {
		t.Errorf("other: %d", got)
	}
	if got := s.lockSlow(nil, nil, nil, time.After(time.Millisecond)); got != gotTimer {
		t.Errorf("timer: %d", got)
	}
	// A waiter that gave up leaves no count behind, and the next one is
	// woken by the unlock.
	got := make(chan error, 1)
	go func() { got <- s.lock(context.Background(), nil) }()
	for s.waiters.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter not woken by unlock")
	}
}

func BenchmarkSemUncontended(b *testing.B) {
	var s sem
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = s.lock(ctx, nil)
		s.unlock()
	}
}
