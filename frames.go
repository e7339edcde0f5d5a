//go:build !js

package wsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/limits"
)

// readHeader reads the next frame header, checks it against the
// connection's role and extensions, and handles control frames whole. On
// any error the connection has been failed, except for deadline errors,
// after which nothing was consumed.
func (c *Conn) readHeader() (conn.Header, error) {
	if c.msgOp == 0 {
		c.rd.idle()
	}
	if err := c.rd.ensure(2); err != nil {
		return conn.Header{}, c.readFailed(err)
	}
	hs := conn.HeaderSize(c.rd.peek()[1])
	if err := c.rd.ensure(hs); err != nil {
		return conn.Header{}, c.readFailed(err)
	}
	h, n, err := conn.ParseHeader(c.rd.peek())
	if err != nil || h.Masked == c.client ||
		h.Rsv != 0 && (h.Rsv != conn.Rsv1 || c.deflate == nil || (h.Op != conn.OpText && h.Op != conn.OpBinary)) {
		return h, c.badHeader(h, err)
	}
	if !h.Op.IsControl() {
		c.rd.consume(n)
		return h, nil
	}
	return h, c.controlFrame(h, n)
}

// badHeader fails the connection for header h, which ParseHeader refused
// with err, or which breaks a rule readHeader checks: a reserved bit set
// without the extension that defines it, or a mask where the role forbids
// (or requires) one. Building the error here, out of line, keeps
// readHeader's frame small: it runs for every frame, near the bottom of a
// handler's stack.
//
//go:noinline
func (c *Conn) badHeader(h conn.Header, err error) error {
	if err != nil {
		// The codec's error wraps ErrProtocol; the close says what broke.
		what := strings.TrimPrefix(err.Error(), ErrProtocol.Error()+": ")
		return c.fail(StatusProtocolError, truncUTF8(what, limits.MaxControlPayload-2), &fault{msg: what, kind: ErrProtocol, cause: err})
	}
	if h.Rsv != 0 && (h.Rsv != conn.Rsv1 || c.deflate == nil || (h.Op != conn.OpText && h.Op != conn.OpBinary)) {
		if h.Rsv == conn.Rsv1 && c.deflate != nil {
			return c.failProtocol("RSV1 set on a " + h.Op.String() + " frame (only a message's first frame may carry it)")
		}
		return c.failProtocol(fmt.Sprintf("reserved bits 0x%02X set without a negotiated extension", h.Rsv))
	}
	if c.client {
		return c.failProtocol("masked frame from the server")
	}
	return c.failProtocol("unmasked frame from the client")
}

// controlFrame reads the payload of control frame h, whose n-byte header
// is buffered, and acts on it (control). It is out of line for the reason
// badHeader is.
//
//go:noinline
func (c *Conn) controlFrame(h conn.Header, n int) error {
	if err := c.rd.ensure(n + int(h.Length)); err != nil {
		return c.readFailed(err)
	}
	payload := c.rd.peek()[n : n+int(h.Length)]
	if h.Masked {
		conn.Mask(h.Mask, 0, payload)
	}
	c.rd.consume(n + int(h.Length))
	return c.control(h.Op, payload)
}

// control acts on a control frame.
func (c *Conn) control(op conn.Opcode, payload []byte) error {
	switch op {
	case conn.OpPing:
		c.queuePong(payload)
		if c.opts.OnPing != nil {
			c.opts.OnPing(payload)
		}
	case conn.OpPong:
		if c.ka != nil {
			c.ka.pong()
		}
		c.pings.notify(payload)
		if c.opts.OnPong != nil {
			c.opts.OnPong(payload)
		}
	case conn.OpClose:
		return c.peerClosed(payload)
	}
	return nil
}

// failProtocol fails the connection with 1002.
func (c *Conn) failProtocol(what string) error {
	return c.fail(StatusProtocolError, what, &fault{msg: what, kind: ErrProtocol})
}

// fail fails the connection for the peer's fault: it records the cause,
// sends a close frame with code (unless one was sent), lets the peer read
// it, and closes the stream. It returns the error to give the caller.
func (c *Conn) fail(code StatusCode, reason string, cause error) error {
	c.closing.setErr(&CloseError{Code: code, Reason: reason, Err: cause})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = c.sendClose(ctx, code, reason, nil)
	cancel()
	// Close our sending side and read what the peer still sends, so the
	// close frame is not lost to a reset caused by unread data.
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	c.drain(time.Now().Add(time.Second))
	c.closeTransport()
	return c.closeError()
}

// drain reads and discards until EOF, an error or the deadline.
func (c *Conn) drain(deadline time.Time) {
	if c.nc == nil {
		return
	}
	c.dl.mu.Lock()
	_ = c.nc.SetReadDeadline(deadline)
	c.dl.mu.Unlock()
	var buf [512]byte
	for {
		if _, err := c.rwc.Read(buf[:]); err != nil {
			return
		}
	}
}

// readFailed turns a stream read error into the error to return. A
// deadline error is returned as is and the connection stays usable;
// anything else ends the connection: cleanly if the close handshake was
// done, as an abnormal closure (1006) otherwise.
func (c *Conn) readFailed(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && c.State() != Closed {
		return err
	}
	if c.closing.has(closeReceived) || c.State() == Closed {
		c.closeTransport()
		return c.closeError()
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	} else if !errors.Is(err, io.ErrUnexpectedEOF) {
		// A reset or any other failure also means the stream ended early.
		err = fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, err)
	}
	c.abort(err)
	return c.closeError()
}

// nextFrameDiscarding reads one frame and drops its data (or finishes and
// drops the current message); used while waiting for the peer's close
// frame. Messages start and end as they do for Next (startMessage,
// finishMessage), so data is still inflated, validated and held to its
// limits to the end.
func (c *Conn) nextFrameDiscarding() error {
	if c.msgOp != 0 {
		_, err := c.finishMessage(true)
		return err
	}
	h, err := c.readHeader()
	if err != nil || h.Op.IsControl() {
		return err
	}
	return c.startMessage(h)
}
