//go:build !js

package wsio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/limits"
)

// closeError returns how the connection ended, or nil while it has not.
func (c *Conn) closeError() *CloseError { return c.closing.error() }

// abort tears the stream down at once, recording cause as an abnormal
// closure if nothing was recorded before.
func (c *Conn) abort(cause error) {
	c.closing.setErr(&CloseError{Code: StatusAbnormalClosure, Err: cause})
	c.closeTransport()
}

// closeTransport closes the stream once and runs the OnClose hooks.
func (c *Conn) closeTransport() {
	hooks, first := c.closing.end()
	if !first {
		return
	}
	_ = c.rwc.Close()
	if c.ka != nil {
		c.ka.stop()
	}
	if c.deflate != nil {
		c.deflate.idle.Stop()
		c.releaseCompressor()
	}
	// The read buffer and inflater belong to whoever holds the read lock:
	// release them now only if nobody does; otherwise the reader does as
	// it lets go (unlockRead).
	if c.rsem.tryLock() {
		c.releaseReader()
		c.rsem.unlock()
	}
	for _, f := range hooks {
		f()
	}
}

// CloseNow ends the connection at once, without the closing handshake (as
// Node's ws terminate() does): the stream is closed, the peer sees it end
// without a close frame (1006), and reads and writes in progress here fail
// with a *CloseError of code 1006 wrapping ErrClosed. It returns nil, or
// the *CloseError of a connection that had already ended.
func (c *Conn) CloseNow() error {
	if c.State() == Closed {
		return c.closeError()
	}
	c.abort(ErrClosed)
	return nil
}

// Close runs the closing handshake: it sends a close frame with code and
// reason, waits up to CloseTimeout for the peer's close frame (reading and
// discarding data meanwhile, unless another goroutine is reading), then
// closes the stream. A reason longer than 123 bytes is cut at a UTF-8
// boundary.
//
// Data discarded while Close waits is held to the rules and limits a read
// keeps: a message over BufferCap or MaxBinaryMessage (or one that breaks
// the protocol) ends the connection as soon as that is known, without
// reading more of it or waiting further for the peer's close frame; no
// second close frame is sent, and Close returns an error, as when the
// peer does not answer.
//
// It returns nil when the peer answered: its close frame carried this
// side's code, 1000 or no code. A close frame with any other code is the
// peer's own close (it closed for a reason of its own, for example 1009
// for a message of ours it would not take, before or while ours was on
// the way): Close then returns it as a *CloseError with Remote set and the
// peer's Code and Reason, and Err and later calls report the same. When
// the peer did not answer in time, Close returns an error saying so.
//
// When the connection was already closed or closing (by another Close,
// the peer's close frame, or a failure), Close sends nothing more, waits
// for that to finish, and returns the *CloseError describing how it ended
// (which matches ErrClosed). In particular, after a binary stream or a
// send failed with the peer's *CloseError, Close returns that same error.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatus && !code.validWire() {
		return errors.New("websocket: close code " + code.String() + " may not be sent")
	}
	if !utf8.ValidString(reason) {
		return &fault{msg: prefix + "Close: the reason is not valid UTF-8", kind: ErrInvalidUTF8}
	}
	return c.closeHandshake(code, reason, &CloseError{Code: code, Reason: reason})
}

// closeHandshake runs Close's closing handshake with a valid code and
// reason; local is recorded as how the connection ended if nothing was
// recorded before the close frame is claimed.
func (c *Conn) closeHandshake(code StatusCode, reason string, local *CloseError) error {
	deadline := time.Now().Add(c.opts.CloseTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := c.sendClose(ctx, code, reason, local)
	if errors.Is(err, errCloseSent) {
		// Another goroutine (a Close, or the reader answering the peer)
		// is running the closing handshake: let it finish.
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-c.closing.done:
		case <-t.C:
			c.closeTransport()
		}
		if ce := c.closeError(); ce != nil {
			return ce
		}
		return &fault{msg: prefix + "Close: the connection is already closing", kind: ErrClosed}
	}
	if err != nil {
		c.closeTransport()
		return err
	}
	clean := c.awaitPeerClose(deadline)
	c.closeTransport()
	if !clean {
		return errors.New("websocket: the peer did not answer the close frame in time")
	}
	if ce := c.closeError(); ce != nil && ce.Remote {
		return ce // the peer closed for a reason of its own
	}
	return nil
}

