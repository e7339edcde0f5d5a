//go:build !js

package wsio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
)

// Serve's discard of what a Binary callback left unread (settleLocked) makes
// the callback's reader stale: it must not report the discarded rest as
// the message's clean end.
func TestSettleMakesBinaryStale(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, func(c *Conn) {
		_ = c.SendBinary(context.Background(), make([]byte, 100_000))
		_, _ = c.Next(context.Background())
	})
	c := dial(t, url, nil)
	m, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b [10]byte
	if _, err := io.ReadFull(m, b[:]); err != nil {
		t.Fatal(err)
	}
	if err := c.lockRead(context.Background()); err != nil {
		t.Fatal(err)
	}
	idle := c.settleLocked()
	c.unlockRead()
	if !idle {
		t.Fatal("settleLocked: the connection is not idle after the message's rest was discarded")
	}
	if n, err := io.Copy(io.Discard, m); n != 0 || !errors.Is(err, ErrStaleMessage) {
		t.Fatalf("after settleLocked: %d bytes, %v; want 0 and ErrStaleMessage", n, err)
	}
	_ = c.Close(StatusNormalClosure, "")
}

// A client copying a binary message into a file (the splice path) stops
// when Next's ctx ends while the splice waits for a stalled server, and
// goes on where it stopped through WithContext: the file ends up
// byte-exact, and the connection goes on working.
func TestSpliceHonoursContext(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("splice is Linux's")
	}
	sendfileMu.Lock()
	defer sendfileMu.Unlock()
	const size, head = 1 << 20, 1 << 10
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + i>>9)
	}
	frame := encFrame(true, 0, conn.OpBinary, payload, nil)
	cut := len(frame) - size + head
	resume := make(chan struct{})
	url := testServer(t, nil, func(c *Conn) {
		// The frame by hand, so it stops in the middle of its payload.
		if _, err := c.Transport().Write(frame[:cut]); err != nil {
			return
		}
		select {
		case <-resume:
		case <-c.Done():
			return
		}
		if _, err := c.Transport().Write(frame[cut:]); err != nil {
			return
		}
		ctx := context.Background()
		if m, err := c.Next(ctx); err == nil && m.Kind == Text {
			_ = c.SendText(ctx, "echo: "+m.Text)
		}
		_, _ = c.Next(ctx)
	})
	c := dial(t, url, &DialOptions{Options: Options{Compression: &Compression{Disabled: true}}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	before := spliceFrames.Load()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		n, err := io.Copy(out, m)
		got <- result{n, err}
	}()
	var r result
	select {
	case r = <-got:
	case <-time.After(5 * time.Second):
		close(resume) // let the copy end, so the test can
		<-got
		t.Fatal("the copy into a file did not return 5s after Next's ctx ended")
	}
	if !errors.Is(r.err, context.DeadlineExceeded) || r.n != head {
		t.Fatalf("the copy into a file: %d bytes, %v; want %d and context.DeadlineExceeded", r.n, r.err, head)
	}
	if spliceFrames.Load() == before {
		t.Fatal("the copy did not wait in (*os.File).ReadFrom")
	}

	close(resume)
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	n, err := io.Copy(out, m.WithContext(rctx))
	if err != nil || n != size-head {
		t.Fatalf("copying the rest: %d bytes, %v; want %d", n, err, size-head)
	}
	data, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, payload) {
		t.Fatal("the file differs from the message")
	}
	if err := c.SendText(rctx, "after"); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Next(rctx); err != nil || m.Text != "echo: after" {
		t.Fatalf("after the message: %q, %v", m.Text, err)
	}
	_ = c.Close(StatusNormalClosure, "")
}

// rwcOnly hides a net.Conn's deadlines: the connection sees a plain
// io.ReadWriteCloser.
type rwcOnly struct{ io.ReadWriteCloser }

// On a stream without deadlines, the end of Next's ctx can interrupt a
// message's read only by closing the connection; the read then fails with
// an error that says both.
func TestBinaryReadContextWithoutDeadlines(t *testing.T) {
	t.Parallel()
	srv, peer := net.Pipe()
	defer peer.Close()
	c := NewConn(rwcOnly{srv}, false, nil)
	defer c.CloseNow()
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	frame := encFrame(true, 0, conn.OpBinary, make([]byte, 10_000), &[4]byte{1, 2, 3, 4})
	go func() { _, _ = peer.Write(frame[:len(frame)-10_000+100]) }()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, m)
		got <- err
	}()
	select {
	case err := <-got:
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrClosed) {
			t.Fatalf("the read returned %v, want an error matching context.DeadlineExceeded, io.ErrUnexpectedEOF and ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		_ = c.CloseNow()
		<-got
		t.Fatal("the read did not return 5s after Next's ctx ended")
	}
	if c.State() != Closed {
		t.Fatalf("state %v, want closed", c.State())
	}
}

// A Read that starts with bytes the connection buffered while reading a
// frame's header goes on, without waiting, with what has arrived behind
// them, so a large destination is filled in one Read: at a message's
// first frame and at a continuation frame, client and server side (the
// server unmasking). A Read that returned only the buffered bytes would
// shift every later read of the frame against the payload, which makes
// the kernel's copy several times slower on some CPUs.
func TestReadFillsPastBuffered(t *testing.T) {
	t.Parallel()
	const size = 24 << 10 // over a read buffer's 16 KiB; two fit in a new socket's receive window
	payload := make([]byte, 2*size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	// reads waits until the whole message has surely arrived (it is two
	// frames of size bytes), then reads it with Reads of size bytes, and
	// returns how many bytes each got.
	reads := func(c *Conn) ([]int, []byte, error) {
		time.Sleep(200 * time.Millisecond)
		m, err := c.Next(context.Background())
		if err != nil {
			return nil, nil, err
		}
		var ns []int
		var got []byte
		p := make([]byte, size)
		for len(got) < len(payload) {
			n, err := m.Read(p)
			ns = append(ns, n)
			got = append(got, p[:n]...)
			if err != nil {
				return ns, got, err
			}
		}
		return ns, got, nil
	}
	frames := Options{FragmentSize: size}
	for _, tc := range []struct {
		name   string
		server bool // the server reads what the client sent
	}{{"client reads", false}, {"server reads", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				ns  []int
				got []byte
				err error
			}
			done := make(chan result, 1)
			url := testServer(t, &ServerOptions{Options: frames}, func(c *Conn) {
				if tc.server {
					ns, got, err := reads(c)
					done <- result{ns, got, err}
				} else {
					_ = c.SendBinary(context.Background(), payload)
				}
				_, _ = c.Next(context.Background())
			})
			c := dial(t, url, &DialOptions{Options: frames})
			defer c.CloseNow()
			if tc.server {
				if err := c.SendBinary(context.Background(), payload); err != nil {
					t.Fatal(err)
				}
			} else {
				ns, got, err := reads(c)
				done <- result{ns, got, err}
			}
			r := <-done
			if r.err != nil || !bytes.Equal(r.got, payload) {
				t.Fatalf("reading a %d-byte message: %d bytes (content equal: %v), %v", len(payload), len(r.got), bytes.Equal(r.got, payload[:len(r.got)]), r.err)
			}
			if len(r.ns) != 2 || r.ns[0] != size || r.ns[1] != size {
				t.Fatalf("Reads of %d bytes of a message of two %d-byte frames that had arrived returned %v bytes; want the two frames whole", size, size, r.ns)
			}
		})
	}
}
