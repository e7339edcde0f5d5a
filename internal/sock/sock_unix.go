//go:build unix

package sock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// A Socket is a TCP or Unix socket's descriptor, as the connection on it
// uses it. Read and Peek keep their state in the Socket between the call
// and the descriptor callback, so one goroutine at a time may call them
// (the connection's reader). The other methods keep none: they may be
// called from any goroutine, also while a Read waits; the bytes written
// by TryWrite, WriteMore and SendFile are ordered by their callers, as on
// a net.Conn.
//
// Write keeps its state there too, apart from the reader's: one goroutine
// at a time may call it (the connection's writer). The other writer's
// calls and the poller's reach the descriptor through the concrete
// connection each time (see control), so the callbacks they hand it stay
// on their callers' stacks; Read, Peek and Write share one RawConn, made
// by Bind.
type Socket struct {
	nc net.Conn // *net.TCPConn or *net.UnixConn

	// The reader's: the descriptor, and attempt's mode, input and results.
	rc    syscall.RawConn       // nc's, made on the first Read or Peek
	fn    func(fd uintptr) bool // s.attempt, bound with rc
	buf   *[]byte               // the buffer attempt reads into, or nil (see attempt)
	dst   *byte                 // ReadInto's destination, n bytes long, or nil
	errno syscall.Errno         // attempt's system call error, or 0
	n     int32                 // Peek's and ReadInto's limit going in; the bytes attempt got coming out
	peek  bool                  // attempt peeks (Peek) rather than reads (Read)
	done  bool                  // attempt made its system call
	wait  bool                  // ReadInto waits for bytes when none have arrived

	tcp bool // nc is a *net.TCPConn

	// The writer's (Write): the callback, what is left to write and the
	// results; one writer at a time.
	wfn    func(fd uintptr) bool // s.writeAttempt, bound with rc
	wv     [2][]byte             // the bytes not yet written, in order
	wn     int                   // the bytes written so far
	werrno int32                 // writeAttempt's system call error (a syscall.Errno), or 0

	// reg is the Socket's entry in the poller; its fields belong to the
	// poller (see poller_linux.go).
	reg registration
}

// Of returns the socket under c when c is a plain TCP or Unix connection
// (*net.TCPConn or *net.UnixConn), and nil for any other stream: TLS,
// pipes, HTTP/2 streams, wrappers. The connection asks once, when it is
// made, and keeps the result. Of makes no system call, and a Socket used
// only where it is made (a handshake's TryRead) need not be allocated.
func Of(c io.Reader) *Socket {
	switch c := c.(type) {
	case *net.TCPConn:
		return &Socket{nc: c, tcp: true, reg: registration{fd: -1}}
	case *net.UnixConn:
		return &Socket{nc: c, reg: registration{fd: -1}}
	}
	return nil
}

// control runs f with the descriptor, which stays open meanwhile. The
// RawConn comes from the concrete connection, so the call to it is direct
// and f does not escape.
func (s *Socket) control(f func(fd uintptr)) error {
	switch c := s.nc.(type) {
	case *net.TCPConn:
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Control(f)
	case *net.UnixConn:
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Control(f)
	}
	return errors.ErrUnsupported
}

// attempt is called by RawConn.Read with the descriptor. Reading, it
// reads into a buffer, or asks to wait when nothing has arrived, leaving
// the buffer in a place (see places) meanwhile. Peeking, it copies what
// has arrived, up to n bytes, without consuming it, and never asks to
// wait. It sets done once it has made its system call; it returns without
// one when it has no buffer (s.buf is nil: the caller takes one from the
// pool), or when no place is free for the buffer it would wait without
// (s.buf is set: the caller gives it back to the pool).
func (s *Socket) attempt(fd uintptr) bool {
	if s.dst != nil {
		// ReadInto: straight into its destination, no buffer to place.
		for {
			n, errno := recv(fd, unsafe.Slice(s.dst, s.n), 0)
			switch {
			case errno == syscall.EINTR:
				continue
			case errno == syscall.EAGAIN && s.wait:
				return false
			case errno != 0:
				n = 0
			}
			s.n, s.errno, s.done = int32(n), errno, true
			return true
		}
	}
	b := s.buf
	if b == nil {
		if b = takePlaced(fd); b == nil {
			return true
		}
	}
	var n int
	var errno syscall.Errno
	for {
		p, flags := *b, uintptr(0)
		if s.peek {
			p, flags = p[:s.n], syscall.MSG_PEEK
		}
		if n, errno = recv(fd, p, flags); errno != syscall.EINTR {
			break
		}
	}
	if errno == syscall.EAGAIN {
		if leavePlaced(b, fd) {
			b = nil
		} else if !s.peek {
			s.buf = b
			return true
		}
		if !s.peek {
			s.buf = nil
			return false
		}
	}
	if errno != 0 {
		n = 0
	}
	s.buf, s.n, s.errno, s.done = b, int32(n), errno, true
	return true
}

