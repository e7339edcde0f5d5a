// Package stream adapts a WebSocket connection to the standard library's
// stream shapes: a net.Conn (and so an io.ReadWriteCloser), like Node's
// createWebSocketStream, so TLS, net/http, net/rpc or any byte protocol can
// run over a WebSocket. A Listener does the same for a server's side: it
// is a net.Listener whose Accept returns WebSocket connections, so a
// server written for net.Listener (http.Serve, net/rpc's Server.Accept, a
// gRPC server) serves WebSocket clients.
//
// # How messages map onto the byte stream
//
//   - Each Write sends its bytes as one binary message (cut into frames of
//     the connection's fragment size when larger). Nothing is buffered:
//     when Write returns, the bytes are on the wire.
//   - Read returns the payloads of the incoming messages, binary and text
//     alike, one after the other with no separator: message boundaries
//     are not visible. A message is streamed, never held whole.
//   - A clean close by the peer (1000 or 1001) is io.EOF; any other close
//     is an error that unwraps to the *CloseError (and so matches
//     wsio.ErrClosed).
//   - Close runs the closing handshake with 1000.
//
// Deadlines behave like net.Conn deadlines: a Read or Write that passes
// its deadline fails with an error wrapping os.ErrDeadlineExceeded and the
// connection stays usable. A Read resumes exactly where it stopped; a
// Write that timed out after part of its message went out (mid-frame, or
// between the frames of a Write larger than the fragment size), however,
// breaks the connection (the message cannot be finished), as a timed-out
// TLS write breaks TLS.
//
// # Errors
//
// Errors follow the net.Conn conventions, so code written for TCP
// connections (net/http, net/rpc, crypto/tls, gRPC) handles them as it
// handles a socket's:
//
//   - io.EOF is returned bare, as the io.Reader contract asks.
//   - Every other error from Read, Write and a second Close is a
//     *net.OpError (Op "read", "write" or "close", Net "websocket",
//     Source and Addr the socket's local and remote addresses, nil over
//     a stream that has none) whose Err is the cause, so errors.Is and
//     errors.As see through it: a *CloseError,
//     ErrClosed, ErrProtocol and the rest of package wsio's sentinels
//     still match.
//   - After a local Close (of the net.Conn, or Close or CloseNow of the
//     connection under it) Read and Write fail with an error matching
//     net.ErrClosed. A Read blocked in another goroutine when the
//     net.Conn's Close is called returns at once with that error (when
//     the connection runs over a net.Conn, as from Dial and Accept;
//     otherwise when the closing handshake ends).
//   - A passed deadline gives an error matching os.ErrDeadlineExceeded
//     that is a net.Error whose Timeout method reports true. A call that
//     starts on a connection that has already ended gets the connection's
//     close error instead, which is not a timeout (retrying cannot help),
//     even when that close was caused by a deadline.
package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio"
)

// NetConn returns a net.Conn that reads and writes c's messages as one
// byte stream, as the package documentation describes; its errors follow
// the net.Conn conventions listed there. Deadlines need a connection over
// a net.Conn (as from Dial and Accept); otherwise the Set*Deadline methods
// return errors.ErrUnsupported.
func NetConn(c *wsio.Conn) net.Conn {
	return &netConn{c: c}
}

type netConn struct {
	c      *wsio.Conn
	closed atomic.Bool // Close was called; set before the closing handshake starts

	rmu  sync.Mutex
	cur  wsio.Message
	text string // unread rest of a text message
	open bool   // cur is a binary message not yet read to its end
	eof  error  // sticky end-of-stream error
}

// Read reads the next bytes of the incoming stream. It returns io.EOF
// after the peer closed with 1000 or 1001, an error matching net.ErrClosed
// after a local Close (also when Close is called while Read is blocked),
// and otherwise a *net.OpError with the cause, as the package
// documentation describes.
func (s *netConn) Read(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, s.opError("read", nil, false)
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	open := s.c.Err() == nil
	n, err := s.read(p)
	if err == nil || err == io.EOF && !s.closed.Load() {
		return n, err
	}
	return n, s.opError("read", err, open)
}

// read is Read's loop, with the connection's own errors; the caller holds
// rmu.
func (s *netConn) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if s.text != "" {
			n := copy(p, s.text)
			s.text = s.text[n:]
			return n, nil
		}
		if s.open {
			n, err := s.cur.Read(p)
			if err == io.EOF {
				s.open = false
				if n > 0 {
					return n, nil
				}
				continue
			}
			return n, err
		}
		if s.eof != nil {
			return 0, s.eof
		}
		m, err := s.c.Next(context.Background())
		if err != nil {
			var ce *wsio.CloseError
			if errors.As(err, &ce) && ce.Remote && (ce.Code == wsio.StatusNormalClosure || ce.Code == wsio.StatusGoingAway) {
				s.eof = io.EOF
				return 0, io.EOF
			}
			if errors.As(err, &ce) {
				s.eof = err
			}
			return 0, err
		}
		if m.Kind == wsio.Text {
			s.text = m.Text
		} else {
			s.cur, s.open = m, true
		}
	}
}

