//go:build linux

package wsio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/wstest"
)

// connPair returns both ends of a WebSocket connection over loopback TCP:
// the server's (with so) and the client's (with co). The server's handler
// holds its end open until the test ends.
func connPair(t *testing.T, so *ServerOptions, co *DialOptions) (server, client *Conn) {
	t.Helper()
	got := make(chan *Conn, 1)
	done := make(chan struct{})
	url := testServer(t, so, func(c *Conn) {
		got <- c
		<-done
	})
	t.Cleanup(func() { close(done) }) // before testServer's cleanup waits for the handler
	client = dial(t, url, co)
	select {
	case server = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never got the connection")
	}
	return server, client
}

// plain is the options of an uncompressed end with fragments of frag
// bytes (0: the default).
func plainServer(frag int) *ServerOptions {
	return &ServerOptions{Options: Options{FragmentSize: frag}}
}

func plainClient(frag int) *DialOptions {
	return &DialOptions{Options: Options{FragmentSize: frag, Compression: &Compression{Disabled: true}}}
}

// received is what a reader of one binary message found.
type received struct {
	data []byte
	err  error
}

// receiveOne reads one binary message on c in a goroutine, counting the
// bytes read so far in progress (when not nil).
func receiveOne(c *Conn, progress *atomic.Int64) <-chan received {
	out := make(chan received, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m, err := c.Next(ctx)
		if err != nil {
			out <- received{err: err}
			return
		}
		var b bytes.Buffer
		buf := make([]byte, 64<<10)
		for {
			n, err := m.Read(buf)
			b.Write(buf[:n])
			if progress != nil {
				progress.Add(int64(n))
			}
			if err == io.EOF {
				out <- received{data: b.Bytes()}
				return
			}
			if err != nil {
				out <- received{data: b.Bytes(), err: err}
				return
			}
		}
	}()
	return out
}

// sendOne sends p as one binary message on c in a goroutine, in writes of
// at most chunk bytes.
func sendOne(c *Conn, p []byte, chunk int) <-chan error {
	out := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		w, err := c.BeginBinary(ctx)
		if err != nil {
			out <- err
			return
		}
		for len(p) > 0 && err == nil {
			k := min(chunk, len(p))
			_, err = w.Write(p[:k])
			p = p[k:]
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		out <- err
	}()
	return out
}

func wait[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not end", what)
		panic("unreachable")
	}
}

