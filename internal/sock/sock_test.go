//go:build unix

package sock

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pair returns the two ends of a loopback connection on network ("tcp"
// or "unix"), closed when the test ends.
func pair(t *testing.T, network string) (client, server net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// sendAndWant writes s to cl and waits for got, fed by a read waiting on
// the other end, to deliver it.
func sendAndWant(t *testing.T, cl net.Conn, got <-chan string, s string) {
	t.Helper()
	if _, err := cl.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r != s {
			t.Fatalf("read %q, want %q", r, s)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the read waiting for %q never returned", s)
	}
}

// eachNetwork runs f, in parallel subtests, on both ends of a TCP and of
// a Unix loopback connection (pair), with the server end's Socket.
func eachNetwork(t *testing.T, f func(t *testing.T, cl, svc net.Conn, sv *Socket)) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			cl, svc := pair(t, network)
			f(t, cl, svc, Of(svc))
		})
	}
}

// eventually calls f every millisecond until it reports true, failing
// the test after five seconds.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Of finds the socket under plain TCP and Unix connections only.
func TestOf(t *testing.T) {
	t.Parallel()
	tc, _ := pair(t, "tcp")
	uc, _ := pair(t, "unix")
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	tests := []struct {
		name string
		c    io.Reader
		want bool
	}{
		{"tcp", tc, true},
		{"unix", uc, true},
		{"pipe", a, false},
		{"tls", tls.Client(tc, &tls.Config{}), false},
		{"nil", nil, false},
		{"not a conn", os.Stdin, false},
	}
	for _, tt := range tests {
		if got := Of(tt.c) != nil; got != tt.want {
			t.Errorf("%s: Of = %v, want a socket: %v", tt.name, got, tt.want)
		}
	}
}

// A nil Socket does nothing and says so.
func TestNilSocket(t *testing.T) {
	t.Parallel()
	var s *Socket
	if b, n, err := s.Read(); b != nil || n != 0 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Read = %v, %d, %v", b, n, err)
	}
	if b, n, err := s.Peek(10); b != nil || n != 0 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Peek = %v, %d, %v", b, n, err)
	}
	if n, ok, err := s.TryRead(make([]byte, 1)); n != 0 || ok || err != nil {
		t.Errorf("TryRead = %d, %v, %v", n, ok, err)
	}
	if n, err := s.ReadInto(make([]byte, 1), true); n != 0 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ReadInto = %d, %v", n, err)
	}
	if n, err := s.TryWrite([]byte("x")); n != 0 || err != nil {
		t.Errorf("TryWrite = %d, %v", n, err)
	}
	if s.CanSplice() || s.CanSendFile() {
		t.Error("a nil Socket can splice or send files")
	}
	if _, err := s.SpliceTo(nil, 1); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SpliceTo: %v", err)
	}
	if _, err := s.SendFile(nil, 1); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SendFile: %v", err)
	}
	if _, err := s.WriteMore([]byte("x"), true); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("WriteMore: %v", err)
	}
	if s.Arm(nil) || s.Armed() != nil {
		t.Error("a nil Socket can be armed")
	}
	s.Disarm()
}

// TryRead and TryWrite never wait, report what read(2) and write(2) did
// on a TCP socket, and do nothing on a Unix socket.
func TestTryIO(t *testing.T) {
	t.Parallel()
	clc, svc := pair(t, "tcp")
	cl2c, _ := pair(t, "tcp")
	cl, sv, cl2 := Of(clc), Of(svc), Of(cl2c)
	buf := make([]byte, 64)

	start := time.Now()
	if n, ok, err := sv.TryRead(buf); ok || n != 0 || err != nil {
		t.Fatalf("nothing sent: TryRead = %d, %v, %v", n, ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("TryRead waited %v", d)
	}
	if n, err := cl.TryWrite([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("TryWrite = %d, %v", n, err)
	}
	eventually(t, "the bytes written showing", func() bool {
		n, ok, err := sv.TryRead(buf)
		if ok && (n != 5 || err != nil || string(buf[:n]) != "hello") {
			t.Fatalf("TryRead = %d %q, %v", n, buf[:n], err)
		}
		return ok
	})
	_ = clc.Close()
	eventually(t, "the end of the stream showing", func() bool {
		n, ok, err := sv.TryRead(buf)
		if ok && (n != 0 || err != io.EOF) {
			t.Fatalf("after the peer closed: TryRead = %d, %v", n, err)
		}
		return ok
	})
	// A deadline in the past and a closed socket are errors, as for Read
	// and Write, not "nothing yet".
	_ = cl2c.SetDeadline(time.Unix(1, 0))
	if n, ok, err := cl2.TryRead(buf); !ok || n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: TryRead = %d, %v, %v", n, ok, err)
	}
	if n, err := cl2.TryWrite([]byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: TryWrite = %d, %v", n, err)
	}
	_ = svc.Close()
	if n, ok, err := sv.TryRead(buf); !ok || n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed: TryRead = %d, %v, %v", n, ok, err)
	}
	if n, err := sv.TryWrite(buf); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed: TryWrite = %d, %v", n, err)
	}

	uc, us := pair(t, "unix")
	if _, err := uc.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := Of(us).TryRead(buf); ok || n != 0 || err != nil {
		t.Fatalf("unix: TryRead = %d, %v, %v", n, ok, err)
	}
	if n, err := Of(us).TryWrite(buf); n != 0 || err != nil {
		t.Fatalf("unix: TryWrite = %d, %v", n, err)
	}
}

