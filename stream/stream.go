// Package stream adapts a WebSocket connection to the standard library's
// stream shapes: a net.Conn (and so an io.ReadWriteCloser), like Node's
// createWebSocketStream, so TLS, net/http, net/rpc or any byte protocol can
// run over a WebSocket.
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
//     is returned as the *CloseError.
//   - Close runs the closing handshake with 1000.
//
// Deadlines behave like net.Conn deadlines: a Read or Write that passes
// its deadline fails with an error wrapping os.ErrDeadlineExceeded and the
// connection stays usable. A Read resumes exactly where it stopped; a
// Write that timed out after part of its message went out (mid-frame, or
// between the frames of a Write larger than the fragment size), however,
// breaks the connection (the message cannot be finished), as a timed-out
// TLS write breaks TLS.
package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/wsio/wsio/conn"
)

// NetConn returns a net.Conn that reads and writes c's messages as one
// byte stream, as the package documentation describes. Deadlines need a
// connection over a net.Conn (as from Dial and Accept); otherwise the
// Set*Deadline methods return errors.ErrUnsupported.
func NetConn(c *conn.Conn) net.Conn {
	return &netConn{c: c}
}

type netConn struct {
	c *conn.Conn

	rmu  sync.Mutex
	cur  conn.Message
	text string // unread rest of a text message
	open bool   // cur is a binary message not yet read to its end
	eof  error  // sticky end-of-stream error
}

// Read reads the next bytes of the incoming stream.
func (s *netConn) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
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
			var ce *conn.CloseError
			if errors.As(err, &ce) && ce.Remote && (ce.Code == conn.StatusNormalClosure || ce.Code == conn.StatusGoingAway) {
				s.eof = io.EOF
				return 0, io.EOF
			}
			if errors.As(err, &ce) {
				s.eof = err
			}
			return 0, err
		}
		if m.Kind == conn.Text {
			s.text = m.Text
		} else {
			s.cur, s.open = m, true
		}
	}
}

// Write sends p as one binary message.
func (s *netConn) Write(p []byte) (int, error) {
	if err := s.c.SendBinary(context.Background(), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close runs the closing handshake with 1000.
func (s *netConn) Close() error {
	return s.c.Close(conn.StatusNormalClosure, "")
}

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
