//go:build !js

package wsio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/wsio/wsio/conn"
)

// A handler, under Serve and mounted on net/http, whose own frames above
// Next, Read and Send take about 550 bytes (the test logs the figure: a
// frame of padding and a loop that waits in Next, answers text with
// SendText, reads each binary message through an io.Reader as io.Copy and
// io.ReadFull do, and answers it with SendBinary) stays on the smallest
// goroutine stack, 2 KiB, so an idle connection's handler holds no more:
// the loop's frame never moves, which it does when the stack grows, and a
// grown stack would stay grown while the handler waits. The handshake
// runs on another goroutine. The messages cover a text message's start
// (where Next allocates its string), a read of buffered bytes, a read that
// goes on from them into the socket (64 KiB messages), and the wait
// between messages. With a slow peer, whose messages pause inside a frame
// and between two frames, the reads wait inside messages, a few frames
// deeper than Next: there the handler, without the padding frame, takes
// about 490 bytes.
func TestHandlerStack(t *testing.T) {
	// Not parallel: the child process runs alone.
	if raceEnabled {
		t.Skip("the race detector doubles the stack guard, so every goroutine grows; test.sh runs this test without it")
	}
	if os.Getenv("WSIO_STACK_CHILD") == "" {
		// The handlers run in a child process of its own whose goroutines
		// all start at the smallest stack, whatever the average depth of
		// other tests' goroutines would make it.
		cmd := exec.Command(os.Args[0], "-test.run=^TestHandlerStack$", "-test.v")
		cmd.Env = append(os.Environ(), "WSIO_STACK_CHILD=1", "GODEBUG=adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		t.Logf("child:\n%s", out)
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		return
	}
	const conns = 32
	for _, tc := range []struct {
		mount string
		slow  bool // the peer pauses inside messages: the reads wait there
	}{{"Serve", false}, {"net/http", false}, {"Serve", true}, {"net/http", true}} {
		name := tc.mount + "/fast peer"
		if tc.slow {
			name = tc.mount + "/slow peer"
		}
		t.Run(name, func(t *testing.T) {
			// Allocated here, so that the handlers allocate nothing.
			runs := make([]stackRun, conns)
			for i := range runs {
				runs[i].buf = make([]byte, 64<<10)
			}
			var next atomic.Int32
			var wg sync.WaitGroup
			wg.Add(conns)
			srv := NewServer(ServerOptions{}, func(c *Conn) {
				defer wg.Done()
				var top byte
				run := &runs[next.Add(1)-1]
				run.c, run.top = c, uintptr(unsafe.Pointer(&top))
				if tc.slow {
					run.loop() // a frame less than the fast peer's handler
				} else {
					stackPad(0, run)
				}
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if tc.mount == "Serve" {
				go func() { _ = srv.Serve(ln) }()
			} else {
				hs := &http.Server{Handler: srv}
				go func() { _ = hs.Serve(ln) }()
				defer hs.Close()
			}
			defer srv.Close()
			for range conns {
				exchange(t, "ws://"+ln.Addr().String(), tc.slow)
			}
			wg.Wait()
			moved := 0
			for i := range runs {
				run := &runs[i]
				if run.err != nil {
					t.Fatal(run.err)
				}
				if run.moved {
					moved++
				}
			}
			// A handler may meet a slow path now and then (a sync.Pool's
			// first Get on a P after a collection, an allocation that
			// refills the allocator's cache, a wait in the middle of a
			// message); a path of wsio's that is too deep grows every
			// handler's stack.
			if moved > conns/2 {
				t.Errorf("%d of %d handlers' stacks grew, with %d bytes of frames of their own above their loop over Next, Read and Send", moved, conns, runs[0].depth)
			}
			t.Logf("%d bytes of each handler's frames above its loop; %d of %d stacks grew", runs[0].depth, moved, conns)
		})
	}
}

// stackRun is the state of TestHandlerStack's handler.
type stackRun struct {
	c     *Conn
	m     Message // the binary message being read, through an io.Reader
	buf   []byte
	top   uintptr // the address of a variable in the handler's frame
	depth uintptr // the bytes of frames from top down to the loop's
	moved bool    // whether the loop's frame moved (the stack grew) before the close
	err   error
}

// loop answers each text message with SendText and each binary message,
// read through an io.Reader into buf, with SendBinary, until Next fails.
func (run *stackRun) loop() {
	var here byte
	at := uintptr(unsafe.Pointer(&here))
	run.depth = run.top - at
	ctx := context.Background()
	var rd io.Reader = &run.m
	for {
		m, err := run.c.Next(ctx)
		if err != nil {
			break
		}
		if m.Kind == Text {
			err = run.c.SendText(ctx, m.Text)
		} else {
			run.m = m
			n := 0
			for err == nil && n < len(run.buf) {
				var k int
				k, err = rd.Read(run.buf[n:])
				n += k
			}
			if err == io.EOF {
				err = run.c.SendBinary(ctx, run.buf[:n])
			}
		}
		if err != nil {
			run.err = fmt.Errorf("handler: %w", err)
			return
		}
		// Looked at after each answer: the close handshake that ends
		// the loop runs once, when the connection is no longer idle.
		run.moved = run.moved || at != uintptr(unsafe.Pointer(&here))
	}
}

// exchange sends TestHandlerStack's messages to the server at url and
// checks each answer, then closes the connection; with slow, some of the
// messages pause in the middle (slowMessage).
func exchange(t *testing.T, url string, slow bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var o *DialOptions
	if slow {
		o = &DialOptions{Options: Options{FragmentSize: 16 << 10}} // continuation frames too
	}
	c, _, err := Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	got := make([]byte, 64<<10+1)
	for i := range 20 {
		if slow && i%4 == 3 {
			// A slow peer: a message that stops for a while inside a
			// frame, or between two of its frames.
			slowMessage(t, c, i%8 == 3, got)
			continue
		}
		if err := c.SendText(ctx, "hello"); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Next(ctx); err != nil || m.Text != "hello" {
			t.Fatalf("text echo: %q, %v", m.Text, err)
		}
		size := 16
		if i%2 == 1 {
			size = 64<<10 - i // large: read straight from the socket and on past the buffered bytes
		}
		bin := bytes.Repeat([]byte{byte(i)}, size)
		if err := c.SendBinary(ctx, bin); err != nil {
			t.Fatal(err)
		}
		wantEcho(t, c, bin, got)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// slowMessage sends a 32 KiB binary message on c that pauses, inside its
// one frame (written raw) when inFrame is set, else between its two
// frames, and checks its echo, read into got.
func slowMessage(t *testing.T, c *Conn, inFrame bool, got []byte) {
	ctx := context.Background()
	bin := bytes.Repeat([]byte("slow"), 8<<10)
	if inFrame {
		key := [4]byte{1, 2, 3, 4}
		frame := make([]byte, conn.MaxHeaderSize+len(bin))
		hn := conn.PutHeader(frame, true, 0, conn.OpBinary, int64(len(bin)), &key)
		copy(frame[hn:], bin)
		conn.Mask(key, 0, frame[hn:hn+len(bin)])
		frame = frame[:hn+len(bin)]
		half := hn + len(bin)/2
		if _, err := c.Transport().Write(frame[:half]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := c.Transport().Write(frame[half:]); err != nil {
			t.Fatal(err)
		}
	} else {
		w, err := c.BeginBinary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(bin[:len(bin)/2]); err != nil { // a whole frame: it goes out
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := w.Write(bin[len(bin)/2:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	wantEcho(t, c, bin, got)
}

// wantEcho reads the next message on c into got, which is longer, and
// checks that it is the binary message bin.
func wantEcho(t *testing.T, c *Conn, bin, got []byte) {
	t.Helper()
	m, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(m, got); err != io.ErrUnexpectedEOF || !bytes.Equal(got[:n], bin) {
		t.Fatalf("binary echo of %d bytes: %d bytes, %v", len(bin), n, err)
	}
}

// stackSink keeps stackPad's frames from being optimized away.
var stackSink byte

// stackPad runs run.loop under levels frames of its own.
//
//go:noinline
func stackPad(levels int, run *stackRun) {
	var pad [32]byte
	pad[levels%len(pad)] = byte(levels)
	if levels > 0 {
		stackPad(levels-1, run)
	} else {
		run.loop()
	}
	stackSink += pad[int(stackSink)%len(pad)]
}