// Read waits for data and hands over a buffer holding it; Peek looks
// without waiting or consuming; both report the end of the stream and a
// passed deadline.
func TestReadPeek(t *testing.T) {
	t.Parallel()
	eachNetwork(t, func(t *testing.T, cl, svc net.Conn, sv *Socket) {
		if b, n, err := sv.Peek(10); b != nil || n != 0 || err != nil {
			t.Fatalf("nothing sent: Peek = %v, %d, %v", b, n, err)
		}
		got := make(chan string, 1)
		go func() {
			b, n, err := sv.Read() // waits for the write below
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string((*b)[:n])
			PutBuffer(b)
		}()
		sendAndWant(t, cl, got, "hello")

		if _, err := cl.Write([]byte("world")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Peek seeing the bytes", func() bool {
			b, n, err := sv.Peek(3)
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			if b == nil {
				return false
			}
			defer PutBuffer(b)
			if string((*b)[:n]) != "wor" {
				t.Fatalf("Peek(3) = %q", (*b)[:n])
			}
			return true
		})
		b, n, err := sv.Read()
		if err != nil || string((*b)[:n]) != "world" {
			t.Fatalf("Read after Peek = %d, %v", n, err)
		}
		PutBuffer(b)

		_ = svc.SetReadDeadline(time.Unix(1, 0))
		if _, _, err := sv.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("past deadline: Read: %v", err)
		}
		if _, _, err := sv.Peek(10); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("past deadline: Peek: %v", err)
		}
		_ = svc.SetReadDeadline(time.Time{})
		_ = cl.Close()
		eventually(t, "Peek seeing the end", func() bool {
			_, _, err := sv.Peek(10)
			return err == io.EOF
		})
		if b, _, err := sv.Read(); b != nil || err != io.EOF {
			t.Fatalf("after the peer closed: Read: %v", err)
		}
		_ = svc.Close()
		if _, _, err := sv.Read(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("closed: Read: %v", err)
		}
	})
}

// ReadInto reads what has arrived straight into its destination; without
// wait it returns 0 at once when nothing has, with wait it waits for the
// next bytes; it reports the end of the stream, a passed deadline and a
// closed socket as Read does, and Read works as before after it.
func TestReadInto(t *testing.T) {
	t.Parallel()
	eachNetwork(t, func(t *testing.T, cl, svc net.Conn, sv *Socket) {
		p := make([]byte, 8)
		start := time.Now()
		if n, err := sv.ReadInto(p, false); n != 0 || err != nil {
			t.Fatalf("nothing sent: ReadInto = %d, %v", n, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("ReadInto without wait waited %v", d)
		}
		if _, err := cl.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		var got []byte
		eventually(t, "ReadInto reading the bytes", func() bool {
			n, err := sv.ReadInto(p, false)
			if err != nil {
				t.Fatalf("ReadInto: %v", err)
			}
			got = append(got, p[:n]...)
			return len(got) >= len(p)
		})
		if string(got) != "01234567" {
			t.Fatalf("ReadInto read %q, want the first %d bytes", got, len(p))
		}
		b, n, err := sv.Read() // the rest
		if err != nil || string((*b)[:n]) != "89" {
			t.Fatalf("Read after ReadInto = %d, %v", n, err)
		}
		PutBuffer(b)
		go func() { time.Sleep(10 * time.Millisecond); _, _ = cl.Write([]byte("!")) }()
		if n, err := sv.ReadInto(p, true); err != nil || string(p[:n]) != "!" {
			t.Fatalf("ReadInto waiting = %q, %v", p[:n], err)
		}

		_ = svc.SetReadDeadline(time.Unix(1, 0))
		if _, err := sv.ReadInto(p, true); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("past deadline: ReadInto: %v", err)
		}
		_ = svc.SetReadDeadline(time.Time{})
		_ = cl.Close()
		if n, err := sv.ReadInto(p, true); n != 0 || err != io.EOF {
			t.Fatalf("after the peer closed: ReadInto = %d, %v", n, err)
		}
		if b, _, err := sv.Read(); b != nil || err != io.EOF {
			t.Fatalf("after ReadInto met the end: Read: %v", err)
		}
		_ = svc.Close()
		if _, err := sv.ReadInto(p, false); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("closed: ReadInto: %v", err)
		}
	})
}