// errCloseSent reports that a close frame was already sent (or the
// connection is closed), so no other may be.
var errCloseSent = &fault{msg: prefix + "a close frame was already sent", kind: ErrClosed}

// sendClose writes a close frame unless one was sent already. When local
// is not nil it is first recorded as how the connection ended (unless
// something was recorded before), in the same step that claims the close
// frame, so a reader that sees the peer's answer does not report it as
// the peer's own close.
func (c *Conn) sendClose(ctx context.Context, code StatusCode, reason string, local *CloseError) error {
	if !c.closing.claim(local) {
		return errCloseSent
	}
	var buf [limits.MaxControlPayload]byte
	n := 0
	if code != StatusNoStatus && code != 0 {
		buf[0], buf[1] = byte(code>>8), byte(code)
		n = 2 + copy(buf[2:], truncUTF8(reason, limits.MaxControlPayload-2))
	}
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	err := c.writeFrameLocked(ctx, true, 0, conn.OpClose, buf[:n], frameClosing)
	c.closing.wrote()
	c.unlockWrite()
	return err
}

// awaitPeerClose waits for the peer's close frame until deadline, reading
// frames itself when no other goroutine is.
func (c *Conn) awaitPeerClose(deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	if !c.rsem.tryLock() {
		switch c.rsem.lockSlow(nil, c.closing.done, c.closing.receivedChan(), t.C) {
		case gotOther:
			return true
		case gotDone:
			return c.closing.has(closeReceived)
		case gotTimer:
			return false
		}
	}
	defer c.rsem.unlock()
	if c.closing.has(closeReceived) {
		return true
	}
	if c.nc != nil {
		c.dl.mu.Lock()
		_ = c.nc.SetReadDeadline(deadline)
		c.dl.mu.Unlock()
	}
	for {
		if err := c.nextFrameDiscarding(); err != nil {
			return c.closing.has(closeReceived)
		}
	}
}

// peerClosed handles the peer's close frame: it validates it, answers it
// unless this side already sent one, and ends the connection.
func (c *Conn) peerClosed(payload []byte) error {
	code, reason, bad, why := decodeClose(payload)
	switch bad {
	case StatusProtocolError:
		return c.failProtocol(why)
	case StatusInvalidPayload:
		return c.fail(StatusInvalidPayload, why, &fault{msg: why, kind: ErrInvalidUTF8})
	}
	c.closing.recordPeer(code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout)
	defer cancel()
	echo := code
	if echo == StatusNoStatus {
		echo = 0
	}
	if err := c.sendClose(ctx, echo, "", nil); errors.Is(err, errCloseSent) {
		// A Close claimed the close frame, perhaps a moment ago, and may
		// not have written it yet: closing the stream here would lose it.
		// That Close sees the peer's close recorded above and ends the
		// connection itself.
		return c.closeError()
	}
	if c.client {
		// The server closes the TCP connection first (RFC 6455, 7.1.1).
		c.drain(time.Now().Add(c.opts.CloseTimeout))
	}
	c.closeTransport()
	return c.closeError()
}

// decodeClose reads a close frame's payload: its code (StatusNoStatus
// when it has none) and reason. A payload RFC 6455 forbids is reported as
// bad, the code to fail the connection with, and why.
func decodeClose(payload []byte) (code StatusCode, reason string, bad StatusCode, why string) {
	switch {
	case len(payload) == 1:
		return 0, "", StatusProtocolError, "close frame with a 1-byte payload"
	case len(payload) >= 2:
		code = StatusCode(binary.BigEndian.Uint16(payload))
		if !code.validWire() {
			return 0, "", StatusProtocolError, fmt.Sprintf("invalid close code %d", code)
		}
		if !utf8.Valid(payload[2:]) {
			return 0, "", StatusInvalidPayload, "invalid UTF-8 in close reason"
		}
		return code, string(payload[2:]), 0, ""
	}
	return StatusNoStatus, "", 0, ""
}
