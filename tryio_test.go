//go:build unix

package wsio

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestTryIO: tryRead and tryWrite never wait, report what read(2) and
// write(2) did on a TCP socket, and do nothing on other connections.
func TestTryIO(t *testing.T) {
	t.Parallel()
	cl, sv := tcpPair(t)
	cl2, _ := tcpPair(t)
	buf := make([]byte, 64)

	start := time.Now()
	if n, ok, err := tryRead(sv, buf); ok || n != 0 || err != nil {
		t.Fatalf("nothing sent: tryRead = %d, %v, %v", n, ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("tryRead waited %v", d)
	}
	if n, err := tryWrite(cl, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("tryWrite = %d, %v", n, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, ok, err := tryRead(sv, buf)
		if ok {
			if n != 5 || err != nil || string(buf[:n]) != "hello" {
				t.Fatalf("tryRead = %d %q, %v", n, buf[:n], err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bytes written never showed")
		}
		time.Sleep(time.Millisecond)
	}
	_ = cl.Close()
	for {
		n, ok, err := tryRead(sv, buf)
		if ok {
			if n != 0 || err != io.EOF {
				t.Fatalf("after the peer closed: tryRead = %d, %v", n, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the end of the stream never showed")
		}
		time.Sleep(time.Millisecond)
	}
	// A deadline in the past and a closed socket are errors, as for
	// nc.Read and nc.Write, not "nothing yet".
	_ = cl2.SetDeadline(time.Unix(1, 0))
	if n, ok, err := tryRead(cl2, buf); !ok || n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: tryRead = %d, %v, %v", n, ok, err)
	}
	if n, err := tryWrite(cl2, []byte("x")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: tryWrite = %d, %v", n, err)
	}
	_ = sv.Close()
	if n, ok, err := tryRead(sv, buf); !ok || n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed: tryRead = %d, %v, %v", n, ok, err)
	}
	if n, err := tryWrite(sv, buf); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed: tryWrite = %d, %v", n, err)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if n, ok, err := tryRead(a, buf); ok || n != 0 || err != nil {
		t.Fatalf("net.Pipe: tryRead = %d, %v, %v", n, ok, err)
	}
	if n, err := tryWrite(a, buf); n != 0 || err != nil {
		t.Fatalf("net.Pipe: tryWrite = %d, %v", n, err)
	}
}
