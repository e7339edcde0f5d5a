package sock

import (
	"io"
	"syscall"
)

// Waker is what the poller wakes when a descriptor registered with
// Socket.Arm becomes readable (or its peer hangs up).
type Waker interface {
	// Wake is called once per Arm, on the poller's goroutine, with no
	// lock of this package held. It must not block.
	Wake()
}

// File is what SendFile needs of a file: its descriptor and its offset.
// An *os.File has it.
type File interface {
	io.Seeker
	SyscallConn() (syscall.RawConn, error)
}
