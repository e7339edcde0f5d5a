//go:build unix

package wsio_test

import (
	"syscall"
	"time"
)

// cpuNow returns the CPU time (user + system) the process has used so far,
// and whether it could be measured.
func cpuNow() (time.Duration, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
