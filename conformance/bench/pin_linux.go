package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// pinToCPU restricts every thread of this process to CPU n. Each thread
// listed in /proc/self/task is set (sched_setaffinity); a thread started
// later inherits the mask of the thread that starts it. A thread started
// by one not yet pinned while the list is walked shows up in the next
// walk, so walks repeat until one finds no thread it had not seen.
func pinToCPU(n int) error {
	var mask [16]uint64 // room for 1024 CPUs
	if n < 0 || n >= len(mask)*64 {
		return fmt.Errorf("no CPU %d", n)
	}
	mask[n/64] = 1 << (n % 64)
	seen := map[int]bool{}
	for walk := 0; walk < 10; walk++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || seen[tid] {
				continue
			}
			seen[tid], fresh = true, true
			_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
			if errno != 0 && errno != syscall.ESRCH { // ESRCH: the thread has exited
				return errno
			}
		}
		if !fresh {
			return nil
		}
	}
	return fmt.Errorf("threads kept starting while pinning")
}