// TestRelaySplice relays one binary message with io.Copy from a client's
// connection (the relay's side of a link to a server S1) to a server's
// (the relay's side of a link to a client C2): the bytes arrive exact,
// and the payload goes from socket to socket (relaySpliceFrames) only
// when both directions are unmasked and neither is compressed. It reads a
// global counter, so it does not run in parallel.
func TestRelaySplice(t *testing.T) {
	type link struct {
		so *ServerOptions
		co *DialOptions
	}
	plain := func(sfrag, cfrag int) link { return link{plainServer(sfrag), plainClient(cfrag)} }
	deflated := link{
		&ServerOptions{Options: Options{Compression: &Compression{Threshold: -1}}},
		&DialOptions{},
	}
	cases := []struct {
		name     string
		size     int
		chunk    int  // S1's write size
		src, dst link // S1 -> C1, S2 -> C2
		readHead int  // bytes the relay reads from m before io.Copy
		preWrite int  // bytes the relay writes to w before io.Copy
		reverse  bool // relay C1's... see below: the relay reads as a server, writes as a client
		spliced  bool
	}{
		{name: "large", size: 8 << 20, chunk: 1 << 20, src: plain(256<<10, 0), dst: plain(0, 0), spliced: true},
		{name: "small outgoing fragments", size: 2 << 20, chunk: 1 << 20, src: plain(1<<20, 0), dst: plain(4096, 0), spliced: true},
		{name: "partly read first", size: 4 << 20, chunk: 1 << 20, src: plain(0, 0), dst: plain(0, 0), readHead: 1000, spliced: true},
		{name: "writer holds bytes", size: 4 << 20, chunk: 1 << 20, src: plain(0, 0), dst: plain(100<<10, 0), preWrite: 777, spliced: true},
		{name: "many small fragments", size: 1 << 20, chunk: 1 << 20, src: plain(1000, 0), dst: plain(0, 0)},
		{name: "smaller than a fragment", size: 1000, chunk: 1000, src: plain(0, 0), dst: plain(0, 0)},
		{name: "compressed source", size: 2 << 20, chunk: 1 << 20, src: deflated, dst: plain(64<<10, 0)},
		{name: "compressed destination", size: 2 << 20, chunk: 1 << 20, src: plain(64<<10, 0), dst: deflated},
		{name: "client to server", size: 2 << 20, chunk: 1 << 20, src: plain(64<<10, 0), dst: plain(0, 64<<10), reverse: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			want := relayPayload(tc.size)
			// from sends the message, in reads it (the relay), out writes it
			// (the relay), to receives it.
			s1, c1 := connPair(t, tc.src.so, tc.src.co)
			s2, c2 := connPair(t, tc.dst.so, tc.dst.co)
			from, in, out, to := s1, c1, s2, c2
			if tc.reverse {
				// C1 sends to S1 (masked), S1 relays as C2's client to S2.
				from, in, out, to = c1, s1, c2, s2
			}
			sent := sendOne(from, want, tc.chunk)
			got := receiveOne(to, nil)
			before := relaySpliceFrames.Load()

			m, err := in.Next(ctx)
			if err != nil || m.Kind != Binary {
				t.Fatalf("Next: %v, %v", m.Kind, err)
			}
			head := make([]byte, tc.readHead)
			if _, err := io.ReadFull(m, head); err != nil {
				t.Fatal(err)
			}
			w, err := out.BeginBinary(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pre := relayPayload(tc.preWrite + 1)[1:]
			if _, err := w.Write(pre); err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(w, m)
			if err != nil || n != int64(tc.size-tc.readHead) {
				t.Fatalf("io.Copy = %d, %v; want %d", n, err, tc.size-tc.readHead)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := wait(t, "sending", sent); err != nil {
				t.Fatalf("sending: %v", err)
			}
			r := wait(t, "receiving", got)
			if r.err != nil {
				t.Fatalf("receiving: %v", r.err)
			}
			if exp := append(pre, want[tc.readHead:]...); !bytes.Equal(r.data, exp) {
				t.Fatalf("received %d bytes that differ from the %d relayed", len(r.data), len(exp))
			}
			spliced := relaySpliceFrames.Load() - before
			if tc.spliced && spliced == 0 {
				t.Error("no frame was spliced")
			}
			if !tc.spliced && spliced != 0 && tc.name != "many small fragments" {
				t.Errorf("%d frames were spliced", spliced)
			}
			// Both links still work.
			for _, c := range []*Conn{in, out} {
				if c.State() != Open {
					t.Fatalf("a relay connection is %v", c.State())
				}
			}
		})
	}
}

// testContext is a context that ends with the test, and at the latest
// after 30s.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serverHeader is an unmasked frame header.
func serverHeader(fin bool, op conn.Opcode, n int64) []byte {
	var b [conn.MaxHeaderSize]byte
	return b[:conn.PutHeader(b[:], fin, 0, op, n, nil)]
}

// relayStart has S1 write raw frames (hdrs and payload bytes, in order),
// then starts the relay of the message C1 receives to S2 under dctx in a
// goroutine. It returns the relay's result, and what C2 receives.
type relayResult struct {
	n        int64
	err      error
	closeErr error
	m        Message
}

func startRelay(t *testing.T, dctx context.Context, c1, s2 *Conn) <-chan relayResult {
	return startRelayCtx(context.Background(), dctx, c1, s2)
}

// startRelayCtx is startRelay with sctx as the received message's ctx.
func startRelayCtx(sctx, dctx context.Context, c1, s2 *Conn) <-chan relayResult {
	out := make(chan relayResult, 1)
	go func() {
		m, err := c1.Next(sctx)
		if err != nil {
			out <- relayResult{err: err}
			return
		}
		w, err := s2.BeginBinary(dctx)
		if err != nil {
			out <- relayResult{err: err}
			return
		}
		n, err := io.Copy(w, m)
		out <- relayResult{n: n, err: err, closeErr: w.Close(), m: m}
	}()
	return out
}

// A source that ends in the middle of a spliced frame fails the relay
// with a read cut short, and breaks the destination, whose peer never
// sees the message end.
func TestRelaySpliceSourceEnds(t *testing.T) {
	s1, c1 := connPair(t, plainServer(0), plainClient(0))
	s2, c2 := connPair(t, plainServer(0), plainClient(0))
	payload := relayPayload(3 << 20)
	before := relaySpliceFrames.Load()
	var progress atomic.Int64
	got := receiveOne(c2, &progress)
	res := startRelay(t, context.Background(), c1, s2)
	go func() {
		// Frame 1 whole (2 MiB), frame 2 declared 2 MiB with 1 MiB sent.
		_, _ = s1.rwc.Write(serverHeader(false, conn.OpBinary, 2<<20))
		_, _ = s1.rwc.Write(payload[:2<<20])
		_, _ = s1.rwc.Write(serverHeader(true, conn.OpContinuation, 2<<20))
		_, _ = s1.rwc.Write(payload[2<<20:])
		s1.closeTransport()
	}()
	r := wait(t, "the relay", res)
	t.Logf("io.Copy: %d, %v; Close: %v", r.n, r.err, r.closeErr)
	if !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Fatalf("io.Copy: %d, %v; want an error matching io.ErrUnexpectedEOF", r.n, r.err)
	}
	if r.n > 3<<20 || r.n < 2<<20 {
		t.Errorf("io.Copy counted %d bytes", r.n)
	}
	if !errors.Is(r.closeErr, ErrClosed) {
		t.Errorf("the writer's Close: %v; want an error matching ErrClosed", r.closeErr)
	}
	if relaySpliceFrames.Load() == before {
		t.Error("no frame was spliced")
	}
	rcv := wait(t, "C2's read", got)
	if rcv.err == nil {
		t.Fatalf("C2 read a whole message of %d bytes", len(rcv.data))
	}
	if !bytes.Equal(rcv.data, payload[:len(rcv.data)]) {
		t.Error("C2 read bytes that differ from those sent")
	}
	if s2.State() != Closed || c1.State() != Closed {
		t.Errorf("the relay's ends are %v (out), %v (in); want both closed", s2.State(), c1.State())
	}
}

