//go:build unix

package wsio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// tryRead reads from r once without waiting, when r is a TCP socket: ok
// is true when there was something to report (bytes, the end of the
// stream as io.EOF, an error, or a socket closed or past its deadline),
// false when nothing had arrived yet or r cannot be read that way. The
// caller then reads nc as usual, under a deadline; tryRead lets a
// handshake whose bytes are already there skip setting one.
func tryRead(r io.Reader, p []byte) (n int, ok bool, err error) {
	return tryIO(r, p, false)
}

// tryWrite writes p to nc once without waiting, when nc is a TCP socket:
// n bytes went out (0 when the socket could take none, or when nc cannot
// be written that way); the caller writes the rest as usual. A socket
// that is closed or past its deadline is an error.
func tryWrite(nc net.Conn, p []byte) (n int, err error) {
	n, _, err = tryIO(nc, p, true)
	return n, err
}

func tryIO(rw any, p []byte, write bool) (int, bool, error) {
	tc, isTCP := rw.(*net.TCPConn)
	if !isTCP || len(p) == 0 {
		return 0, false, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var n int
	var serr error
	f := func(fd uintptr) bool {
		for {
			if write {
				n, serr = syscall.Write(int(fd), p)
			} else {
				n, serr = syscall.Read(int(fd), p)
			}
			if serr != syscall.EINTR {
				return true // done either way: never wait here
			}
		}
	}
	if write {
		err = rc.Write(f)
	} else {
		err = rc.Read(f)
	}
	op := "read"
	if write {
		op = "write"
	}
	switch {
	case err != nil:
		// Closed, or past a deadline (which Server.Close sets to cut a
		// handshake off): report it, as nc.Read would, rather than let
		// the caller arm a fresh deadline and wait.
		return 0, true, &net.OpError{Op: op, Net: "tcp", Source: tc.LocalAddr(), Addr: tc.RemoteAddr(), Err: err}
	case serr == syscall.EAGAIN:
		return 0, false, nil // nothing to do yet: the usual path waits
	case serr != nil:
		return 0, true, &net.OpError{Op: op, Net: "tcp", Source: tc.LocalAddr(), Addr: tc.RemoteAddr(), Err: os.NewSyscallError(op, serr)}
	case n == 0 && !write:
		return 0, true, io.EOF
	}
	return n, true, nil
}
