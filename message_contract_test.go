//go:build !js

package wsio_test

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/internal/wstest"
)

// serverFrame is a final, unmasked frame of opcode op.
func serverFrame(op byte, payload []byte) []byte { return wstest.Frame(true, 0, op, payload, nil) }

var testMask = [4]byte{0x37, 0xFA, 0x21, 0x3D}

// masked returns p masked with testMask, as a client sends it.
func masked(p []byte) []byte { return wstest.Mask(testMask, p) }

// frameServer is a server that completes the handshake, sends frames
// (raw bytes) and then reads until the client hangs up. It returns the
// ws:// URL.
func frameServer(t *testing.T, frames []byte) string {
	t.Helper()
	return "ws://" + fakeServer(t, func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wstest.AcceptKey(key) + "\r\n\r\n" + string(frames)
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
	first, second := wstest.Pattern(size, 1), wstest.Pattern(3000, 2)
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
		{"nothing yet: Next timed out discarding", append(wstest.FrameHeader(0x82, size, nil), first[:size/2]...), func(t *testing.T, c *wsio.Conn) func() {
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
	if err := c.SendBinary(ctx, wstest.Pattern(100_000, 3)); err != nil {
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

// blockedIn reports whether a goroutine whose stack holds all of marks
// is waiting for the network.
func blockedIn(marks ...string) bool { return wstest.Goroutines("[IO wait", marks...) > 0 }

type readResult struct {
	data []byte
	err  error
	took time.Duration
}

// TestBinaryReadNextContext: the ctx given to Next governs the reads of
// the binary message it returned. A client sends the first 1 KiB of a
// message and stalls; the handler's read returns when Next's ctx ends
// (its deadline passes, or it is canceled while the read waits), with
// nothing lost: a later read through WithContext, once the client goes
// on, gets exactly the rest, and the connection goes on working.
func TestBinaryReadNextContext(t *testing.T) {
	t.Parallel()
	const size, head = 100_000, 1 << 10
	payload := wstest.Pattern(size, 4)
	wire := masked(payload)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		read func(m wsio.Message) ([]byte, error)
		want error
	}{
		{
			"deadline during io.Copy",
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			func(m wsio.Message) ([]byte, error) {
				var got bytes.Buffer
				_, err := io.Copy(&got, m)
				return got.Bytes(), err
			},
			context.DeadlineExceeded,
		},
		{
			"cancel during Read",
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			func(m wsio.Message) ([]byte, error) {
				var got []byte
				buf := make([]byte, 32<<10)
				for {
					n, err := m.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						return got, err
					}
				}
			},
			context.Canceled,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cancels := make(chan context.CancelFunc, 1)
			results := make(chan readResult, 4)
			_, url := newServer(t, wsio.ServerOptions{}, func(c *wsio.Conn) {
				ctx, cancel := tc.ctx()
				defer cancel()
				m, err := c.Next(ctx)
				if err != nil {
					results <- readResult{err: err}
					return
				}
				cancels <- cancel
				start := time.Now()
				got, err := tc.read(m)
				results <- readResult{got, err, time.Since(start)}
				// With ctx done, a read consumes nothing.
				n, err := m.Read(make([]byte, 10))
				results <- readResult{make([]byte, n), err, 0}
				// The rest, under a live context, once the client goes on.
				rctx, rcancel := context.WithTimeout(context.Background(), timeout)
				defer rcancel()
				rest, err := io.ReadAll(m.WithContext(rctx))
				results <- readResult{rest, err, 0}
				if m, err := c.Next(rctx); err == nil && m.Kind == wsio.Text {
					_ = c.SendText(rctx, "echo: "+m.Text)
				}
				drain(c)
			})
			nc, br := rawUpgrade(t, url)
			if _, err := nc.Write(append(wstest.FrameHeader(0x82, size, &testMask), wire[:head]...)); err != nil {
				t.Fatal(err)
			}
			var cancel context.CancelFunc
			select {
			case cancel = <-cancels:
			case r := <-results:
				t.Fatalf("the handler's Next: %v", r.err)
			case <-time.After(timeout):
				t.Fatal("the handler's Next did not return")
			}
			if tc.want == context.Canceled {
				waitUntil(t, "the handler's Read waits for the network", func() bool {
					return blockedIn("Message.Read(", "TestBinaryReadNextContext")
				})
				cancel()
			}
			r := wstest.Receive(t, results, "the read of a stalled message after its ctx ended")
			if !errors.Is(r.err, tc.want) {
				t.Fatalf("the read returned %v, want an error matching %v", r.err, tc.want)
			}
			if r.took > 3*time.Second {
				t.Errorf("the read returned %v after it began", r.took)
			}
			if !bytes.Equal(r.data, payload[:head]) {
				t.Fatalf("the read got %d bytes before it stopped, want the %d sent", len(r.data), head)
			}
			if r := wstest.Receive(t, results, "a read with ctx done"); len(r.data) != 0 || !errors.Is(r.err, tc.want) {
				t.Fatalf("a read with ctx done: %d bytes, %v; want 0 and %v", len(r.data), r.err, tc.want)
			}

			// The client goes on: the rest arrives whole and in order.
			if _, err := nc.Write(wire[head:]); err != nil {
				t.Fatal(err)
			}
			r = wstest.Receive(t, results, "reading the rest through WithContext")
			if r.err != nil || !bytes.Equal(r.data, payload[head:]) {
				t.Fatalf("the rest: %d bytes, %v; want the %d bytes after the first %d, intact", len(r.data), r.err, size-head, head)
			}
			if _, err := nc.Write(append(wstest.FrameHeader(0x81, 5, &testMask), masked([]byte("after"))...)); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(timeout))
			f, err := readFrame(br)
			if err != nil || f.op != 1 || string(f.payload) != "echo: after" {
				t.Fatalf("after the message: frame %d %q, %v; want the text echoed", f.op, f.payload, err)
			}
		})
	}
}

// TestCompressedBinaryReadNextContext: inside a compressed message the
// inflater cannot resume a read that was cut off, so the end of Next's
// ctx during a read ends the connection; the error says both.
func TestCompressedBinaryReadNextContext(t *testing.T) {
	t.Parallel()
	results := make(chan readResult, 1)
	conns := make(chan *wsio.Conn, 1)
	srv := wsio.NewServer(wsio.ServerOptions{Options: wsio.Options{Compression: &wsio.Compression{}}}, func(c *wsio.Conn) {
		conns <- c
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		m, err := c.Next(ctx)
		if err != nil {
			results <- readResult{err: err}
			return
		}
		var got bytes.Buffer
		start := time.Now()
		_, err = io.Copy(&got, m)
		results <- readResult{got.Bytes(), err, time.Since(start)}
	})
	url := startEventServer(t, srv, "net/http")

	// The handshake by hand, offering permessage-deflate.
	nc, br := rawDeflateUpgrade(t, url)
	_ = nc.SetDeadline(time.Now().Add(timeout))

	// A message that does not compress, so its first 1 KiB is a fraction.
	payload := wstest.RandomBytes(100_000, 1)
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	_, _ = fw.Write(payload)
	_ = fw.Flush()
	comp := bytes.TrimSuffix(z.Bytes(), []byte(deflate.FlushMarker))
	// FIN, RSV1, binary; the first 1 KiB of the payload, then nothing.
	if _, err := nc.Write(append(wstest.FrameHeader(0xC2, len(comp), &testMask), masked(comp[:1<<10])...)); err != nil {
		t.Fatal(err)
	}
	sc := wstest.Receive(t, conns, "the connection")
	r := wstest.Receive(t, results, "the read of a stalled compressed message after its ctx ended")
	if !errors.Is(r.err, context.DeadlineExceeded) || !errors.Is(r.err, io.ErrUnexpectedEOF) || !errors.Is(r.err, wsio.ErrClosed) {
		t.Fatalf("the read returned %v, want an error matching context.DeadlineExceeded, io.ErrUnexpectedEOF and ErrClosed", r.err)
	}
	if r.took > 3*time.Second {
		t.Errorf("the read returned %v after it began", r.took)
	}
	if !bytes.Equal(r.data, payload[:len(r.data)]) {
		t.Error("the bytes read before the deadline differ from the message's start")
	}
	select {
	case <-sc.Done():
	case <-time.After(timeout):
		t.Fatal("the connection is still open")
	}
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the peer's stream stayed open: %v", err)
	}
}
