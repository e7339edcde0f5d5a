//go:build unix

package wsio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawSource reads a socket through its raw descriptor, so a reader can
// wait for data before it takes a buffer.
type rawSource struct {
	rc  syscall.RawConn
	la  net.Addr
	fn  func(fd uintptr) bool // rawSource.attempt, bound once
	buf *[]byte               // attempt's or peekAttempt's result
	n   int
	err error
	// peekFn is rawSource.peekAttempt, bound on first use: only a
	// connection whose sender looks at the socket (see pollPeer) needs it.
	peekFn func(fd uintptr) bool
}

// newRawSource returns a rawSource for TCP and Unix sockets, or nil.
func newRawSource(src io.Reader) *rawSource {
	var sc syscall.Conn
	switch c := src.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	rs := &rawSource{rc: rc, la: src.(net.Conn).LocalAddr()}
	rs.fn = rs.attempt
	return rs
}

// attempt is called by RawConn.Read with the descriptor: it reads into a
// pooled buffer, or gives the buffer back and asks to wait when there is
// nothing to read yet.
func (rs *rawSource) attempt(fd uintptr) bool {
	b := readPool.Get().(*[]byte)
	var n int
	var err error
	for {
		n, err = syscall.Read(int(fd), *b)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		readPool.Put(b)
		return false
	}
	rs.buf, rs.n, rs.err = b, max(n, 0), err
	return true
}

// read waits for data and reads it. It returns the pooled buffer holding
// n bytes, or a nil buffer and the error; a buffer can come with an error
// only when n is 0 (end of stream), which is reported as io.EOF.
func (rs *rawSource) read() (*[]byte, int, error) {
	rs.buf, rs.n, rs.err = nil, 0, nil
	if err := rs.rc.Read(rs.fn); err != nil {
		// Deadlines and closed connections: the net package's errors,
		// which match os.ErrDeadlineExceeded and net.ErrClosed.
		return nil, 0, err
	}
	b, n, err := rs.buf, rs.n, rs.err
	rs.buf = nil
	if err != nil {
		readPool.Put(b)
		return nil, 0, &net.OpError{Op: "read", Net: rs.la.Network(), Addr: rs.la, Err: os.NewSyscallError("read", err)}
	}
	if n == 0 {
		readPool.Put(b)
		return nil, 0, io.EOF
	}
	return b, n, nil
}

// peekAttempt is called by RawConn.Read with the descriptor: it copies
// what has arrived, up to peekMax bytes, into a pooled buffer without
// consuming it, and never asks to wait.
func (rs *rawSource) peekAttempt(fd uintptr) bool {
	b := readPool.Get().(*[]byte)
	var n int
	var err error
	for {
		n, _, err = syscall.Recvfrom(int(fd), (*b)[:peekMax], syscall.MSG_PEEK)
		if err != syscall.EINTR {
			break
		}
	}
	rs.buf, rs.n, rs.err = b, max(n, 0), err
	return true
}

// peek returns, without waiting or consuming anything, the first bytes
// that have arrived (up to peekMax) in a pooled buffer the caller gives
// back to readPool. It returns a nil buffer when none have arrived (nil
// error), when the stream ended (io.EOF), or with the error that keeps
// the socket from being read (closed, past its read deadline, reset).
func (rs *rawSource) peek() (*[]byte, int, error) {
	if rs.peekFn == nil {
		rs.peekFn = rs.peekAttempt
	}
	rs.buf, rs.n, rs.err = nil, 0, nil
	if err := rs.rc.Read(rs.peekFn); err != nil {
		return nil, 0, err
	}
	b, n, err := rs.buf, rs.n, rs.err
	rs.buf = nil
	switch {
	case err == syscall.EAGAIN:
		err = nil
	case err != nil:
		err = &net.OpError{Op: "read", Net: rs.la.Network(), Addr: rs.la, Err: os.NewSyscallError("recvfrom", err)}
	case n == 0:
		err = io.EOF
	}
	if n == 0 || err != nil {
		readPool.Put(b)
		return nil, 0, err
	}
	return b, n, nil
}
