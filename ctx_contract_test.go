//go:build !js

package wsio_test

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/internal/wstest"
)

// These tests hold the connection to Go's context rule: a call whose ctx
// is already done returns ctx.Err() itself and touches nothing (no byte
// written or read, no lock kept, the connection open and usable), and a
// ctx that ends after a message started going out closes the connection
// with a *CloseError matching both ctx.Err() and ErrClosed.

// ctxRounds is how many times each done-ctx call is tried: a write that
// races the ctx's deadline watch goes out on some tries only.
const ctxRounds = 50

// doneCtxs are the two ways a ctx is done before the call.
var doneCtxs = []struct {
	name string
	make func(t *testing.T) context.Context
}{
	{"canceled", func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}},
	{"past deadline", func(t *testing.T) context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		t.Cleanup(cancel)
		return ctx
	}},
}

// endingCtxs are the two ways a ctx ends during a call: end makes the
// ctx done and returns once it is.
var endingCtxs = []struct {
	name string
	want error
	make func(t *testing.T) (ctx context.Context, end func())
}{
	{"canceled", context.Canceled, func(t *testing.T) (context.Context, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return ctx, cancel
	}},
	{"deadline", context.DeadlineExceeded, func(t *testing.T) (context.Context, func()) {
		ctx := &passableDeadline{done: make(chan struct{})}
		t.Cleanup(ctx.pass)
		return ctx, ctx.pass
	}},
}

// passableDeadline is a context whose deadline passes when pass is
// called: a timer would race the work a test needs done before it.
type passableDeadline struct {
	done chan struct{}
	once sync.Once
}

func (c *passableDeadline) pass() { c.once.Do(func() { close(c.done) }) }

func (c *passableDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *passableDeadline) Done() <-chan struct{}       { return c.done }
func (c *passableDeadline) Value(any) any               { return nil }

func (c *passableDeadline) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// compressions are the server's compression settings; a default client
// offers permessage-deflate, so the server's choice decides.
var compressions = []struct {
	name string
	c    *wsio.Compression
}{
	{"plain", nil},
	{"deflate", &wsio.Compression{}},
}

// received is one message (or the error that ended reading) as a peer
// saw it.
type received struct {
	kind wsio.Kind
	data []byte
	err  error
}

// recordingServer starts a server whose handler reads every message into
// the returned channel (ending with the error that stopped it) and counts
// the pings it sees.
func recordingServer(t *testing.T, o wsio.ServerOptions) (string, <-chan received, *atomic.Int32) {
	t.Helper()
	msgs := make(chan received, 4*ctxRounds)
	pings := new(atomic.Int32)
	o.OnPing = func([]byte) { pings.Add(1) }
	_, url := newServer(t, o, func(c *wsio.Conn) {
		for {
			k, b, err := readMessage(context.Background(), c)
			msgs <- received{k, b, err}
			if err != nil {
				return
			}
		}
	})
	return url, msgs, pings
}

// nextReceived waits for the peer's next message.
func nextReceived(t *testing.T, msgs <-chan received) received {
	t.Helper()
	select {
	case r := <-msgs:
		return r
	case <-time.After(timeout):
		t.Fatal("the peer received nothing")
		return received{}
	}
}

// wantMarker requires the peer's next message to be the text marker:
// whatever was tried before it sent nothing.
func wantMarker(t *testing.T, msgs <-chan received, marker string) {
	t.Helper()
	r := nextReceived(t, msgs)
	if r.err != nil || r.kind != wsio.Text || string(r.data) != marker {
		t.Fatalf("the peer's next message is %v %.40q (%v), want the marker %q: the call sent something", r.kind, r.data, r.err, marker)
	}
}

// wantCtxClose requires err to be the *CloseError (1006) of a connection
// that ctx's end closed: matching want and ErrClosed.
func wantCtxClose(t *testing.T, err, want error) {
	t.Helper()
	var ce *wsio.CloseError
	if !errors.Is(err, want) || !errors.Is(err, wsio.ErrClosed) || !errors.As(err, &ce) || ce.Code != wsio.StatusAbnormalClosure {
		t.Fatalf("error = %v, want a *CloseError 1006 matching %v and ErrClosed", err, want)
	}
}

