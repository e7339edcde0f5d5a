//go:build unix && (!linux || race)

package sock

import "syscall"

// recv reads what has arrived on fd into p, or with flags MSG_PEEK copies
// it without consuming it, in one system call. On an error, n is not a
// count.
func recv(fd uintptr, p []byte, flags uintptr) (n int, errno syscall.Errno) {
	var err error
	if flags == syscall.MSG_PEEK {
		n, _, err = syscall.Recvfrom(int(fd), p, syscall.MSG_PEEK)
	} else {
		n, err = syscall.Read(int(fd), p)
	}
	if err == nil {
		return n, 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return 0, e
	}
	return 0, syscall.EIO // not expected: the calls above fail with an Errno
}
