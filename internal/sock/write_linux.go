//go:build linux

package sock

import (
	"syscall"
	"unsafe"
)

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
			s.werrno = e
			return true
		case r == 0:
			s.werrno = syscall.EIO // no progress on a non-empty write: not expected
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