// Write sends p as one binary message. After a local Close it fails with
// an error matching net.ErrClosed; its other errors are *net.OpErrors with
// the cause, as the package documentation describes.
func (s *netConn) Write(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, s.opError("write", nil, false)
	}
	open := s.c.Err() == nil
	if err := s.c.SendBinary(context.Background(), p); err != nil {
		return 0, s.opError("write", err, open)
	}
	return len(p), nil
}

// Close runs the closing handshake with 1000. A Read blocked in another
// goroutine returns at once with an error matching net.ErrClosed, and
// later Reads and Writes fail the same way. A second Close returns an
// error matching net.ErrClosed.
//
// Close releases a blocked Read by moving the read deadline into the
// past, so it does so only on a connection over a net.Conn (elsewhere the
// Read returns when the closing handshake ends). The handshake then reads
// the peer's answer under a deadline of its own. A Read blocked inside a
// compressed message cannot resume after a deadline, so there the
// connection ends at once, without the handshake.
func (s *netConn) Close() error {
	if s.closed.Swap(true) {
		return s.opError("close", nil, false)
	}
	// A deadline that has passed by the time it is set makes a Read
	// blocked on the socket return a deadline error, which Read reports
	// as net.ErrClosed because closed is set; the handshake below
	// discards what the reader left unread.
	_ = s.c.SetReadDeadline(time.Now())
	return s.c.Close(wsio.StatusNormalClosure, "")
}

// opError wraps err, an error of op ("read", "write", "close"), the way
// package net does. open reports whether the connection had not ended
// when the call started. After a local close the cause matches
// net.ErrClosed (and unwraps to how the connection ended); a passed
// deadline on a connection that was open is a timeout; any other error is
// the cause as it is.
func (s *netConn) opError(op string, err error, open bool) error {
	var cause error
	switch {
	case s.closed.Load():
		// Whatever the interrupted call saw (often the deadline Close
		// set), the connection is closed here: report that alone, so the
		// error does not also look like a timeout.
		cause = closedError{s.c.Err()}
	case closedHere(err):
		cause = closedError{err}
	case open && errors.Is(err, os.ErrDeadlineExceeded):
		cause = timeoutCause(err)
	default:
		cause = err
	}
	// The addresses are the socket's; a connection over another stream
	// has none to name.
	return &net.OpError{Op: op, Net: "websocket", Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: cause}
}

// closedHere reports whether err says the connection was closed on
// purpose on this side (Close or CloseNow of the connection), rather than
// by the peer or for a fault.
func closedHere(err error) bool {
	var ce *wsio.CloseError
	return errors.As(err, &ce) && !ce.Remote && (ce.Err == nil || ce.Err == wsio.ErrClosed)
}

// closedError is the cause of an error after a local close: it reads as
// net.ErrClosed and matches it, and unwraps to how the connection ended
// (a *CloseError), when known.
type closedError struct{ end error }

func (e closedError) Error() string { return net.ErrClosed.Error() }

func (e closedError) Unwrap() []error {
	if e.end == nil {
		return []error{net.ErrClosed}
	}
	return []error{net.ErrClosed, e.end}
}

// timeoutCause returns the cause of a deadline error as a net.Error whose
// Timeout reports true, as *net.OpError's Timeout requires of its Err.
// The socket's own *net.OpError is unwrapped to its cause, which is one
// already (os.ErrDeadlineExceeded); anything else is wrapped.
func timeoutCause(err error) error {
	if oe, ok := err.(*net.OpError); ok && oe.Timeout() {
		return oe.Err
	}
	return timeoutError{err}
}

// timeoutError marks a deadline error that arrives wrapped (for example
// in the *CloseError of a write that timed out mid-frame) as a timeout.
type timeoutError struct{ err error }

func (e timeoutError) Error() string   { return e.err.Error() }
func (e timeoutError) Unwrap() error   { return e.err }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// LocalAddr returns the local address of the underlying connection.
func (s *netConn) LocalAddr() net.Addr { return addrOr(s.c.LocalAddr()) }

// RemoteAddr returns the peer's address.
func (s *netConn) RemoteAddr() net.Addr { return addrOr(s.c.RemoteAddr()) }

// SetDeadline sets both deadlines.
func (s *netConn) SetDeadline(t time.Time) error {
	return errors.Join(s.c.SetReadDeadline(t), s.c.SetWriteDeadline(t))
}

// SetReadDeadline sets the read deadline.
func (s *netConn) SetReadDeadline(t time.Time) error { return s.c.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (s *netConn) SetWriteDeadline(t time.Time) error { return s.c.SetWriteDeadline(t) }

type wsAddr struct{}

func (wsAddr) Network() string { return "websocket" }
func (wsAddr) String() string  { return "websocket" }

func addrOr(a net.Addr) net.Addr {
	if a == nil {
		return wsAddr{}
	}
	return a
}
