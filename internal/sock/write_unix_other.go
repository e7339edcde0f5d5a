//go:build unix && !linux

package sock

import "syscall"

// writeAttempt is called by RawConn.Write with the descriptor: it writes
// what is left of s.wv, a part at a time, until all of it has gone, the
// send buffer is full (it asks to wait) or the call fails (it records the
// error).
func (s *Socket) writeAttempt(fd uintptr) bool {
	for i := range s.wv {
		for len(s.wv[i]) > 0 {
			n, err := syscall.Write(int(fd), s.wv[i])
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
				continue
			case err != nil:
				s.werrno = syscall.EIO
				if e, ok := err.(syscall.Errno); ok {
					s.werrno = e
				}
				return true
			case n == 0:
				s.werrno = syscall.EIO // no progress on a non-empty write: not expected
				return true
			}
			s.wn += n
			s.wv[i] = s.wv[i][n:]
		}
	}
	return true
}