var (
	payload10  = bytes.Repeat([]byte("x"), 10)
	payload64K = bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
	payload4M  = bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
)

// TestDoneCtxSendsNothing: every send with a ctx already done returns
// ctx.Err() itself, and the peer's next message is the marker sent after
// it, on every try; the connection stays open.
func TestDoneCtxSendsNothing(t *testing.T) {
	t.Parallel()
	calls := []struct {
		name string
		call func(ctx context.Context, c *wsio.Conn) error
	}{
		{"SendText", func(ctx context.Context, c *wsio.Conn) error { return c.SendText(ctx, "must not arrive") }},
		{"SendBinary 10 B", func(ctx context.Context, c *wsio.Conn) error { return c.SendBinary(ctx, payload10) }},
		{"SendBinary 64 KiB", func(ctx context.Context, c *wsio.Conn) error { return c.SendBinary(ctx, payload64K) }},
		{"SendBinary 4 MiB", func(ctx context.Context, c *wsio.Conn) error { return c.SendBinary(ctx, payload4M) }},
		{"BeginBinary", func(ctx context.Context, c *wsio.Conn) error {
			w, err := c.BeginBinary(ctx)
			if w != nil {
				_ = w.Close()
				return fmt.Errorf("BeginBinary returned a stream (and %v)", err)
			}
			return err
		}},
		{"Ping", func(ctx context.Context, c *wsio.Conn) error { return c.Ping(ctx, []byte("must not arrive")) }},
	}
	for _, comp := range compressions {
		for _, call := range calls {
			for _, done := range doneCtxs {
				t.Run(comp.name+"/"+call.name+"/"+done.name, func(t *testing.T) {
					t.Parallel()
					url, msgs, pings := recordingServer(t, wsio.ServerOptions{Options: wsio.Options{Compression: comp.c}})
					c := dial(t, url, nil)
					live := testCtx(t)
					for i := range ctxRounds {
						ctx := done.make(t)
						if err := call.call(ctx, c); err != ctx.Err() {
							t.Fatalf("try %d: %s = %v, want ctx.Err() (%v) itself", i, call.name, err, ctx.Err())
						}
						if s := c.State(); s != wsio.Open {
							t.Fatalf("try %d: state %v after the call, want open", i, s)
						}
						marker := fmt.Sprintf("marker %d", i)
						if err := c.SendText(live, marker); err != nil {
							t.Fatalf("try %d: SendText(marker) after the call: %v", i, err)
						}
						wantMarker(t, msgs, marker)
						if n := pings.Load(); n != 0 {
							t.Fatalf("try %d: the peer saw %d pings", i, n)
						}
					}
				})
			}
		}
	}
}

// TestDoneCtxNextReadsNothing: Next with a ctx already done returns
// ctx.Err() itself and leaves the waiting message for the next Next.
func TestDoneCtxNextReadsNothing(t *testing.T) {
	t.Parallel()
	for _, done := range doneCtxs {
		t.Run(done.name, func(t *testing.T) {
			t.Parallel()
			_, url := newServer(t, wsio.ServerOptions{}, echo)
			c := dial(t, url, nil)
			live := testCtx(t)
			for i := range ctxRounds {
				marker := fmt.Sprintf("marker %d", i)
				if err := c.SendText(live, marker); err != nil {
					t.Fatal(err)
				}
				ctx := done.make(t)
				if m, err := c.Next(ctx); err != ctx.Err() {
					t.Fatalf("try %d: Next = %v %.40q, %v; want ctx.Err() (%v) itself", i, m.Kind, m.Text, err, ctx.Err())
				}
				if got := nextText(t, live, c); got != marker {
					t.Fatalf("try %d: the next Next read %q, want %q", i, got, marker)
				}
				if s := c.State(); s != wsio.Open {
					t.Fatalf("try %d: state %v, want open", i, s)
				}
			}
		})
	}
}

