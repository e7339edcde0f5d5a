package sock

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// Relay moves exactly n bytes from one TCP socket to another, leaving the
// bytes after them in the source, and reports which side failed when it
// cannot.
func TestRelay(t *testing.T) {
	t.Parallel()
	data := make([]byte, 3<<20)
	r := rand.NewChaCha8([32]byte{'s'})
	_, _ = r.Read(data)

	feed, srcc := pair(t, "tcp")
	dstc, sink := pair(t, "tcp")
	src, dst := Of(srcc), Of(dstc)
	if !src.CanRelay() || !dst.CanRelay() {
		t.Fatal("TCP sockets cannot relay on Linux")
	}
	_, us := pair(t, "unix")
	if Of(us).CanRelay() {
		t.Fatal("a Unix socket says it can relay")
	}
	p, err := NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	go func() { _, _ = feed.Write(data) }()
	got := make(chan []byte, 1)
	n := int64(len(data) - 100)
	go func() {
		b := make([]byte, n)
		_ = sink.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.ReadFull(sink, b)
		got <- b
	}()
	_ = srcc.SetDeadline(time.Now().Add(10 * time.Second))
	_ = dstc.SetDeadline(time.Now().Add(10 * time.Second))
	moved, taken, serr, derr := dst.Relay(src, p, n)
	if moved != n || taken != n || serr != nil || derr != nil {
		t.Fatalf("Relay = %d, %d, %v, %v; want %d moved", moved, taken, serr, derr, n)
	}
	if b := <-got; !bytes.Equal(b, data[:n]) {
		t.Fatal("the relayed bytes differ")
	}
	rest := make([]byte, 100)
	if _, err := io.ReadFull(srcc, rest); err != nil || !bytes.Equal(rest, data[n:]) {
		t.Fatalf("the bytes after n are not left in the source: %v", err)
	}

	// The source's read deadline: a source error, nothing moved.
	_ = srcc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	moved, _, serr, derr = dst.Relay(src, p, 10)
	if moved != 0 || !errors.Is(serr, os.ErrDeadlineExceeded) || derr != nil {
		t.Fatalf("past the read deadline: Relay = %d, %v, %v", moved, serr, derr)
	}
	var oe *net.OpError
	if !errors.As(serr, &oe) {
		t.Fatalf("the deadline error is not a *net.OpError: %T", serr)
	}

	// The source ends early: io.EOF after what it had.
	_ = srcc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := feed.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	_ = feed.Close()
	moved, taken, serr, derr = dst.Relay(src, p, 10)
	if moved != 3 || taken != 3 || serr != io.EOF || derr != nil {
		t.Fatalf("a short source: Relay = %d, %d, %v, %v", moved, taken, serr, derr)
	}

	// The destination is closed: a destination error.
	feed2, srcc2 := pair(t, "tcp")
	if _, err := feed2.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	_ = dstc.Close()
	p2, err := NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	moved, _, serr, derr = dst.Relay(Of(srcc2), p2, 10)
	if moved != 0 || serr != nil || !errors.Is(derr, net.ErrClosed) {
		t.Fatalf("a closed destination: Relay = %d, %v, %v", moved, serr, derr)
	}

	// A nil or non-TCP side is not supported.
	if _, _, _, err := (*Socket)(nil).Relay(src, p, 1); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("nil Socket: %v", err)
	}
}
