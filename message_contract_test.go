package wsio_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// pattern returns n bytes that differ from one offset to the next, so a
// lost or repeated stretch shows in a comparison.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>9) ^ seed
	}
	return b
}

// frameHeader encodes a frame header for a payload of n bytes; mask, when
// not nil, is the masking key of a client's frame.
func frameHeader(b0 byte, n int, mask *[4]byte) []byte {
	h := []byte{b0, 0}
	switch {
	case n < 126:
		h[1] = byte(n)
	case n <= 0xFFFF:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	if mask != nil {
		h[1] |= 0x80
		h = append(h, mask[:]...)
	}
	return h
}

// serverFrame is a final, unmasked frame of opcode op.
func serverFrame(op byte, payload []byte) []byte {
	return append(frameHeader(0x80|op, len(payload), nil), payload...)
}

// frameServer is a server that completes the handshake, sends frames
// (raw bytes) and then reads until the client hangs up. It returns the
// ws:// URL.
func frameServer(t *testing.T, frames []byte) string {
	t.Helper()
	return "ws://" + fakeServer(t, func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n" + string(frames)
	}) + "/"
}

// TestStaleBinaryMessage: once Next has moved past a binary message, every
// way of reading it fails with ErrStaleMessage, consumes nothing of what
// came after it, and never reports the discarded rest as a clean end,
// whatever Next found after it. The client reads, so WriteTo to an
// *os.File takes the splice path where it can.
func TestStaleBinaryMessage(t *testing.T) {
	t.Parallel()
	const size = 100_000
	first, second := pattern(size, 1), pattern(3000, 2)
	closeFrame := serverFrame(0x8, append([]byte{0x03, 0xE8}, "bye"...))
	for _, after := range []struct {
		name string
		// frames the server sends: the stale message (or the start of
		// it), then what comes after it
		frames []byte
		// next calls Next and checks its result; the returned func, if
		// any, runs after the stale reads
		next func(t *testing.T, c *wsio.Conn) func()
	}{
		{"text", append(serverFrame(0x2, first), serverFrame(0x1, []byte("after"))...), wantText},
		{"binary", append(serverFrame(0x2, first), serverFrame(0x2, second)...), func(t *testing.T, c *wsio.Conn) func() {
			m, err := c.Next(testCtx(t))
			if err != nil || m.Kind != wsio.Binary {
				t.Fatalf("Next = %v message, %v; want the second binary message", m.Kind, err)
			}
			return func() {
				if got, err := io.ReadAll(m); err != nil || !bytes.Equal(got, second) {
					t.Errorf("the second message read %d bytes, %v; want its %d bytes intact", len(got), err, len(second))
				}
			}
		}},
		{"ping then text", concat(serverFrame(0x2, first), serverFrame(0x9, []byte("ping")), serverFrame(0x1, []byte("after"))), wantText},
		{"peer's close", append(serverFrame(0x2, first), closeFrame...), func(t *testing.T, c *wsio.Conn) func() {
			_, err := c.Next(testCtx(t))
			wantClose(t, err, wsio.StatusNormalClosure, true)
			return nil
		}},
		{"nothing yet: Next timed out discarding", append(frameHeader(0x82, size, nil), first[:size/2]...), func(t *testing.T, c *wsio.Conn) func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if _, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next = %v, want context.DeadlineExceeded", err)
			}
			// Bound the stale reads: the rest of the message never comes.
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			return nil
		}},
	} {
		for _, how := range []struct {
			name string
			read func(t *testing.T, m wsio.Message) (int64, error)
		}{
			{"Read", func(t *testing.T, m wsio.Message) (int64, error) {
				n, err := m.Read(make([]byte, 64<<10))
				return int64(n), err
			}},
			{"io.Copy", func(t *testing.T, m wsio.Message) (int64, error) { return io.Copy(io.Discard, m) }},
			{"splice to *os.File", func(t *testing.T, m wsio.Message) (int64, error) {
				f, err := os.Create(filepath.Join(t.TempDir(), "out"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				return io.Copy(f, m)
			}},
		} {
			t.Run(after.name+"/"+how.name, func(t *testing.T) {
				t.Parallel()
				url := frameServer(t, after.frames)
				c := dial(t, url, &wsio.DialOptions{Options: wsio.Options{CloseTimeout: 200 * time.Millisecond}})
				m, err := c.Next(testCtx(t))
				if err != nil || m.Kind != wsio.Binary {
					t.Fatalf("Next = %v message, %v", m.Kind, err)
				}
				var b [10]byte
				if _, err := io.ReadFull(m, b[:]); err != nil || !bytes.Equal(b[:], first[:10]) {
					t.Fatalf("first bytes: %x, %v", b, err)
				}
				check := after.next(t, c)
				for range 2 { // and again: a stale message stays stale
					n, err := how.read(t, m)
					if n != 0 || !errors.Is(err, wsio.ErrStaleMessage) {
						t.Errorf("reading the stale message: %d bytes, %v; want 0 bytes and ErrStaleMessage", n, err)
					}
				}
				if check != nil {
					check()
				}
			})
		}
	}
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// wantText requires the next message to be the text "after".
func wantText(t *testing.T, c *wsio.Conn) func() {
	if got := nextText(t, testCtx(t), c); got != "after" {
		t.Fatalf("Next = %q, want \"after\"", got)
	}
	return nil
}

// TestServeEventsBinaryReaderStale: the reader given to a Binary callback
// is stale once the callback has returned and the connection moved on:
// reading it then fails with ErrStaleMessage, not io.EOF.
func TestServeEventsBinaryReaderStale(t *testing.T) {
	t.Parallel()
	leaked := make(chan io.Reader, 1)
	texts := make(chan string, 1)
	srv := wsio.NewEventServer(wsio.ServerOptions{}, wsio.Events{
		Binary: func(c *wsio.Conn, r io.Reader) {
			var b [10]byte
			_, _ = io.ReadFull(r, b[:])
			leaked <- r
		},
		Text: func(c *wsio.Conn, s string) { texts <- s },
	})
	url := startEventServer(t, srv, "Serve")
	c := dial(t, url, nil)
	ctx := testCtx(t)
	if err := c.SendBinary(ctx, pattern(100_000, 3)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText(ctx, "after"); err != nil {
		t.Fatal(err)
	}
	r := <-leaked
	select {
	case <-texts:
	case <-time.After(timeout):
		t.Fatal("the text message was not dispatched")
	}
	got := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		got <- err
	}()
	_ = c.Close(wsio.StatusNormalClosure, "") // lets the read take the lock if the server is waiting in Next
	select {
	case err := <-got:
		if !errors.Is(err, wsio.ErrStaleMessage) {
			t.Fatalf("reading the Binary callback's reader afterwards: %v, want ErrStaleMessage", err)
		}
	case <-time.After(timeout):
		t.Fatal("reading the Binary callback's reader afterwards did not return")
	}
}