// TestDoneCtxDialDoesNotDial: Dial with a ctx already done returns
// ctx.Err() itself without opening a connection.
func TestDoneCtxDialDoesNotDial(t *testing.T) {
	t.Parallel()
	for _, done := range doneCtxs {
		t.Run(done.name, func(t *testing.T) {
			t.Parallel()
			srv, url := newServer(t, wsio.ServerOptions{}, echo)
			var dials atomic.Int32
			o := &wsio.DialOptions{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return new(net.Dialer).DialContext(ctx, network, addr)
			}}
			for i := range ctxRounds {
				ctx := done.make(t)
				c, resp, err := wsio.Dial(ctx, url, o)
				if err != ctx.Err() || c != nil || resp != nil {
					t.Fatalf("try %d: Dial = %v, %v, %v; want ctx.Err() (%v) itself", i, c, resp, err, ctx.Err())
				}
				if n := dials.Load(); n != 0 {
					t.Fatalf("try %d: Dial dialed %d times", i, n)
				}
			}
			if n := srv.Len(); n != 0 {
				t.Fatalf("the server has %d connections", n)
			}
			roundTrip(t, dial(t, url, o), "live") // the options do work
		})
	}
}

// TestDoneCtxBroadcastSendsNothing: Broadcast (SendPrepared on each
// connection) with a ctx already done returns ctx.Err() itself and no
// client receives anything.
func TestDoneCtxBroadcastSendsNothing(t *testing.T) {
	t.Parallel()
	comps := append(compressions[:len(compressions):len(compressions)], struct {
		name string
		c    *wsio.Compression
	}{"deflate without takeover", &wsio.Compression{NoContextTakeover: true}})
	for _, comp := range comps {
		for _, done := range doneCtxs {
			t.Run(comp.name+"/"+done.name, func(t *testing.T) {
				t.Parallel()
				srv, url := newServer(t, wsio.ServerOptions{Options: wsio.Options{Compression: comp.c}}, drain)
				clients := []*wsio.Conn{dial(t, url, nil), dial(t, url, nil)}
				waitUntil(t, "both clients are tracked", func() bool { return srv.Len() == len(clients) })
				live := testCtx(t)
				for i := range ctxRounds {
					ctx := done.make(t)
					if err := srv.Broadcast(ctx, wsio.Binary, payload64K); err != ctx.Err() {
						t.Fatalf("try %d: Broadcast = %v, want ctx.Err() (%v) itself", i, err, ctx.Err())
					}
					marker := fmt.Sprintf("marker %d", i)
					if err := srv.Broadcast(live, wsio.Text, []byte(marker)); err != nil {
						t.Fatalf("try %d: Broadcast(marker): %v", i, err)
					}
					for j, c := range clients {
						if got := nextText(t, live, c); got != marker {
							t.Fatalf("try %d: client %d got %q, want %q", i, j, got, marker)
						}
					}
				}
			})
		}
	}
}

// hookConn is a client's net.Conn that calls a hook after each write.
type hookConn struct {
	net.Conn
	after atomic.Pointer[func(n int)]
}

func (h *hookConn) Write(p []byte) (int, error) {
	n, err := h.Conn.Write(p)
	if f := h.after.Load(); f != nil {
		(*f)(n)
	}
	return n, err
}

// dialHooked dials url through a hookConn.
func dialHooked(t *testing.T, url string, o wsio.Options) (*wsio.Conn, *hookConn) {
	t.Helper()
	var hc *hookConn
	c := dial(t, url, &wsio.DialOptions{Options: o, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := new(net.Dialer).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		hc = &hookConn{Conn: nc}
		return hc, nil
	}})
	return c, hc
}

