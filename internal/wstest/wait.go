package wstest

import (
	"context"
	"testing"
	"time"
)

// Timeout bounds each wait of the tests that use the kit: long enough for
// a loaded machine (the race detector, parallel tests, other test
// binaries on two cores), short enough that a hang fails within seconds.
const Timeout = 5 * time.Second

// pollInterval is how often Poll looks again.
const pollInterval = 5 * time.Millisecond

// Context returns a context that ends after Timeout or when the test ends,
// whichever comes first.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(tb.Context(), Timeout)
	tb.Cleanup(cancel)
	return ctx
}

// Poll calls cond every few milliseconds until it returns true or d has
// passed, and reports whether it returned true. It is for a condition no
// channel announces (a count, a socket's state); a test that can wait on
// a channel waits on it instead.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
	return true
}

// WaitUntil polls cond until it holds; when it does not within Timeout,
// the test fails with "timed out waiting until " and what.
func WaitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if !Poll(Timeout, cond) {
		tb.Fatalf("timed out waiting until %s", what)
	}
}

// Receive returns the next value from ch; when none comes within Timeout,
// the test fails with "timed out waiting for " and what.
func Receive[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		tb.Fatalf("timed out waiting for %s", what)
		var zero T // not reached: Fatalf ends the test's goroutine
		return zero
	}
}