// retry runs attempt again, after it returned without making its system
// call, until it has made it: it hands attempt a buffer from the pool when
// it had none, or takes back into the pool the one it had no place for
// (see attempt). The pool is used here rather than in attempt because
// its slow paths need more stack.
//
//go:noinline
func (s *Socket) retry() error {
	for {
		if s.buf == nil {
			s.buf = GetBuffer()
		} else {
			PutBuffer(s.buf)
			s.buf = nil
		}
		err := s.rc.Read(s.fn)
		if err != nil && s.buf != nil {
			PutBuffer(s.buf)
			s.buf = nil
		}
		if err != nil || s.done {
			return err
		}
	}
}

// Read waits until data has arrived, then takes a buffer and reads as
// much as there is into it in one system call, so a caller holds no
// buffer while it waits. It returns the buffer holding n bytes, which
// the caller owns and gives back with PutBuffer, or a nil buffer and the
// error. The end of the stream is io.EOF. A passed read deadline or a
// closed socket is the net package's error (matching
// os.ErrDeadlineExceeded or net.ErrClosed); a failed read is a
// *net.OpError.
func (s *Socket) Read() (*[]byte, int, error) {
	if s == nil {
		return nil, 0, errors.ErrUnsupported
	}
	if s.rc == nil {
		if err := s.Bind(); err != nil {
			return nil, 0, err
		}
	}
	s.buf, s.errno, s.peek, s.done = nil, 0, false, false
	err := s.rc.Read(s.fn)
	if err == nil && !s.done {
		err = s.retry()
	}
	if err != nil {
		// Deadlines and closed sockets: the net package's errors.
		return nil, 0, err
	}
	b, n, errno := s.buf, int(s.n), s.errno
	s.buf = nil
	if errno != 0 {
		PutBuffer(b)
		return nil, 0, s.readError("read", errno)
	}
	if n == 0 {
		PutBuffer(b)
		return nil, 0, io.EOF
	}
	return b, n, nil
}