// TestCtxEndsMidFrame: a ctx that ends while a large frame is being
// written to a peer that does not read closes the connection, and the
// error matches ctx's error and ErrClosed.
func TestCtxEndsMidFrame(t *testing.T) {
	t.Parallel()
	const size = 32 << 20 // one frame, far more than the socket buffers hold
	big := make([]byte, size)
	for _, end := range endingCtxs {
		t.Run("server to a raw peer/"+end.name, func(t *testing.T) {
			t.Parallel()
			ctx, endCtx := end.make(t)
			type outcome struct {
				err   error
				state wsio.State
			}
			out := make(chan outcome, 1)
			_, url := newServer(t, wsio.ServerOptions{Options: wsio.Options{FragmentSize: size}}, func(c *wsio.Conn) {
				err := c.SendBinary(ctx, big)
				out <- outcome{err, c.State()}
			})
			nc, br := rawUpgradeBuffer(t, url, 4096)
			_ = nc.SetReadDeadline(time.Now().Add(timeout))
			if _, err := br.Peek(2); err != nil { // the frame is on its way
				t.Fatal(err)
			}
			endCtx()
			select {
			case o := <-out:
				wantCtxClose(t, o.err, end.want)
				if o.state != wsio.Closed {
					t.Fatalf("state %v after the broken send, want closed", o.state)
				}
			case <-time.After(timeout):
				t.Fatal("SendBinary did not return")
			}
		})
		t.Run("client to a server that does not read/"+end.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			_, url := newServer(t, wsio.ServerOptions{}, func(c *wsio.Conn) {
				<-release
				drain(c)
			})
			t.Cleanup(func() { close(release) }) // before the server's shutdown
			c, hc := dialHooked(t, url, wsio.Options{FragmentSize: size})
			started := make(chan struct{})
			var once sync.Once
			hook := func(n int) {
				if n > 0 {
					once.Do(func() { close(started) })
				}
			}
			hc.after.Store(&hook)
			ctx, endCtx := end.make(t)
			sent := make(chan error, 1)
			go func() { sent <- c.SendBinary(ctx, big) }()
			select {
			case <-started: // part of the frame went out
			case <-time.After(timeout):
				t.Fatal("SendBinary wrote nothing")
			}
			endCtx()
			select {
			case err := <-sent:
				wantCtxClose(t, err, end.want)
			case <-time.After(timeout):
				t.Fatal("SendBinary did not return")
			}
			if s := c.State(); s != wsio.Closed {
				t.Fatalf("state %v after the broken send, want closed", s)
			}
		})
	}
}

// TestCtxEndsBetweenFrames: a ctx that ends (or a write deadline that
// passes) after a message's first frame went out, before the next, closes
// the connection (the message cannot be finished, and nothing else may
// follow its first frame), with an error matching ctx's error (or
// os.ErrDeadlineExceeded) and ErrClosed; the peer sees the message cut
// short.
func TestCtxEndsBetweenFrames(t *testing.T) {
	t.Parallel()
	random := wstest.RandomBytes(256<<10, 1) // incompressible: many frames compressed too
	cases := []struct {
		name string
		comp *wsio.Compression
		data []byte
	}{
		{"plain", nil, random[:8<<10]},
		{"deflate whole", &wsio.Compression{}, random[:32<<10]},
		{"deflate streamed", &wsio.Compression{}, random},
	}
	ends := append(endingCtxs[:len(endingCtxs):len(endingCtxs)], struct {
		name string
		want error
		make func(t *testing.T) (ctx context.Context, end func())
	}{"write deadline", os.ErrDeadlineExceeded, nil}) // the connection's own deadline, not a ctx
	for _, tc := range cases {
		for _, end := range ends {
			t.Run(tc.name+"/"+end.name, func(t *testing.T) {
				t.Parallel()
				url, msgs, _ := recordingServer(t, wsio.ServerOptions{Options: wsio.Options{Compression: tc.comp}})
				c, hc := dialHooked(t, url, wsio.Options{FragmentSize: 1024})
				ctx, endCtx := context.Background(), func() { _ = c.SetWriteDeadline(time.Now().Add(-time.Second)) }
				if end.make != nil {
					ctx, endCtx = end.make(t)
				}
				var once sync.Once
				hook := func(int) { once.Do(endCtx) } // after the first frame's write
				hc.after.Store(&hook)
				err := c.SendBinary(ctx, tc.data)
				wantCtxClose(t, err, end.want)
				if s := c.State(); s != wsio.Closed {
					t.Fatalf("state %v, want closed", s)
				}
				if r := nextReceived(t, msgs); r.err == nil {
					t.Fatalf("the peer received a whole %v message of %d bytes", r.kind, len(r.data))
				}
			})
		}
	}
}

