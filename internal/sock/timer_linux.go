//go:build linux

package sock

import (
	"container/heap"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// timerState is the process's timers: one timerfd, set for the earliest
// of them, which a goroutine (loop) waits on through the runtime's poller
// while any timer is pending. mu guards every field and every Timer's
// when and i.
type timerState struct {
	mu      sync.Mutex
	pending timerHeap
	fd      *os.File // the timerfd, made on first use
	rc      syscall.RawConn
	failed  bool  // no timerfd could be made: Timers use the runtime's
	set     int64 // the look-clock time the timerfd is set for; 0 when it is not set
	looping bool  // a loop goroutine is running (or starting)
}

var timers timerState

// clockStart is the origin of the look clock the timers keep their times
// on (monotonic).
var clockStart = time.Now()

func lookClock() int64 { return int64(time.Since(clockStart)) }

// Timer runs its function once, on a goroutine of its own, when its time
// comes, as time.AfterFunc's timer does. On Linux the pending Timers of
// the process share one kernel timer (a timerfd) that the runtime's
// poller waits on, so a pending Timer puts nothing in the runtime's timer
// heap: while one is there, the scheduler bounds every wait it makes when
// it runs out of goroutines with a timeout, which costs each wake-up of an
// otherwise idle process a kernel timer. It suits timers that are rarely
// due, such as a keepalive's.
type Timer struct {
	f    func()
	when int64       // the look-clock time it is due, while pending
	i    int         // its index in timers.pending; -1 when not pending
	rt   *time.Timer // the runtime's timer, when no timerfd could be made
}

// AfterFunc returns a Timer that runs f after d.
func AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{f: f, i: -1}
	t.Reset(d)
	return t
}

// NewTimer returns a Timer that runs f once Reset has set it going.
func NewTimer(f func()) *Timer { return &Timer{f: f, i: -1} }

// Reset makes t run its function d from now, reporting whether it was
// pending.
func (t *Timer) Reset(d time.Duration) bool {
	ts := &timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch {
	case t.rt != nil:
		return t.rt.Reset(d)
	case !ts.openLocked():
		t.rt = time.AfterFunc(d, t.f)
		return false
	}
	was := t.i >= 0
	t.when = lookClock() + int64(max(d, 1))
	if was {
		heap.Fix(&ts.pending, t.i)
	} else {
		heap.Push(&ts.pending, t)
	}
	if ts.pending[0] == t && (ts.set == 0 || t.when < ts.set) {
		ts.setLocked(t.when)
	}
	if !ts.looping {
		ts.looping = true
		go ts.loop()
	}
	return was
}

// Stop keeps t from running its function, reporting whether it was
// pending.
func (t *Timer) Stop() bool {
	ts := &timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t.rt != nil {
		return t.rt.Stop()
	}
	if t.i < 0 {
		return false
	}
	heap.Remove(&ts.pending, t.i)
	if len(ts.pending) == 0 {
		// Wake the loop so that it ends, rather than wait for a time
		// when nothing is due.
		ts.setLocked(lookClock())
	}
	return true
}

// openLocked makes the timerfd on first use, reporting whether there is
// one.
func (ts *timerState) openLocked() bool {
	if ts.fd != nil || ts.failed {
		return ts.fd != nil
	}
	fd, _, e := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, uintptr(clockMonotonic), uintptr(syscall.O_NONBLOCK|syscall.O_CLOEXEC), 0)
	if e != 0 {
		ts.failed = true
		return false
	}
	f := os.NewFile(fd, "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		ts.failed = true
		return false
	}
	ts.fd, ts.rc = f, rc
	return true
}

// clockMonotonic is CLOCK_MONOTONIC, the clock the timerfd counts on.
const clockMonotonic = 1

// setLocked sets the timerfd to expire at the look-clock time when, or at
// once when that has passed.
func (ts *timerState) setLocked(when int64) {
	d := max(when-lookClock(), 1)
	spec := struct{ interval, value syscall.Timespec }{value: syscall.NsecToTimespec(d)}
	_ = ts.rc.Control(func(fd uintptr) {
		_, _, _ = syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	})
	ts.set = when
}

// loop waits for the timerfd and runs the Timers that are due, until none
// is pending.
func (ts *timerState) loop() {
	var buf [8]byte
	expired := func(fd uintptr) bool {
		_, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		return e != syscall.EAGAIN
	}
	var due []func()
	for {
		if err := ts.rc.Read(expired); err != nil {
			ts.mu.Lock()
			ts.looping = false // not expected: the timerfd is never closed
			ts.mu.Unlock()
			return
		}
		ts.mu.Lock()
		ts.set = 0
		now := lookClock()
		for len(ts.pending) > 0 && ts.pending[0].when <= now {
			due = append(due, heap.Pop(&ts.pending).(*Timer).f)
		}
		if len(ts.pending) == 0 {
			ts.looping = false
			ts.mu.Unlock()
			for _, f := range due {
				go f()
			}
			return
		}
		ts.setLocked(ts.pending[0].when)
		ts.mu.Unlock()
		for i, f := range due {
			go f()
			due[i] = nil
		}
		due = due[:0]
	}
}

// timerHeap orders pending Timers by when, keeping each one's index.
type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.i = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.i = -1
	return t
}
