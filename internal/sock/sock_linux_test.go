package sock

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// waker counts its wakes on a channel.
type waker chan struct{}

func (w waker) Wake() { w <- struct{}{} }

// An armed socket is woken once when bytes arrive, stays registered (Armed)
// until Disarm, and is woken again only after being armed again.
func TestArm(t *testing.T) {
	t.Parallel()
	cl, svc := pair(t, "tcp")
	sv := Of(svc)
	w := make(waker, 4)
	if sv.Armed() != nil {
		t.Fatal("armed before Arm")
	}
	if !sv.Arm(w) {
		t.Fatal("Arm failed on a TCP socket")
	}
	if got, _ := sv.Armed().(waker); got == nil {
		t.Fatal("Armed does not return the Waker")
	}
	select {
	case <-w:
		t.Fatal("woken with nothing to read")
	case <-time.After(20 * time.Millisecond):
	}
	if _, err := cl.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	wantWake(t, w)
	if _, err := cl.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w:
		t.Fatal("a one-shot registration woke twice")
	case <-time.After(20 * time.Millisecond):
	}
	if sv.Armed() == nil {
		t.Fatal("the registration is gone after its event")
	}
	if !sv.Arm(w) { // bytes are waiting: the event comes at once
		t.Fatal("Arm again failed")
	}
	wantWake(t, w)
	sv.Disarm()
	if sv.Armed() != nil {
		t.Fatal("armed after Disarm")
	}
	sv.Disarm() // twice is harmless

	// A closed socket cannot be armed, and a hung-up peer wakes.
	cl2, sv2c := pair(t, "tcp")
	sv2 := Of(sv2c)
	if !sv2.Arm(w) {
		t.Fatal("Arm failed")
	}
	_ = cl2.Close()
	wantWake(t, w)
	sv2.Disarm()
	_ = sv2c.Close()
	if sv2.Arm(w) {
		t.Fatal("a closed socket was armed")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Of(a).Arm(w) {
		t.Fatal("a pipe was armed")
	}
}

func wantWake(t *testing.T, w waker) {
	t.Helper()
	select {
	case <-w:
	case <-time.After(5 * time.Second):
		t.Fatal("never woken")
	}
}

// WriteMore and SendFile put a header and a file region on the wire in
// order, and SendFile moves the file's offset past what it sent.
func TestSendFile(t *testing.T) {
	t.Parallel()
	cl, svc := pair(t, "tcp")
	sv := Of(svc)
	if !sv.CanSendFile() {
		t.Fatal("a TCP socket cannot send files on Linux")
	}
	_, us := pair(t, "unix")
	if Of(us).CanSendFile() {
		t.Fatal("a Unix socket says it can send files")
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := sv.WriteMore([]byte("h"), false); n != 1 || err != nil {
		t.Fatalf("WriteMore, nothing more = %d, %v", n, err)
	}
	if n, err := sv.WriteMore([]byte("dr:"), true); n != 3 || err != nil {
		t.Fatalf("WriteMore = %d, %v", n, err)
	}
	if n, err := sv.SendFile(f, 5); n != 5 || err != nil {
		t.Fatalf("SendFile = %d, %v", n, err)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != 7 {
		t.Fatalf("the file's offset is %d, want 7", off)
	}
	// A region past the file's end is cut short, with an error.
	if n, err := sv.SendFile(f, 10); n != 3 || err == nil {
		t.Fatalf("past the end: SendFile = %d, %v", n, err)
	}
	got := make([]byte, 4+5+3)
	_ = cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cl, got); err != nil || string(got) != "hdr:23456789" {
		t.Fatalf("received %q, %v", got, err)
	}
}

// DeferAccept sets TCP_DEFER_ACCEPT on a TCP listener and leaves others
// alone.
func TestDeferAccept(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	DeferAccept(ln)
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	v := 0
	var gerr error
	_ = rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT)
	})
	if gerr != nil || v == 0 {
		t.Fatalf("TCP_DEFER_ACCEPT = %d, %v", v, gerr)
	}
	uln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer uln.Close()
	DeferAccept(uln) // not TCP: nothing to do, nothing to fail
}