// ReadInto reads into p what has arrived, in one system call made
// straight into it, for the goroutine that calls Read (the two share
// their state). When nothing has arrived it waits for bytes if wait is
// set, and otherwise returns 0 and a nil error. Its errors are Read's: the
// end of the stream is io.EOF; a passed read deadline or a closed socket
// the net package's error; a failed read a *net.OpError. It makes no
// allocation, and it waits under the same RawConn callback as Read, so a
// caller's stack grows no deeper than under Read.
func (s *Socket) ReadInto(p []byte, wait bool) (int, error) {
	if s == nil {
		return 0, errors.ErrUnsupported
	}
	if len(p) == 0 {
		return 0, nil
	}
	if s.rc == nil {
		if err := s.Bind(); err != nil {
			return 0, err
		}
	}
	s.dst, s.n, s.wait, s.errno, s.done = unsafe.SliceData(p), int32(min(len(p), 1<<30)), wait, 0, false
	err := s.rc.Read(s.fn)
	n, errno := int(s.n), s.errno
	s.dst, s.n, s.wait, s.errno = nil, 0, false, 0
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN:
		return 0, nil // not waiting, and nothing had arrived
	case errno != 0:
		return 0, s.readError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Peek returns, without waiting or consuming anything, the first bytes
// that have arrived, at most max (and at most BufferSize), in a buffer the
// caller gives back with PutBuffer. It returns a nil buffer when none have
// arrived (and a nil error), when the stream has ended (io.EOF), or with
// the error that keeps the socket from being read (closed, past its read
// deadline, reset).
func (s *Socket) Peek(max int) (*[]byte, int, error) {
	if s == nil {
		return nil, 0, errors.ErrUnsupported
	}
	if s.rc == nil {
		if err := s.Bind(); err != nil {
			return nil, 0, err
		}
	}
	s.buf, s.errno, s.peek, s.done, s.n = nil, 0, true, false, int32(min(max, BufferSize))
	err := s.rc.Read(s.fn)
	if err == nil && !s.done {
		err = s.retry()
	}
	if err != nil {
		return nil, 0, err
	}
	b, n, errno := s.buf, int(s.n), s.errno
	s.buf = nil
	switch {
	case errno == syscall.EAGAIN: // nothing has arrived
	case errno != 0:
		err = s.readError("recvfrom", errno)
	case n == 0:
		err = io.EOF
	}
	if n == 0 || err != nil {
		if b != nil {
			PutBuffer(b)
		}
		return nil, 0, err
	}
	return b, n, nil
}

// Bind makes the RawConn that Read and Peek use and binds attempt to it;
// they call it themselves when it has not been called. Calling it where
// the connection is set up keeps its allocations off the goroutine that
// reads, whose stack then stays shallower.
func (s *Socket) Bind() error {
	rc, err := s.nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	s.rc, s.fn = rc, s.attempt
	s.bindWrite()
	return nil
}

// readError is the error for a failed read or peek system call, as the
// net package reports one.
func (s *Socket) readError(call string, errno syscall.Errno) error {
	la := s.nc.LocalAddr()
	return &net.OpError{Op: "read", Net: la.Network(), Addr: la, Err: os.NewSyscallError(call, errno)}
}

// TryRead reads into p once, without waiting, on a TCP socket. ok reports
// whether there was something to report: bytes, the end of the stream
// (io.EOF), or an error (a *net.OpError, also for a socket closed or past
// its read deadline). ok is false when nothing had arrived yet, when p is
// empty, and on a Unix socket or a nil Socket; the caller then reads as
// usual, under a deadline.
func (s *Socket) TryRead(p []byte) (n int, ok bool, err error) {
	return s.tryIO(p, false)
}

// TryWrite writes p once, without waiting, on a TCP socket, and returns
// how many bytes went out: 0 when the socket could take none, and on a
// Unix socket or a nil Socket. The caller writes the rest as usual. A
// socket that is closed or past its write deadline is an error (a
// *net.OpError).
func (s *Socket) TryWrite(p []byte) (n int, err error) {
	n, _, err = s.tryIO(p, true)
	return n, err
}

func (s *Socket) tryIO(p []byte, write bool) (int, bool, error) {
	if s == nil || !s.tcp || len(p) == 0 {
		return 0, false, nil
	}
	rc, err := s.nc.(*net.TCPConn).SyscallConn()
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
		// Closed, or past a deadline (which a server sets to cut a
		// handshake off): report it, as a Read would, rather than let
		// the caller arm a fresh deadline and wait.
		return 0, true, &net.OpError{Op: op, Net: "tcp", Source: s.nc.LocalAddr(), Addr: s.nc.RemoteAddr(), Err: err}
	case serr == syscall.EAGAIN:
		return 0, false, nil // nothing to do yet: the usual path waits
	case serr != nil:
		return 0, true, &net.OpError{Op: op, Net: "tcp", Source: s.nc.LocalAddr(), Addr: s.nc.RemoteAddr(), Err: os.NewSyscallError(op, serr)}
	case n == 0 && !write:
		return 0, true, io.EOF
	}
	return n, true, nil
}

// CanSplice reports whether SpliceTo can be used: on a TCP socket.
func (s *Socket) CanSplice() bool { return s != nil && s.tcp }

// SpliceTo hands the next n bytes of the socket to f.ReadFrom, which lets
// the kernel move them into the file (splice) where it can, and returns
// ReadFrom's result: an error writing the file is an *os.PathError,
// reading the socket a *net.OpError. It is the reader's, and needs
// CanSplice.
func (s *Socket) SpliceTo(f *os.File, n int64) (int64, error) {
	if !s.CanSplice() {
		return 0, errors.ErrUnsupported
	}
	lr := io.LimitedReader{R: s.nc, N: n}
	return f.ReadFrom(&lr)
}