// The end of either side's ctx while the relay waits on a stalled source
// in the middle of a spliced frame breaks the destination, fails the
// relay with an error matching that ctx's, and leaves the source message
// readable after what the relay took of it.
func TestRelaySpliceCanceled(t *testing.T) {
	for _, side := range []string{"writer", "source"} {
		t.Run(side, func(t *testing.T) { relaySpliceCanceled(t, side == "source") })
	}
}

func relaySpliceCanceled(t *testing.T, source bool) {
	s1, c1 := connPair(t, plainServer(0), plainClient(0))
	s2, c2 := connPair(t, plainServer(0), plainClient(0))
	payload := relayPayload(4 << 20)
	var progress atomic.Int64
	got := receiveOne(c2, &progress)
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sctx, dctx := context.Background(), cctx
	if source {
		sctx, dctx = cctx, context.Background()
	}
	before := relaySpliceFrames.Load()
	res := startRelayCtx(sctx, dctx, c1, s2)
	// One frame of 4 MiB, of which 1 MiB now.
	_, _ = s1.rwc.Write(serverHeader(true, conn.OpBinary, 4<<20))
	_, _ = s1.rwc.Write(payload[:1<<20])
	wstest.WaitUntil(t, "C2 got the first MiB", func() bool { return progress.Load() == 1<<20 })
	cancel()
	r := wait(t, "the relay", res)
	t.Logf("io.Copy: %d, %v; Close: %v", r.n, r.err, r.closeErr)
	if !errors.Is(r.err, context.Canceled) || (!source && !errors.Is(r.err, ErrClosed)) {
		t.Fatalf("io.Copy: %d, %v; want an error matching context.Canceled (and ErrClosed: the writer's)", r.n, r.err)
	}
	if !errors.Is(r.closeErr, ErrClosed) {
		t.Errorf("the writer's Close: %v; want an error matching ErrClosed", r.closeErr)
	}
	if r.n != 1<<20 {
		t.Errorf("io.Copy counted %d bytes, want %d", r.n, 1<<20)
	}
	if relaySpliceFrames.Load() == before {
		t.Error("no frame was spliced")
	}
	if rcv := wait(t, "C2's read", got); rcv.err == nil {
		t.Fatalf("C2 read a whole message of %d bytes", len(rcv.data))
	}
	// The source is intact: the rest of the message reads on.
	go func() { _, _ = s1.rwc.Write(payload[1<<20:]) }()
	rest, err := io.ReadAll(r.m.WithContext(testContext(t)))
	if err != nil || !bytes.Equal(rest, payload[1<<20:]) {
		t.Fatalf("reading on: %d bytes, %v", len(rest), err)
	}
	if c1.State() != Open {
		t.Errorf("the source connection is %v", c1.State())
	}
}