// TestBinaryStreamCtx: the ctx given to BeginBinary governs the stream's
// writes. Ended before any frame went out, the stream writes nothing
// more, Write and Close return ctx.Err() itself and the connection stays
// usable, with its compression context as it was; ended after a frame
// went out, the connection is closed.
func TestBinaryStreamCtx(t *testing.T) {
	t.Parallel()
	for _, comp := range compressions {
		for _, end := range endingCtxs {
			t.Run("before the first frame/"+comp.name+"/"+end.name, func(t *testing.T) {
				t.Parallel()
				url, msgs, _ := recordingServer(t, wsio.ServerOptions{Options: wsio.Options{Compression: comp.c}})
				c := dial(t, url, nil)
				live := testCtx(t)
				for i := range ctxRounds {
					// The marker repeats what the stream was given, so that
					// a compression history still holding the dropped bytes
					// would make the marker refer back to bytes the peer
					// never had.
					text := strings.Repeat(fmt.Sprintf("dropped stream %d; ", i), 100)
					ctx, endCtx := end.make(t)
					w, err := c.BeginBinary(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := w.Write([]byte(text)); err != nil {
						t.Fatalf("try %d: Write before the ctx ended: %v", i, err)
					}
					endCtx()
					if n, err := w.Write([]byte(text)); n != 0 || err != ctx.Err() {
						t.Fatalf("try %d: Write after the ctx ended = %d, %v; want 0, ctx.Err() (%v) itself", i, n, err, ctx.Err())
					}
					if err := w.Close(); err != ctx.Err() {
						t.Fatalf("try %d: Close = %v, want ctx.Err() (%v) itself", i, err, ctx.Err())
					}
					if s := c.State(); s != wsio.Open {
						t.Fatalf("try %d: state %v, want open", i, s)
					}
					if err := c.SendText(live, text); err != nil {
						t.Fatalf("try %d: SendText after the dropped stream: %v", i, err)
					}
					wantMarker(t, msgs, text)
				}
			})
			t.Run("after a frame/"+comp.name+"/"+end.name, func(t *testing.T) {
				t.Parallel()
				url, msgs, _ := recordingServer(t, wsio.ServerOptions{Options: wsio.Options{Compression: comp.c}})
				c := dial(t, url, &wsio.DialOptions{Options: wsio.Options{FragmentSize: 1024}})
				ctx, endCtx := end.make(t)
				w, err := c.BeginBinary(ctx)
				if err != nil {
					t.Fatal(err)
				}
				chunk := wstest.RandomBytes(256<<10, 2) // random, so compressed frames go out too
				if _, err := w.Write(chunk); err != nil {
					t.Fatalf("Write before the ctx ended: %v", err)
				}
				endCtx()
				_, err = w.Write(chunk)
				wantCtxClose(t, err, end.want)
				wantCtxClose(t, w.Close(), end.want)
				if s := c.State(); s != wsio.Closed {
					t.Fatalf("state %v, want closed", s)
				}
				if r := nextReceived(t, msgs); r.err == nil {
					t.Fatalf("the peer received a whole %v message of %d bytes", r.kind, len(r.data))
				}
			})
		}
	}
}

// clientFrame encodes a masked frame.
func clientFrame(fin bool, rsv, op byte, payload []byte) []byte {
	return wstest.Frame(fin, rsv, op, payload, &[4]byte{0x12, 0x34, 0x56, 0x78})
}

// TestNextCtxCutsCompressedMessage: a ctx that ends while Next reads (or
// discards) a compressed message ends the connection, since the inflater
// cannot resume, and Next's error matches ctx's error and ErrClosed.
func TestNextCtxCutsCompressedMessage(t *testing.T) {
	t.Parallel()
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, 1)
	for i := range 400 {
		fmt.Fprintf(fw, "line %d of a compressed message\n", i)
	}
	_ = fw.Flush()
	deflated := bytes.TrimSuffix(z.Bytes(), []byte(deflate.FlushMarker))
	half := deflated[:len(deflated)/2]
	for _, kind := range []string{"text read", "binary discarded"} {
		for _, end := range []struct {
			name string
			want error
		}{{"canceled", context.Canceled}, {"deadline", context.DeadlineExceeded}} {
			t.Run(kind+"/"+end.name, func(t *testing.T) {
				t.Parallel()
				// The peer sends half a compressed message, then a ping and
				// nothing more: the ping is read inside the message, and
				// there the canceled case cancels.
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				onPing := func([]byte) {}
				if end.name == "canceled" {
					onPing = func([]byte) { cancel() }
				}
				type outcome struct {
					err   error
					state wsio.State
				}
				out := make(chan outcome, 1)
				o := wsio.ServerOptions{Options: wsio.Options{Compression: &wsio.Compression{}, OnPing: onPing}}
				_, url := newServer(t, o, func(c *wsio.Conn) {
					first, err := c.Next(context.Background())
					if err != nil {
						out <- outcome{fmt.Errorf("first Next: %w", err), c.State()}
						return
					}
					if kind == "text read" && first.Text != "start" {
						out <- outcome{fmt.Errorf("first message %v %q", first.Kind, first.Text), c.State()}
						return
					}
					ctx := ctx
					if end.name == "deadline" {
						var stop context.CancelFunc
						ctx, stop = context.WithTimeout(ctx, time.Second)
						defer stop()
					}
					_, err = c.Next(ctx)
					out <- outcome{err, c.State()}
				})
				nc, _ := rawDeflateUpgrade(t, url)
				var frames []byte
				if kind == "text read" {
					frames = append(frames, clientFrame(true, 0, 1, []byte("start"))...)
					frames = append(frames, clientFrame(false, 0x40, 1, half)...)
				} else {
					frames = append(frames, clientFrame(false, 0x40, 2, half)...)
				}
				frames = append(frames, clientFrame(true, 0, 9, []byte("p"))...)
				if _, err := nc.Write(frames); err != nil {
					t.Fatal(err)
				}
				select {
				case o := <-out:
					wantCtxClose(t, o.err, end.want)
					if o.state != wsio.Closed {
						t.Fatalf("state %v, want closed", o.state)
					}
				case <-time.After(timeout):
					t.Fatal("Next did not return")
				}
			})
		}
	}
}

