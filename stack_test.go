//go:build !js

package wsio

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// A handler under Serve that reads each message (Next, then Read into its
// own buffer) and answers it (SendText, SendBinary) stays within the
// smallest goroutine stack, so an idle connection holds no more: the
// handshake runs on another goroutine, and the read and send paths are
// kept shallow enough for a handler of a few calls on top of them. A
// stack that grew would stay grown while the handler waits in Next.
func TestServeHandlerStack(t *testing.T) {
	// Not parallel: it measures the whole process's stack memory.
	if raceEnabled {
		t.Skip("the race detector doubles the stack guard, so every goroutine grows; test.sh runs this test without it")
	}
	if os.Getenv("WSIO_STACK_CHILD") == "" {
		// The measurement runs in a child process of its own whose
		// goroutines all start at the smallest stack, whatever the
		// average depth of other tests' goroutines would make it.
		cmd := exec.Command(os.Args[0], "-test.run=^TestServeHandlerStack$", "-test.v")
		cmd.Env = append(os.Environ(), "WSIO_STACK_CHILD=1", "GODEBUG=adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		t.Logf("child:\n%s", out)
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		return
	}
	const conns = 200
	ctx := context.Background()
	srv := NewServer(ServerOptions{}, func(c *Conn) { echoHandler(ctx, c) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "ws://" + ln.Addr().String()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	bin := bytes.Repeat([]byte("0123456789abcdef"), 64)
	got := make([]byte, len(bin)+1)
	clients := make([]*Conn, conns)
	for i := range clients {
		c, _, err := Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		if err := c.SendText(ctx, "hello"); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Next(ctx); err != nil || m.Text != "hello" {
			t.Fatalf("text echo: %q, %v", m.Text, err)
		}
		if err := c.SendBinary(ctx, bin); err != nil {
			t.Fatal(err)
		}
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.ReadFull(m, got); err != io.ErrUnexpectedEOF || !bytes.Equal(got[:n], bin) {
			t.Fatalf("binary echo: %d bytes, %v", n, err)
		}
	}
	if n := srv.Len(); n != conns {
		t.Fatalf("%d connections open, want %d", n, conns)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for _, c := range clients {
		_ = c.CloseNow()
	}
	// The handlers' goroutines are the only ones added; each one's stack
	// is 2 KiB unless it grew (then 4 KiB or more). Half a stack per
	// connection is left for the rest of the process.
	per := (int64(after.StackInuse) - int64(before.StackInuse)) / conns
	if per > 2<<10+1<<10 {
		t.Errorf("stack memory per connection with a handler waiting in Next: %d B, want about 2 KiB (a handler's stack grew)", per)
	}
	t.Logf("stack memory per connection: %d B; %d GCs", per, after.NumGC-before.NumGC)
}

// echoHandler sends each message back: a text message whole, a binary
// one read into a buffer of the handler's own.
func echoHandler(ctx context.Context, c *Conn) {
	buf := make([]byte, 4<<10)
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return
		}
		if m.Kind == Text {
			err = c.SendText(ctx, m.Text)
		} else {
			n := 0
			for err == nil && n < len(buf) {
				var k int
				k, err = m.Read(buf[n:])
				n += k
			}
			if err == io.EOF {
				err = c.SendBinary(ctx, buf[:n])
			}
		}
		if err != nil {
			return
		}
	}
}
