package sock

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// CanSendFile reports whether SendFile and WriteMore can be used: on a
// TCP socket, on Linux.
func (s *Socket) CanSendFile() bool { return s != nil && s.tcp }

// SendFile sends the next n bytes of f, from its current offset, with
// sendfile(2) (the kernel copies them from the page cache to the socket),
// and moves f's offset past what was sent. The socket's poller waits
// while the socket is full, so write deadlines apply. It returns how many
// bytes were sent; fewer than n comes with an error. It is the writer's,
// and needs CanSendFile.
func (s *Socket) SendFile(f File, n int64) (int64, error) {
	if !s.CanSendFile() {
		return 0, errors.ErrUnsupported
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	dst, err := s.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var sent int64
	var opErr error
	cerr := src.Control(func(sfd uintptr) {
		werr := dst.Write(func(dfd uintptr) bool {
			for sent < n {
				k, err := syscall.Sendfile(int(dfd), int(sfd), &off, int(min(n-sent, 1<<30)))
				if k > 0 {
					sent += int64(k)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket can take more
				case err == syscall.EINTR:
				case err != nil:
					opErr = err
					return true
				case k == 0:
					opErr = io.ErrUnexpectedEOF // the file is shorter than it was
					return true
				}
			}
			return true
		})
		if opErr == nil {
			opErr = werr
		}
	})
	if _, err := f.Seek(off, io.SeekStart); err != nil && opErr == nil {
		opErr = err
	}
	if opErr == nil {
		opErr = cerr
	}
	if opErr == nil && sent < n {
		opErr = errors.New("sendfile sent less than asked")
	}
	return sent, opErr
}

// WriteMore writes hdr, a header the caller follows at once with
// SendFile. When more is set it is flagged MSG_MORE: the kernel holds the
// few bytes back and sends them in one segment with the first bytes that
// follow, rather than in a tiny segment of their own; when nothing
// follows (an empty payload) it is written as it is. It returns how many
// bytes of hdr went out. It is the writer's, and needs CanSendFile.
func (s *Socket) WriteMore(hdr []byte, more bool) (int, error) {
	if !s.CanSendFile() {
		return 0, errors.ErrUnsupported
	}
	tc := s.nc.(*net.TCPConn)
	if !more {
		return tc.Write(hdr)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var opErr error
	n := 0
	werr := rc.Write(func(fd uintptr) bool {
		for n < len(hdr) {
			k, err := syscall.SendmsgN(int(fd), hdr[n:], nil, nil, syscall.MSG_MORE)
			if k > 0 {
				n += k
			}
			switch {
			case err == syscall.EAGAIN:
				return false
			case err == syscall.EINTR:
			case err != nil:
				opErr = err
				return true
			}
		}
		return true
	})
	if opErr == nil {
		opErr = werr
	}
	return n, opErr
}