// TestUnsentMessageLeavesHistory: a compressed message whose first frame
// could not be written (the write deadline had passed, so nothing went out
// and the connection stays usable) is not remembered by the compression
// context; otherwise the next message, which repeats it, would refer back
// to bytes the peer never had.
func TestUnsentMessageLeavesHistory(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		kind wsio.Kind
		data []byte
	}{
		{"whole", wsio.Text, []byte(strings.Repeat("an unsent text message; ", 100))},
		{"streamed", wsio.Binary, []byte(strings.Repeat("an unsent binary message; ", 5000))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, msgs, _ := recordingServer(t, wsio.ServerOptions{Options: wsio.Options{Compression: &wsio.Compression{}}})
			c := dial(t, url, nil)
			ctx := testCtx(t)
			send := func() error {
				if tc.kind == wsio.Text {
					return c.SendText(ctx, string(tc.data))
				}
				return c.SendBinary(ctx, tc.data)
			}
			// A compressed message first makes the connection busy, so it
			// keeps its compressor too.
			warm := strings.Repeat("warming up; ", 200)
			if err := c.SendText(ctx, warm); err != nil {
				t.Fatal(err)
			}
			wantMarker(t, msgs, warm)
			_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
			if err := send(); !errors.Is(err, os.ErrDeadlineExceeded) || c.State() != wsio.Open {
				t.Fatalf("send past the write deadline = %v (state %v), want os.ErrDeadlineExceeded and open", err, c.State())
			}
			_ = c.SetWriteDeadline(time.Time{})
			if err := send(); err != nil {
				t.Fatal(err)
			}
			if r := nextReceived(t, msgs); r.err != nil || r.kind != tc.kind || !bytes.Equal(r.data, tc.data) {
				t.Fatalf("the peer received %v %.40q (%v), want the message sent again", r.kind, r.data, r.err)
			}
		})
	}
}
