//go:build !js

package wsio

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// sem is a lock that a waiter can give up on: taking it when it is free
// is one compare-and-swap, and only contention makes a channel (once per
// lock) to wait on beside a context, the connection's end or a timer.
//
// An unlock wakes one waiter through the channel's single buffered token;
// a woken waiter that loses the race to a newcomer waits again, and the
// newcomer's unlock sends the next token. A token nobody takes stays in
// the buffer and costs a later waiter one extra try, never a lost wakeup:
// a waiter counts itself before it tries, and an unlock clears the state
// before it looks at the count.
//
// An unlock does not hand the lock to the waiter it wakes: a goroutine
// that locks again at once can win, as with sync.Mutex outside its
// starvation mode. TestWriteLockNotStarved bounds the longest wait of a
// control frame behind two busy senders.
type sem struct {
	held    atomic.Int32
	waiters atomic.Int32
	wake    atomic.Pointer[chan struct{}]
}

// tryLock takes the lock if it is free.
func (s *sem) tryLock() bool { return s.held.CompareAndSwap(0, 1) }

// unlock releases the lock and wakes a waiter, if any.
func (s *sem) unlock() {
	s.held.Store(0)
	if s.waiters.Load() > 0 {
		select {
		case s.wakeChan() <- struct{}{}:
		default:
		}
	}
}

func (s *sem) wakeChan() chan struct{} {
	if p := s.wake.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{}, 1)
	if s.wake.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *s.wake.Load()
}

// lock takes the lock, or returns ctx's error, or errDone when done is
// closed first. A ctx that is already done returns ctx.Err() without
// taking the lock, even when it is free.
func (s *sem) lock(ctx context.Context, done <-chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.tryLock() {
		return nil
	}
	switch s.lockSlow(ctx.Done(), done, nil, nil) {
	case gotCtx:
		return ctx.Err()
	case gotDone:
		return errDone
	}
	return nil
}

// lockAlways takes the lock, however long it waits.
func (s *sem) lockAlways() {
	if !s.tryLock() {
		s.lockSlow(nil, nil, nil, nil)
	}
}

// errDone tells lock's callers that the connection ended first; they
// replace it with the connection's close error.
var errDone = errors.New("connection done")

// What ended lockSlow's wait.
const (
	gotLock = iota
	gotCtx
	gotDone
	gotOther
	gotTimer
)

// lockSlow waits for the lock or for one of the channels (nil ones never
// fire) and says which came first.
func (s *sem) lockSlow(ctxDone, done, other <-chan struct{}, timer <-chan time.Time) int {
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	wake := s.wakeChan()
	for {
		if s.tryLock() {
			return gotLock
		}
		select {
		case <-wake:
		case <-ctxDone:
			return gotCtx
		case <-done:
			return gotDone
		case <-other:
			return gotOther
		case <-timer:
			return gotTimer
		}
	}
}