// SpliceTo moves exactly the bytes asked for from the socket into a file.
func TestSpliceTo(t *testing.T) {
	t.Parallel()
	cl, svc := pair(t, "tcp")
	sv := Of(svc)
	if !sv.CanSplice() {
		t.Fatal("a TCP socket cannot splice")
	}
	if _, err := cl.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := sv.SpliceTo(f, 6); n != 6 || err != nil {
		t.Fatalf("SpliceTo = %d, %v", n, err)
	}
	rest := make([]byte, 4)
	if _, err := io.ReadFull(svc, rest); err != nil || string(rest) != "6789" {
		t.Fatalf("after SpliceTo the socket holds %q, %v", rest, err)
	}
	if b, err := os.ReadFile(f.Name()); err != nil || string(b) != "012345" {
		t.Fatalf("the file holds %q, %v", b, err)
	}
	_, us := pair(t, "unix")
	if Of(us).CanSplice() {
		t.Fatal("a Unix socket says it can splice")
	}
}

// fillPlaces fills every empty place with a new buffer, or with full false
// empties them into the pool; the places are as before when the test ends.
func fillPlaces(t *testing.T, full bool) {
	t.Helper()
	var saved [places]*[]byte
	for i := range place {
		saved[i] = place[i].Swap(nil)
		if full {
			b := make([]byte, BufferSize)
			place[i].Store(&b)
		}
	}
	t.Cleanup(func() {
		for i := range place {
			place[i].Store(saved[i])
		}
	})
}

// The read callback uses the places only. With none to take, it returns
// without reading, and Read hands it a buffer from the pool; with no room
// for the buffer it would wait without, it returns it, and Read gives it
// back to the pool and lets it take one from the places. Both ways the
// bytes are read as they would be otherwise.
func TestReadPlaces(t *testing.T) {
	// Not parallel: the places are the whole package's.
	cl, svc := pair(t, "tcp")
	sv := Of(svc)
	if err := sv.Bind(); err != nil {
		t.Fatal(err)
	}

	// No buffer in the places: the callback asks for one.
	fillPlaces(t, false)
	if _, err := cl.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	sv.buf, sv.peek, sv.done = nil, false, false
	eventually(t, "the callback reading", func() bool {
		if err := sv.rc.Read(sv.fn); err != nil || sv.done || sv.buf != nil {
			t.Fatalf("no buffer to take: callback: %v, done %v, buf %v", err, sv.done, sv.buf != nil)
		}
		if err := sv.retry(); err != nil {
			t.Fatal(err)
		}
		if !sv.done || sv.buf == nil {
			t.Fatalf("after retry: done %v, buf %v", sv.done, sv.buf != nil)
		}
		n := int(sv.n)
		got := string((*sv.buf)[:n])
		PutBuffer(sv.buf)
		sv.buf, sv.done = nil, false
		if n == 0 { // not arrived yet (EAGAIN with the buffer placed is not a read)
			return false
		}
		if got != "one" {
			t.Fatalf("read %q", got)
		}
		return true
	})

	// Every place taken: the buffer the callback holds when nothing has
	// arrived has nowhere to wait, so it comes back to the caller.
	b := GetBuffer()
	fillPlaces(t, true)
	sv.buf, sv.peek, sv.done = b, false, false
	if err := sv.rc.Read(sv.fn); err != nil || sv.done || sv.buf != b {
		t.Fatalf("no room: callback: %v, done %v, same buffer %v", err, sv.done, sv.buf == b)
	}
	got := make(chan string, 1)
	go func() {
		if err := sv.retry(); err != nil {
			got <- err.Error()
			return
		}
		read := string((*sv.buf)[:sv.n])
		PutBuffer(sv.buf) // before got: the places are checked once it is read
		sv.buf = nil
		got <- read
	}()
	sendAndWant(t, cl, got, "two")
	for i := range place {
		if place[i].Load() == nil {
			t.Fatalf("place %d empty after a read that waited with the places full", i)
		}
	}
}

// Write sends a header and a payload in order, all of it however much the
// socket takes at once, and fails as net.Conn's Write does.
func TestWrite(t *testing.T) {
	t.Parallel()
	if !Writev {
		t.Skip("Write is Linux's only; connections elsewhere write through net.Conn")
	}
	eachNetwork(t, func(t *testing.T, cl, svc net.Conn, sv *Socket) {
		hdr := []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0x40, 0, 0}
		p := make([]byte, 4<<20) // more than a socket buffer takes at once
		for i := range p {
			p[i] = byte(i * 7)
		}
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(cl, int64(len(hdr)+len(p))))
			got <- b
		}()
		if n, err := sv.Write(hdr, p); n != len(hdr)+len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		b := <-got
		if string(b[:len(hdr)]) != string(hdr) || string(b[len(hdr):]) != string(p) {
			t.Fatal("the bytes read are not the header and then the payload")
		}
		if n, err := sv.Write(nil, []byte("x")); n != 1 || err != nil {
			t.Fatalf("Write without a header = %d, %v", n, err)
		}

		_ = svc.SetWriteDeadline(time.Unix(1, 0))
		n, err := sv.Write(hdr, p)
		var oe *net.OpError
		if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "write" {
			t.Fatalf("past deadline: Write = %d, %v", n, err)
		}
		_ = svc.SetWriteDeadline(time.Time{})
		_ = svc.Close()
		if _, err := sv.Write(hdr, nil); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("closed: Write: %v", err)
		}
	})
}
