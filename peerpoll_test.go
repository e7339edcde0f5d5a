//go:build !js

package wsio

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/sock"
	"github.com/wsio/wsio/internal/wstest"
)

// closePayload is a close frame's payload: code and reason.
func closePayload(code StatusCode, reason string) []byte {
	return wstest.ClosePayload(uint16(code), reason)
}

// peerPayload reads the next frame from r with peerFrame and returns its
// payload when it is a whole frame of opcode op, else nil.
func peerPayload(r io.Reader, op conn.Opcode) []byte {
	h, p, err := peerFrame(r)
	if err != nil || h.Op != op {
		return nil
	}
	return p
}

// peerFrame reads one frame from the peer side of a pair, unmasking it.
func peerFrame(r io.Reader) (conn.Header, []byte, error) {
	var b [conn.MaxHeaderSize]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return conn.Header{}, nil, err
	}
	n := conn.HeaderSize(b[1])
	if _, err := io.ReadFull(r, b[2:n]); err != nil {
		return conn.Header{}, nil, err
	}
	h, _, err := conn.ParseHeader(b[:n])
	if err != nil {
		return h, nil, err
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return h, nil, err
	}
	if h.Masked {
		conn.Mask(h.Mask, 0, payload)
	}
	return h, payload, nil
}

// arrived waits until bytes the peer wrote can be seen on c's socket.
func arrived(t *testing.T, c *Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _, err := c.sock.Peek(peekMax)
		if b != nil {
			sock.PutBuffer(b)
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the peer's bytes did not arrive: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriteFailureReadsPeerClose: the peer sends a close frame (1009) in
// the middle of a frame of ours, then resets the connection with our
// bytes unread. The write fails; the error must be the peer's close, read
// from the receive buffer, not a bare 1006.
func TestWriteFailureReadsPeerClose(t *testing.T) {
	t.Parallel()
	for _, client := range []bool{true, false} {
		name := "server"
		if client {
			name = "client"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := tcpPair(t)
			c := newConn(a, client, &Options{FragmentSize: 64 << 20}, nil)
			t.Cleanup(c.closeTransport)
			var key *[4]byte
			if !client {
				key = &[4]byte{1, 2, 3, 4}
			}
			go func() {
				// Once our frame has started (after any look before it),
				// close and walk away: unread bytes make the close a reset.
				var one [1]byte
				_, _ = io.ReadFull(b, one[:])
				_, _ = b.Write(encFrame(true, 0, conn.OpClose, closePayload(StatusMessageTooBig, "too big"), key))
				_ = b.Close()
			}()
			// Far more than the socket buffers hold, so the write is still
			// going when the reset comes.
			err := c.SendBinary(context.Background(), make([]byte, 32<<20))
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != StatusMessageTooBig || !ce.Remote || ce.Reason != "too big" {
				t.Fatalf("SendBinary = %v, want the peer's 1009 %q", err, "too big")
			}
			if !errors.Is(err, ErrMessageTooBig) {
				t.Errorf("%v does not match ErrMessageTooBig", err)
			}
			if err := c.Close(StatusNormalClosure, ""); err != ce {
				t.Errorf("Close = %v, want the same *CloseError", err)
			}
		})
	}
}

// TestSenderLooksAtSocket: what a send finds on the socket of a client
// that no goroutine reads, and what it leaves for Next.
func TestSenderLooksAtSocket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	setup := func(t *testing.T, o *Options) (*Conn, net.Conn, *bufio.Reader) {
		a, b := tcpPair(t)
		_ = b.SetDeadline(time.Now().Add(10 * time.Second))
		c := newConn(a, true, o, nil)
		t.Cleanup(c.closeTransport)
		return c, b, bufio.NewReader(b)
	}
	// expect reads the next frame on the peer's side and checks its opcode
	// and payload.
	expect := func(t *testing.T, br *bufio.Reader, op conn.Opcode, payload string) {
		t.Helper()
		h, p, err := peerFrame(br)
		if err != nil || h.Op != op || string(p) != payload {
			t.Fatalf("the peer read %v of %d bytes %.16q (%v), want %v of %d bytes %.16q",
				h.Op, len(p), p, err, op, len(payload), payload)
		}
	}

	t.Run("a ping is answered before the data", func(t *testing.T) {
		t.Parallel()
		c, b, br := setup(t, &Options{})
		_, _ = b.Write(encFrame(true, 0, conn.OpPing, []byte("p1"), nil))
		arrived(t, c)
		if err := c.SendText(ctx, "data"); err != nil {
			t.Fatal(err)
		}
		expect(t, br, conn.OpPong, "p1")
		expect(t, br, conn.OpText, "data")
	})

	t.Run("a data frame stays in the socket for Next", func(t *testing.T) {
		t.Parallel()
		c, b, br := setup(t, &Options{})
		_, _ = b.Write(encFrame(true, 0, conn.OpText, []byte("queued"), nil))
		_, _ = b.Write(encFrame(true, 0, conn.OpPing, []byte("behind"), nil))
		arrived(t, c)
		if err := c.SendText(ctx, "data"); err != nil {
			t.Fatal(err)
		}
		if n := c.rd.buffered(); n != 0 {
			t.Errorf("the look took %d bytes off the socket", n)
		}
		expect(t, br, conn.OpText, "data")
		m, err := c.Next(ctx)
		if err != nil || m.Text != "queued" {
			t.Fatalf("Next = %q, %v", m.Text, err)
		}
	})

	t.Run("a ping with OnPing set is left for the reader", func(t *testing.T) {
		t.Parallel()
		pinged := make(chan string, 1)
		c, b, br := setup(t, &Options{OnPing: func(p []byte) { pinged <- string(p) }})
		_, _ = b.Write(encFrame(true, 0, conn.OpPing, []byte("p1"), nil))
		arrived(t, c)
		if err := c.SendText(ctx, "data"); err != nil {
			t.Fatal(err)
		}
		expect(t, br, conn.OpText, "data")
		select {
		case p := <-pinged:
			t.Fatalf("OnPing(%q) ran during the send", p)
		default:
		}
		_, _ = b.Write(encFrame(true, 0, conn.OpText, []byte("next"), nil))
		if m, err := c.Next(ctx); err != nil || m.Text != "next" {
			t.Fatalf("Next = %q, %v", m.Text, err)
		}
		if p := <-pinged; p != "p1" {
			t.Fatalf("OnPing(%q)", p)
		}
		expect(t, br, conn.OpPong, "p1")
	})

	t.Run("a close frame ends the connection with the peer's close", func(t *testing.T) {
		t.Parallel()
		c, b, br := setup(t, &Options{})
		_, _ = b.Write(encFrame(true, 0, conn.OpClose, closePayload(4001, "quota exceeded"), nil))
		arrived(t, c)
		answered := make(chan error, 1)
		go func() {
			// The server's side of the handshake: read the answer, then
			// close the TCP connection, which the client waits for.
			h, p, err := peerFrame(br)
			if err == nil && (h.Op != conn.OpClose || binary.BigEndian.Uint16(p) != 4001) {
				err = errors.New("the answer was not a close frame with 4001")
			}
			_ = b.Close()
			answered <- err
		}()
		err := c.SendText(ctx, "data")
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || !ce.Remote || ce.Reason != "quota exceeded" {
			t.Fatalf("SendText = %v, want the peer's 4001", err)
		}
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
		if err := c.Close(StatusNormalClosure, ""); err != ce {
			t.Errorf("Close = %v, want the same *CloseError", err)
		}
	})

	t.Run("with a reader, only large frames look", func(t *testing.T) {
		t.Parallel()
		c, b, br := setup(t, &Options{})
		_, _ = b.Write(encFrame(true, 0, conn.OpText, []byte("hello"), nil))
		if m, err := c.Next(ctx); err != nil || m.Text != "hello" {
			t.Fatalf("Next = %q, %v", m.Text, err)
		}
		_, _ = b.Write(encFrame(true, 0, conn.OpPing, []byte("p1"), nil))
		arrived(t, c)
		if err := c.SendText(ctx, "small"); err != nil {
			t.Fatal(err)
		}
		expect(t, br, conn.OpText, "small")
		big := make([]byte, pollFrame)
		if err := c.SendBinary(ctx, big); err != nil {
			t.Fatal(err)
		}
		expect(t, br, conn.OpPong, "p1")
		expect(t, br, conn.OpBinary, string(big))
	})
}
