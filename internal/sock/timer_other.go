//go:build !linux

package sock

import "time"

// Timer runs its function once, on a goroutine of its own, when its time
// comes: here the runtime's timer (time.AfterFunc) does it. (On Linux the
// process's Timers share one kernel timer instead.)
type Timer struct{ rt *time.Timer }

// AfterFunc returns a Timer that runs f after d.
func AfterFunc(d time.Duration, f func()) *Timer { return &Timer{rt: time.AfterFunc(d, f)} }

// NewTimer returns a Timer that runs f once Reset has set it going.
func NewTimer(f func()) *Timer {
	t := &Timer{rt: time.AfterFunc(time.Hour, f)}
	t.rt.Stop()
	return t
}

// Reset makes t run its function d from now, reporting whether it was
// pending.
func (t *Timer) Reset(d time.Duration) bool { return t.rt.Reset(d) }

// Stop keeps t from running its function, reporting whether it was
// pending.
func (t *Timer) Stop() bool { return t.rt.Stop() }
