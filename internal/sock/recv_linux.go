//go:build linux && !race

package sock

import (
	"syscall"
	"unsafe"
)

// recv reads what has arrived on fd into p, or with flags MSG_PEEK copies
// it without consuming it, in one system call made directly: the syscall
// package's wrappers would add two frames under the read callback (see
// attempt), for the race detector's bookkeeping, which this build does
// without. It makes no call that can grow the stack, so it is marked
// nosplit. On an error, the count is not one.
//
//go:nosplit
func recv(fd uintptr, p []byte, flags uintptr) (int, syscall.Errno) {
	r, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), flags, 0, 0)
	return int(r), e
}
