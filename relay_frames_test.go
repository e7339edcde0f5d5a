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

// TestRelayFrames relays one binary message with io.Copy from one link's
// end to another's: by default from a client's connection (the relay's
// side of a link to a server S1) to a server's (the relay's side of a
// link to a client C2). The bytes arrive exact; the payload goes from
// socket to socket frame by frame when neither side is compressed:
// inside the kernel (relaySpliceFrames) when both directions are
// unmasked, else through a buffer that re-masks it (relayCopyFrames). It
// reads global counters, so it does not run in parallel.
func TestRelayFrames(t *testing.T) {
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
		// inServer: the relay reads on S1 what C1 sends (masked);
		// outClient: the relay writes on C2 to S2 (masked).
		inServer, outClient bool
		spliced, copied     bool // frames went the kernel's way, the buffer's
	}{
		{name: "large", size: 8 << 20, chunk: 1 << 20, src: plain(256<<10, 0), dst: plain(0, 0), spliced: true},
		{name: "small outgoing fragments", size: 2 << 20, chunk: 1 << 20, src: plain(1<<20, 0), dst: plain(4096, 0), spliced: true},
		{name: "partly read first", size: 4 << 20, chunk: 1 << 20, src: plain(0, 0), dst: plain(0, 0), readHead: 1000, spliced: true},
		{name: "writer holds bytes", size: 4 << 20, chunk: 1 << 20, src: plain(0, 0), dst: plain(100<<10, 0), preWrite: 777, spliced: true},
		{name: "many small fragments", size: 1 << 20, chunk: 1 << 20, src: plain(1000, 0), dst: plain(0, 0)},
		{name: "smaller than a fragment", size: 1000, chunk: 1000, src: plain(0, 0), dst: plain(0, 0)},
		{name: "compressed source", size: 2 << 20, chunk: 1 << 20, src: deflated, dst: plain(64<<10, 0)},
		{name: "compressed destination", size: 2 << 20, chunk: 1 << 20, src: plain(64<<10, 0), dst: deflated},
		{name: "server to client", size: 4 << 20, chunk: 1 << 20, src: plain(0, 256<<10), dst: plain(0, 64<<10), inServer: true, outClient: true, copied: true},
		{name: "server to server", size: 4 << 20, chunk: 1 << 20, src: plain(0, 1<<20), dst: plain(100<<10, 0), inServer: true, copied: true},
		{name: "client to client", size: 4 << 20, chunk: 300 << 10, src: plain(1<<20, 0), dst: plain(0, 0), outClient: true, copied: true},
		{name: "masked, partly read first", size: 4 << 20, chunk: 1 << 20, src: plain(0, 0), dst: plain(0, 0), inServer: true, outClient: true, readHead: 1001, copied: true},
		{name: "masked, writer holds bytes", size: 4 << 20, chunk: 1 << 20, src: plain(0, 0), dst: plain(0, 100<<10), inServer: true, outClient: true, preWrite: 777, copied: true},
		{name: "masked, compressed source", size: 2 << 20, chunk: 1 << 20, src: link{deflated.so, &DialOptions{}}, dst: plain(0, 64<<10), inServer: true, outClient: true},
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
			if tc.inServer {
				from, in = c1, s1
			}
			if tc.outClient {
				out, to = c2, s2
			}
			sent := sendOne(from, want, tc.chunk)
			got := receiveOne(to, nil)
			before, beforeCopied := relaySpliceFrames.Load(), relayCopyFrames.Load()

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
			spliced, copied := relaySpliceFrames.Load()-before, relayCopyFrames.Load()-beforeCopied
			if tc.spliced && spliced == 0 {
				t.Error("no frame was spliced")
			}
			if !tc.spliced && spliced != 0 && tc.name != "many small fragments" {
				t.Errorf("%d frames were spliced", spliced)
			}
			if tc.copied != (copied > 0) {
				t.Errorf("%d frames were copied", copied)
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

// relayResult is what a relay started by startRelay did: io.Copy's count
// and error, Close's error, and the message it relayed.
type relayResult struct {
	n        int64
	err      error
	closeErr error
	m        Message
}

// startRelay relays, in a goroutine, the next message c1 receives to a
// BeginBinary writer on s2 under dctx, with io.Copy and Close.
func startRelay(t *testing.T, dctx context.Context, c1, s2 *Conn) <-chan relayResult {
	return startRelayCtx(context.Background(), dctx, c1, s2)
}

// startRelayCtx is startRelay with sctx as the received message's ctx.
// The relay abandons its message when io.Copy fails, as BinaryWriter
// tells a relay to: it cancels the writer's ctx (dctx's child) before
// Close, so the destination never takes the part for the whole.
func startRelayCtx(sctx, dctx context.Context, c1, s2 *Conn) <-chan relayResult {
	out := make(chan relayResult, 1)
	go func() {
		wctx, abandon := context.WithCancel(dctx)
		defer abandon()
		m, err := c1.Next(sctx)
		if err != nil {
			out <- relayResult{err: err}
			return
		}
		w, err := s2.BeginBinary(wctx)
		if err != nil {
			out <- relayResult{err: err}
			return
		}
		n, err := io.Copy(w, m)
		if err != nil {
			abandon()
		}
		out <- relayResult{n: n, err: err, closeErr: w.Close(), m: m}
	}()
	return out
}

// relayEnds are the four ends of two links, as a relay test uses them:
// from writes raw frames (masked with key when not nil) that in
// receives; the relay writes on out, whose peer is to. frames counts the
// relay's frames of the path the test expects.
type relayEnds struct {
	from, in, out, to *Conn
	key               *[4]byte
	frames            *atomic.Int64
}

// relayLinks makes two links over loopback TCP. Unmasked, the relay
// reads on a client and writes on a server, the splice path; masked, it
// reads on a server and writes on a client, so the payload is re-masked
// on its way (the copy path). limit, when not 0, is the reading end's
// MaxBinaryMessage.
func relayLinks(t *testing.T, masked bool, limit int64) relayEnds {
	so, co := plainServer(0), plainClient(0)
	if masked {
		so.MaxBinaryMessage = limit
	} else {
		co.MaxBinaryMessage = limit
	}
	s1, c1 := connPair(t, so, co)
	s2, c2 := connPair(t, plainServer(0), plainClient(0))
	if masked {
		return relayEnds{from: c1, in: s1, out: c2, to: s2, key: &[4]byte{1, 2, 3, 4}, frames: &relayCopyFrames}
	}
	return relayEnds{from: s1, in: c1, out: s2, to: c2, frames: &relaySpliceFrames}
}

// frame is a raw frame from e.from: its header and payload.
func (e relayEnds) frame(fin bool, op conn.Opcode, payload []byte) []byte {
	return wstest.Frame(fin, 0, byte(op), payload, e.key)
}

// relayPathName names the path relayLinks(masked) takes.
func relayPathName(masked bool) string {
	if masked {
		return "copy"
	}
	return "splice"
}

// eachRelayPath runs f for the splice path and the copy path (relayLinks).
func eachRelayPath(t *testing.T, f func(t *testing.T, e relayEnds)) {
	for _, masked := range []bool{false, true} {
		t.Run(relayPathName(masked), func(t *testing.T) { f(t, relayLinks(t, masked, 0)) })
	}
}

// A source that ends in the middle of a relayed frame fails the relay
// with a read cut short, and breaks the destination, whose peer never
// sees the message end.
func TestRelayFramesSourceEnds(t *testing.T) { eachRelayPath(t, relaySourceEnds) }

func relaySourceEnds(t *testing.T, e relayEnds) {
	payload := relayPayload(4 << 20)
	before := e.frames.Load()
	var progress atomic.Int64
	got := receiveOne(e.to, &progress)
	res := startRelay(t, context.Background(), e.in, e.out)
	// Frame 1 whole (2 MiB), frame 2 declared 2 MiB with 1 MiB sent.
	first := e.frame(false, conn.OpBinary, payload[:2<<20])
	second := e.frame(true, conn.OpContinuation, payload[2<<20:])
	go func() {
		_, _ = e.from.rwc.Write(first)
		_, _ = e.from.rwc.Write(second[:len(second)-1<<20])
		e.from.closeTransport()
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
	if e.frames.Load() == before {
		t.Error("no frame went the expected path")
	}
	rcv := wait(t, "the receiver's read", got)
	if rcv.err == nil {
		t.Fatalf("the receiver read a whole message of %d bytes", len(rcv.data))
	}
	if !bytes.Equal(rcv.data, payload[:len(rcv.data)]) {
		t.Error("the receiver read bytes that differ from those sent")
	}
	if e.out.State() != Closed || e.in.State() != Closed {
		t.Errorf("the relay's ends are %v (out), %v (in); want both closed", e.out.State(), e.in.State())
	}
}

// The end of either side's ctx while the relay waits on a stalled source
// in the middle of a spliced frame breaks the destination, fails the
// relay with an error matching that ctx's, and leaves the source message
// readable after what the relay took of it.
func TestRelayFramesCanceled(t *testing.T) {
	for _, side := range []string{"writer", "source"} {
		t.Run(side, func(t *testing.T) {
			eachRelayPath(t, func(t *testing.T, e relayEnds) { relayFramesCanceled(t, e, side == "source") })
		})
	}
}

func relayFramesCanceled(t *testing.T, e relayEnds, source bool) {
	payload := relayPayload(4 << 20)
	var progress atomic.Int64
	got := receiveOne(e.to, &progress)
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sctx, dctx := context.Background(), cctx
	if source {
		sctx, dctx = cctx, context.Background()
	}
	before := e.frames.Load()
	res := startRelayCtx(sctx, dctx, e.in, e.out)
	// One frame of 4 MiB, of which 1 MiB now.
	frame := e.frame(true, conn.OpBinary, payload)
	head := len(frame) - len(payload) + 1<<20
	_, _ = e.from.rwc.Write(frame[:head])
	wstest.WaitUntil(t, "the receiver got the first MiB", func() bool { return progress.Load() == 1<<20 })
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
	if e.frames.Load() == before {
		t.Error("no frame went the expected path")
	}
	if rcv := wait(t, "the receiver's read", got); rcv.err == nil {
		t.Fatalf("the receiver read a whole message of %d bytes", len(rcv.data))
	}
	// The source is intact: the rest of the message reads on.
	go func() { _, _ = e.from.rwc.Write(frame[head:]) }()
	rest, err := io.ReadAll(r.m.WithContext(testContext(t)))
	if err != nil || !bytes.Equal(rest, payload[1<<20:]) {
		t.Fatalf("reading on: %d bytes, %v", len(rest), err)
	}
	if e.in.State() != Open {
		t.Errorf("the source connection is %v", e.in.State())
	}
}

// The source's MaxBinaryMessage holds on both relay paths: the frame
// that passes it fails the relay with ErrMessageTooBig before its payload
// is moved.
func TestRelayFramesLimit(t *testing.T) {
	for _, masked := range []bool{false, true} {
		t.Run(relayPathName(masked), func(t *testing.T) { relayFramesLimit(t, relayLinks(t, masked, 3<<20)) })
	}
}

func relayFramesLimit(t *testing.T, e relayEnds) {
	payload := relayPayload(8 << 20)
	sent := sendOne(e.from, payload, 1<<20)
	got := receiveOne(e.to, nil)
	before := e.frames.Load()
	r := wait(t, "the relay", startRelay(t, context.Background(), e.in, e.out))
	if !errors.Is(r.err, ErrMessageTooBig) {
		t.Fatalf("io.Copy: %d, %v; want ErrMessageTooBig", r.n, r.err)
	}
	if r.n > 3<<20 {
		t.Errorf("relayed %d bytes, over the limit", r.n)
	}
	if e.frames.Load() == before {
		t.Error("no frame went the expected path")
	}
	_ = wait(t, "sending", sent)
	if rcv := wait(t, "the receiver's read", got); len(rcv.data) > 3<<20 {
		t.Errorf("the receiver got %d bytes", len(rcv.data))
	}
}

// A ping between two frames of a relayed message is answered while the
// relay goes on, on both paths, and the message arrives whole.
func TestRelayFramesPingBetween(t *testing.T) { eachRelayPath(t, relayPingBetween) }

func relayPingBetween(t *testing.T, e relayEnds) {
	payload := relayPayload(2 << 20)
	before := e.frames.Load()
	got := receiveOne(e.to, nil)
	res := startRelay(t, context.Background(), e.in, e.out)
	pong := make(chan []byte, 1)
	go func() { pong <- peerPayload(e.from.rwc, conn.OpPong) }() // the answer, read from the sender's socket
	go func() {
		_, _ = e.from.rwc.Write(e.frame(false, conn.OpBinary, payload[:1<<20]))
		_, _ = e.from.rwc.Write(e.frame(true, conn.OpPing, []byte("between")))
		_, _ = e.from.rwc.Write(e.frame(true, conn.OpContinuation, payload[1<<20:]))
	}()
	r := wait(t, "the relay", res)
	if r.err != nil || r.closeErr != nil || r.n != int64(len(payload)) {
		t.Fatalf("io.Copy: %d, %v; Close: %v", r.n, r.err, r.closeErr)
	}
	if rcv := wait(t, "the receiver's read", got); rcv.err != nil || !bytes.Equal(rcv.data, payload) {
		t.Fatalf("the receiver got %d bytes, %v", len(rcv.data), rcv.err)
	}
	if p := wait(t, "the pong", pong); string(p) != "between" {
		t.Errorf("the sender got %q, want a pong of %q", p, "between")
	}
	if e.frames.Load() == before {
		t.Error("no frame went the expected path")
	}
}

// A source that breaks the protocol in the middle of a relayed message (a
// new data frame where a continuation must come) fails the relay with an
// error matching ErrProtocol once the bytes before it went out, on both
// paths, and the source is failed with 1002. The relay then abandons its
// message (startRelayCtx), which breaks the destination, so its peer
// never takes the part for the whole.
func TestRelayFramesSourceProtocolError(t *testing.T) { eachRelayPath(t, relaySourceProtocolError) }

func relaySourceProtocolError(t *testing.T, e relayEnds) {
	payload := relayPayload(2 << 20)
	before := e.frames.Load()
	got := receiveOne(e.to, nil)
	res := startRelay(t, context.Background(), e.in, e.out)
	peer := make(chan []byte, 1)
	go func() { // the sender reads the source's close frame, answers, and hangs up
		p := peerPayload(e.from.rwc, conn.OpClose)
		peer <- p
		_, _ = e.from.rwc.Write(e.frame(true, conn.OpClose, p))
		e.from.closeTransport()
	}()
	go func() {
		_, _ = e.from.rwc.Write(e.frame(false, conn.OpBinary, payload[:1<<20]))
		_, _ = e.from.rwc.Write(e.frame(true, conn.OpBinary, payload[1<<20:]))
	}()
	r := wait(t, "the relay", res)
	t.Logf("io.Copy: %d, %v; Close: %v", r.n, r.err, r.closeErr)
	if !errors.Is(r.err, ErrProtocol) || r.n != 1<<20 {
		t.Fatalf("io.Copy: %d, %v; want %d bytes and an error matching ErrProtocol", r.n, r.err, 1<<20)
	}
	if !errors.Is(r.closeErr, context.Canceled) || !errors.Is(r.closeErr, ErrClosed) {
		t.Errorf("the writer's Close: %v; want an error matching context.Canceled and ErrClosed", r.closeErr)
	}
	rcv := wait(t, "the receiver's read", got)
	if rcv.err == nil || !bytes.Equal(rcv.data, payload[:len(rcv.data)]) {
		t.Errorf("the receiver got %d bytes, %v; want a prefix of the message and an error", len(rcv.data), rcv.err)
	}
	if p := wait(t, "the source's close frame", peer); len(p) < 2 || StatusCode(p[0])<<8|StatusCode(p[1]) != StatusProtocolError {
		t.Errorf("the sender got close payload %q, want code %d", p, StatusProtocolError)
	}
	if e.frames.Load() == before {
		t.Error("no frame went the expected path")
	}
}
