package sock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// A Pipe is a kernel pipe that Relay moves a socket's bytes through on
// their way to another socket. It holds what a failed Relay took from the
// source but could not hand on; such a Pipe is spoiled and must only be
// closed. The caller owns it and closes it with Close.
type Pipe struct {
	r, w int // the read and write ends, both non-blocking
	data int // bytes in the pipe
}

// NewPipe makes a Pipe for Relay.
func NewPipe() (*Pipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// A pipe as large as a splice asks for halves the system calls per
	// byte; where the user's pipe allowance refuses it, the default size
	// works as well, in smaller steps.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), syscall.F_SETPIPE_SZ, relayChunk)
	return &Pipe{r: fds[0], w: fds[1]}, nil
}

// Close closes both ends of the pipe. A nil Pipe is left alone.
func (p *Pipe) Close() {
	if p == nil {
		return
	}
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

// CanRelay reports whether Relay can be used with s on either side: s is
// a TCP socket, on Linux.
func (s *Socket) CanRelay() bool { return s != nil && s.tcp }

// relayChunk is the most Relay asks the kernel to move in one splice.
const relayChunk = 1 << 20

// Relay moves the next n bytes of src to s inside the kernel: splice(2)
// from src into p, then from p into s, until n bytes went out. The
// sockets' poller waits while src has nothing to read (src's read
// deadline applies) and while s is full (s's write deadline applies). It
// never takes more than n bytes from src.
//
// moved is how many bytes reached s, taken how many left src; they differ
// only after s failed (the rest is in p, which is then spoiled). Fewer
// than n bytes moved comes with exactly one error: srcErr when src ended
// (io.EOF) or could not be read, dstErr when s could not be written. A
// passed deadline or a closed socket is reported as by Read (matching
// os.ErrDeadlineExceeded or net.ErrClosed), inside a *net.OpError.
//
// It is src's reader's and s's writer's: the caller holds both sides.
// Both sockets need CanRelay.
func (s *Socket) Relay(src *Socket, p *Pipe, n int64) (moved, taken int64, srcErr, dstErr error) {
	if !s.CanRelay() || !src.CanRelay() || p == nil || p.data != 0 {
		return 0, 0, nil, errors.ErrUnsupported
	}
	in, err := src.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, 0, err, nil
	}
	out, err := s.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, 0, nil, err
	}
	var opErr error
	drain := func(fd uintptr) bool {
		for {
			k, err := syscall.Splice(int(fd), nil, p.w, nil, int(min(n-taken, relayChunk)), spliceFlags)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // wait until src has bytes
			case err != nil:
				opErr = src.readError("splice", errorsErrno(err))
			case k == 0:
				opErr = io.EOF
			default:
				p.data += int(k)
				taken += k
			}
			return true
		}
	}
	pump := func(fd uintptr) bool {
		for p.data > 0 {
			k, err := syscall.Splice(p.r, nil, int(fd), nil, p.data, spliceFlags)
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				return false // wait until s can take more
			case err != nil:
				opErr = s.writeError(errorsErrno(err))
				return true
			default:
				p.data -= int(k)
				moved += k
			}
		}
		return true
	}
	for moved < n {
		opErr = nil
		if err := in.Read(drain); err != nil {
			return moved, taken, err, nil // already a *net.OpError
		}
		if opErr != nil {
			return moved, taken, opErr, nil
		}
		if err := out.Write(pump); err != nil {
			return moved, taken, nil, err
		}
		if opErr != nil {
			return moved, taken, nil, opErr
		}
	}
	return moved, taken, nil, nil
}

// spliceFlags: move pages rather than copy them where the kernel can, and
// never block inside the call (the poller waits instead).
const spliceFlags = 0x1 | 0x2 // SPLICE_F_MOVE | SPLICE_F_NONBLOCK

// errorsErrno returns err as an Errno; system calls fail with one.
func errorsErrno(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

// writeError is the error for a failed splice into s, as the net package
// reports a failed write.
func (s *Socket) writeError(errno syscall.Errno) error {
	return &net.OpError{Op: "write", Net: "tcp", Source: s.nc.LocalAddr(), Addr: s.nc.RemoteAddr(), Err: os.NewSyscallError("splice", errno)}
}