// The source's MaxBinaryMessage holds on the splice path: the frame that
// passes it fails the relay with ErrMessageTooBig before its payload is
// moved.
func TestRelaySpliceLimit(t *testing.T) {
	co := plainClient(0)
	co.MaxBinaryMessage = 3 << 20
	s1, c1 := connPair(t, plainServer(1<<20), co)
	s2, c2 := connPair(t, plainServer(0), plainClient(0))
	payload := relayPayload(8 << 20)
	sent := sendOne(s1, payload, 1<<20)
	got := receiveOne(c2, nil)
	before := relaySpliceFrames.Load()
	r := wait(t, "the relay", startRelay(t, context.Background(), c1, s2))
	if !errors.Is(r.err, ErrMessageTooBig) {
		t.Fatalf("io.Copy: %d, %v; want ErrMessageTooBig", r.n, r.err)
	}
	if r.n > 3<<20 {
		t.Errorf("relayed %d bytes, over the limit", r.n)
	}
	if relaySpliceFrames.Load() == before {
		t.Error("no frame was spliced")
	}
	_ = wait(t, "sending", sent)
	if rcv := wait(t, "C2's read", got); len(rcv.data) > 3<<20 {
		t.Errorf("C2 got %d bytes", len(rcv.data))
	}
}

// On the relay path that reads through the process (frames the relay
// receives masked, as a server), a writer's ctx that ends while the
// source has stalled mid-frame ends the copy too, as it ends every call
// of the writer's: io.Copy returns an error matching context.Canceled,
// the destination (mid-message) is broken, and the source message reads
// on from where the copy stopped.
func TestRelayWriterCtxEndsStalledSource(t *testing.T) {
	s1, c1 := connPair(t, plainServer(0), plainClient(0))
	s2, c2 := connPair(t, plainServer(0), plainClient(0))
	payload := relayPayload(4 << 20)
	frame := wstest.Frame(true, 0, byte(conn.OpBinary), payload, &[4]byte{1, 2, 3, 4})
	head := len(frame) - len(payload) + 1<<20 // the header and the first MiB
	var progress atomic.Int64
	got := receiveOne(s2, &progress)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := startRelayCtx(context.Background(), ctx, s1, c2)
	_, _ = c1.rwc.Write(frame[:head])
	wstest.WaitUntil(t, "S2 got the first MiB", func() bool { return progress.Load() == 1<<20 })
	cancel()
	r := wait(t, "the relay", res)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("io.Copy: %d, %v; want an error matching context.Canceled", r.n, r.err)
	}
	if !errors.Is(r.closeErr, ErrClosed) {
		t.Errorf("the writer's Close: %v; want an error matching ErrClosed (frames had gone out)", r.closeErr)
	}
	if rcv := wait(t, "S2's read", got); rcv.err == nil {
		t.Fatalf("S2 read a whole message of %d bytes", len(rcv.data))
	}
	go func() { _, _ = c1.rwc.Write(frame[head:]) }()
	rest, err := io.ReadAll(r.m.WithContext(testContext(t)))
	if err != nil || !bytes.Equal(rest, payload[r.n:]) {
		t.Fatalf("reading on after %d bytes: got %d bytes, %v; want the other %d", r.n, len(rest), err, len(payload)-int(r.n))
	}
}
