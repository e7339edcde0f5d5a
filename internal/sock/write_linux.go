//go:build linux

package sock

import (
	"errors"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Writev reports whether Write is supported: here, on Linux, where its
// writev is made from the RawConn's callback. Elsewhere a connection
// writes through net.Conn.
const Writev = true

// bindWrite binds writeAttempt for Write, as Bind does attempt.
func (s *Socket) bindWrite() { s.wfn = s.writeAttempt }

// Write writes hdr and then p, all of them unless it fails, waiting while
// the socket's send buffer is full, as net.Conn's Write does with their
// concatenation, and with its errors: a passed write deadline or a closed
// socket is the net package's error (matching os.ErrDeadlineExceeded or
// net.ErrClosed), a failed write a *net.OpError. n counts the bytes of
// both that went out. Each system call hands the kernel both parts
// (writev), so a frame's header and payload go out together without being
// copied into one buffer; the callback that makes it runs straight under
// the RawConn, which keeps a writing goroutine's stack shallower than the
// net package's path does.
func (s *Socket) Write(hdr, p []byte) (n int, err error) {
	if s.rc == nil {
		if err := s.Bind(); err != nil {
			return 0, err
		}
	}
	s.wv[0], s.wv[1], s.wn, s.werrno = hdr, p, 0, 0
	err = s.rc.Write(s.wfn)
	n, errno := s.wn, syscall.Errno(s.werrno)
	s.wv[0], s.wv[1] = nil, nil
	switch {
	case err != nil:
		return n, s.writeFailed(err)
	case errno != 0:
		return n, s.writeFailed(os.NewSyscallError("write", errno))
	}
	return n, nil
}

// writeFailed is Write's error for err, as net.Conn's Write reports it.
// The RawConn's own errors (deadline, closed) come as a "raw-write"
// *net.OpError, whose cause is taken.
func (s *Socket) writeFailed(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	la := s.nc.LocalAddr()
	return &net.OpError{Op: "write", Net: la.Network(), Source: la, Addr: s.nc.RemoteAddr(), Err: err}
}

// writeAttempt is called by RawConn.Write with the descriptor: it writes
// what is left of s.wv with writev until all of it has gone, the send
// buffer is full (it asks to wait) or the call fails (it records the
// error).
func (s *Socket) writeAttempt(fd uintptr) bool {
	for {
		h, p := s.wv[0], s.wv[1]
		if len(h)+len(p) == 0 {
			return true
		}
		var iov [2]syscall.Iovec
		k := 0
		if len(h) > 0 {
			iov[0].Base = &h[0]
			iov[0].SetLen(len(h))
			k = 1
		}
		if len(p) > 0 {
			iov[k].Base = &p[0]
			iov[k].SetLen(len(p))
			k++
		}
		r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
		switch {
		case e == syscall.EAGAIN:
			return false
		case e == syscall.EINTR:
			continue
		case e != 0:
			s.werrno = int32(e)
			return true
		case r == 0:
			s.werrno = int32(syscall.EIO) // no progress on a non-empty write: not expected
			return true
		}
		n := int(r)
		s.wn += n
		if n < len(h) {
			s.wv[0] = h[n:]
			continue
		}
		s.wv[0], s.wv[1] = nil, p[n-len(h):]
	}
}
