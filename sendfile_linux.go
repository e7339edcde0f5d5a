package wsio

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/wsio/wsio/binstream"
)

// sendFileTo sends the next n bytes of f to the TCP connection with
// sendfile(2), the kernel copying from the page cache to the socket, and
// moves f's offset past them. The socket's poller waits when it is full,
// so write deadlines (and the contexts that set them) apply.
func sendFileTo(tc *net.TCPConn, f binstream.File, n int64) (int64, error) {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	src, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	dst, err := tc.SyscallConn()
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

// writeHeaderMore writes a frame header that the caller follows at once
// with a payload from sendFileTo, flagged MSG_MORE: the kernel holds the
// few bytes back and sends them in one segment with the payload's first
// bytes, rather than as a tiny segment of their own for each fragment.
// It returns how many bytes of hdr went out.
func writeHeaderMore(tc *net.TCPConn, hdr []byte) (int, error) {
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
