//go:build !js

package wsio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/wstest"
	"github.com/wsio/wsio/textframe"
)

// encFrame encodes one frame; a non-nil key masks it.
func encFrame(fin bool, rsv byte, op conn.Opcode, payload []byte, key *[4]byte) []byte {
	return wstest.Frame(fin, rsv, byte(op), payload, key)
}

// rawHeader builds a header by hand, bypassing PutHeader's minimal encoding.
func rawHeader(b0, b1 byte, ext ...byte) []byte { return append([]byte{b0, b1}, ext...) }

// ---------------------------------------------------------------------------
// Whole connections driven by a byte stream

// refMsg is a data message as the reference decoder sees it.
type refMsg struct {
	kind     Kind
	data     []byte
	complete bool // binary: the whole message arrived
}

// refOutcome is what a correct connection must do with an input stream.
type refOutcome struct {
	msgs   []refMsg
	code   StatusCode // the close the connection must end with
	remote bool
	reason string
}

// refDecode is an independent reading of RFC 6455 (with this package's
// limits and fail-fast UTF-8 checks) applied to a whole input stream.
func refDecode(in []byte, client bool, bufCap, maxBin int64) refOutcome {
	var out refOutcome
	end := func(code StatusCode) refOutcome { out.code = code; return out }
	var (
		cur    *refMsg
		used   int64
		v      textframe.Validator
		curIdx = -1
	)
	for {
		h, n, err := conn.ParseHeader(in)
		if err == conn.ErrShortHeader {
			return end(StatusAbnormalClosure)
		}
		if err != nil || h.Rsv != 0 || h.Masked == client {
			return end(StatusProtocolError)
		}
		in = in[n:]
		if h.Op.IsControl() {
			if int64(len(in)) < h.Length {
				return end(StatusAbnormalClosure)
			}
			p := bytes.Clone(in[:h.Length])
			in = in[h.Length:]
			if h.Masked {
				conn.Mask(h.Mask, 0, p)
			}
			if h.Op != conn.OpClose {
				continue
			}
			switch {
			case len(p) == 0:
				out.remote = true
				return end(StatusNoStatus)
			case len(p) == 1:
				return end(StatusProtocolError)
			}
			code := StatusCode(p[0])<<8 | StatusCode(p[1])
			if !code.validWire() {
				return end(StatusProtocolError)
			}
			if !utf8.Valid(p[2:]) {
				return end(StatusInvalidPayload)
			}
			out.remote, out.reason = true, string(p[2:])
			return end(code)
		}
		switch h.Op {
		case conn.OpContinuation:
			if cur == nil {
				return end(StatusProtocolError)
			}
		default:
			if cur != nil {
				return end(StatusProtocolError)
			}
			cur = &refMsg{kind: Kind(h.Op)}
			used = 0
			v.Reset()
		}
		limit := bufCap
		if cur.kind == Binary {
			limit = maxBin
		}
		if h.Length > limit-used {
			return end(StatusMessageTooBig)
		}
		used += h.Length
		if cur.kind == Binary && curIdx < 0 {
			out.msgs = append(out.msgs, *cur)
			curIdx = len(out.msgs) - 1
		}
		avail := min(h.Length, int64(len(in)))
		p := bytes.Clone(in[:avail])
		in = in[avail:]
		if h.Masked {
			conn.Mask(h.Mask, 0, p)
		}
		cur.data = append(cur.data, p...)
		if cur.kind == Text {
			if !v.Feed(p) {
				return end(StatusInvalidPayload)
			}
		} else {
			out.msgs[curIdx].data = cur.data
		}
		if avail < h.Length {
			return end(StatusAbnormalClosure)
		}
		if !h.Fin {
			continue
		}
		if cur.kind == Text {
			if !v.Complete() {
				return end(StatusInvalidPayload)
			}
			out.msgs = append(out.msgs, *cur)
		} else {
			out.msgs[curIdx].complete = true
		}
		cur, curIdx = nil, -1
	}
}

// gotMsg is a message as the connection delivered it.
type gotMsg struct {
	kind Kind
	data []byte
	err  error // binary: how reading it ended
}

const (
	fuzzBufCap = 1 << 16
	fuzzMaxBin = 1 << 16
)

// runConnFuzz feeds data to a connection over net.Pipe and reads it to the
// end, checking the messages and the close against refDecode and what the
// connection wrote against the protocol.
func runConnFuzz(t *testing.T, data []byte, client bool) {
	srv, peer := net.Pipe()
	c := newConn(srv, client, &Options{BufferCap: fuzzBufCap, MaxBinaryMessage: fuzzMaxBin, CloseTimeout: 50 * time.Millisecond}, nil)

	var wg sync.WaitGroup
	var wire bytes.Buffer
	wg.Add(2)
	go func() { // the peer's sending side
		defer wg.Done()
		_, _ = peer.Write(data)
		_ = peer.Close()
	}()
	go func() { // the peer's receiving side
		defer wg.Done()
		_, _ = io.Copy(&wire, peer)
	}()

	var (
		msgs    []gotMsg
		lastErr error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			// ctx governs the binary message's reads too.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			m, err := c.Next(ctx)
			if err != nil {
				cancel()
				lastErr = err
				return
			}
			switch m.Kind {
			case Text:
				msgs = append(msgs, gotMsg{kind: Text, data: []byte(m.Text)})
			case Binary:
				var buf bytes.Buffer
				_, err := io.Copy(&buf, m)
				msgs = append(msgs, gotMsg{kind: Binary, data: buf.Bytes(), err: err})
			default:
				cancel()
				lastErr = errors.New("message of unknown kind")
				return
			}
			cancel()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("connection hung on input %q\n%s", data, wstest.AllStacks())
	}
	_ = c.rwc.Close() // unblocks the peer if the connection failed to
	wg.Wait()

	// How it ended.
	var ce *CloseError
	if !errors.Is(lastErr, ErrClosed) || !errors.As(lastErr, &ce) {
		t.Fatalf("final error %v (%T), want a *CloseError", lastErr, lastErr)
	}
	if c.State() != Closed {
		t.Fatalf("state %v after %v", c.State(), lastErr)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed")
	}
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after the end: %v", err)
	}

	// Against the reference. A write that failed because the peer hung up
	// (or was slow) may end the connection before it read all it had, so
	// then only a prefix is required.
	want := refDecode(data, client, fuzzBufCap, fuzzMaxBin)
	lenient := ce.Code == StatusAbnormalClosure && !errors.Is(ce, io.ErrUnexpectedEOF)
	if !lenient && (ce.Code != want.code || ce.Remote != want.remote || ce.Reason != want.reason && want.remote) {
		t.Fatalf("ended with %v (remote %v, %q), want %v (remote %v, %q)\ninput %q", ce, ce.Remote, ce.Reason, want.code, want.remote, want.reason, data)
	}
	if len(msgs) > len(want.msgs) || !lenient && len(msgs) != len(want.msgs) {
		t.Fatalf("%d messages, want %d\ninput %q", len(msgs), len(want.msgs), data)
	}
	for i, g := range msgs {
		w := want.msgs[i]
		if g.kind != w.kind {
			t.Fatalf("message %d: %v, want %v", i, g.kind, w.kind)
		}
		last := i == len(msgs)-1
		switch {
		case g.kind == Text && !bytes.Equal(g.data, w.data):
			t.Fatalf("text message %d: %q, want %q", i, g.data, w.data)
		case g.kind == Binary && (lenient && last) && !bytes.HasPrefix(w.data, g.data):
			t.Fatalf("binary message %d: %d bytes not a prefix of the %d sent", i, len(g.data), len(w.data))
		case g.kind == Binary && !(lenient && last) && !bytes.Equal(g.data, w.data):
			t.Fatalf("binary message %d: %d bytes, want %d", i, len(g.data), len(w.data))
		case g.kind == Binary && (g.err == nil) != w.complete && !(lenient && last):
			t.Fatalf("binary message %d: read error %v, complete %v", i, g.err, w.complete)
		case g.err != nil && !errors.Is(g.err, io.ErrUnexpectedEOF):
			t.Fatalf("binary message %d: read error %v does not match io.ErrUnexpectedEOF", i, g.err)
		}
	}

	checkWire(t, wire.Bytes(), client, data, ce)
}

// checkWire checks what the connection wrote: well-formed frames, masked
// by a client only, nothing but pongs answering pings and one close frame
// that is the last, whose code is the one the connection reports when it
// closed for a fault. A frame cut off at the end (the peer stopped reading)
// is allowed.
func checkWire(t *testing.T, b []byte, client bool, in []byte, ce *CloseError) {
	t.Helper()
	closed := false
	for len(b) > 0 {
		h, n, err := conn.ParseHeader(b)
		if err == conn.ErrShortHeader {
			return
		}
		if err != nil {
			t.Fatalf("connection wrote a bad frame header %x: %v", b[:min(len(b), 14)], err)
		}
		if h.Masked != client || h.Rsv != 0 || !h.Fin {
			t.Fatalf("connection wrote %+v (client %v)", h, client)
		}
		if int64(len(b)-n) < h.Length {
			return
		}
		p := bytes.Clone(b[n : n+int(h.Length)])
		b = b[n+int(h.Length):]
		if h.Masked {
			conn.Mask(h.Mask, 0, p)
		}
		if closed {
			t.Fatalf("connection wrote a %v frame after its close frame", h.Op)
		}
		switch h.Op {
		case conn.OpPong:
		case conn.OpClose:
			closed = true
			if len(p) == 0 {
				if !ce.Remote || ce.Code != StatusNoStatus {
					t.Fatalf("sent an empty close frame, reports %v", ce)
				}
				break
			}
			if len(p) == 1 {
				t.Fatalf("close frame payload %x", p)
			}
			code := StatusCode(p[0])<<8 | StatusCode(p[1])
			if !code.validWire() || !utf8.Valid(p[2:]) {
				t.Fatalf("close frame payload %q", p)
			}
			if ce.Code != StatusAbnormalClosure && code != ce.Code {
				t.Fatalf("sent close %v, reports %v", code, ce)
			}
		default:
			t.Fatalf("connection wrote an unexpected %v frame", h.Op)
		}
	}
}

// connSeeds are frame sequences for a peer of the given role (client: the
// peer is a server, so frames are unmasked).
func connSeeds(peerMasks bool) [][]byte {
	var key *[4]byte
	if peerMasks {
		key = &[4]byte{0x37, 0xFA, 0x21, 0x3D}
	}
	fr := func(fin bool, rsv byte, op conn.Opcode, p []byte) []byte { return encFrame(fin, rsv, op, p, key) }
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	closeFr := func(code StatusCode, reason string) []byte {
		return fr(true, 0, conn.OpClose, append([]byte{byte(code >> 8), byte(code)}, reason...))
	}
	// Seeds stay short: the fuzzer's minimization of each new input is
	// quadratic in its length.
	big := bytes.Repeat([]byte("0123456789abcdef"), 8)
	hdr := func(op conn.Opcode, l int64) []byte {
		var b [conn.MaxHeaderSize]byte
		n := conn.PutHeader(b[:], true, 0, op, l, key)
		return b[:n]
	}
	return [][]byte{
		nil,
		cat(fr(true, 0, conn.OpText, []byte("Hello")), closeFr(1000, "bye")),
		cat(fr(true, 0, conn.OpBinary, []byte{0, 1, 2, 3, 4}), fr(true, 0, conn.OpClose, nil)),
		cat(fr(true, 0, conn.OpPing, []byte("ping")), fr(true, 0, conn.OpPong, []byte("pong")), fr(true, 0, conn.OpText, nil), closeFr(4000, "")),
		cat(fr(false, 0, conn.OpText, []byte("Hel")), fr(true, 0, conn.OpPing, nil), fr(false, 0, conn.OpContinuation, []byte("lo, ")),
			fr(true, 0, conn.OpPong, []byte("x")), fr(true, 0, conn.OpContinuation, []byte("wörld")), closeFr(1001, "going")),
		cat(fr(false, 0, conn.OpBinary, []byte("ab")), fr(true, 0, conn.OpPing, []byte("p")), fr(false, 0, conn.OpContinuation, nil),
			fr(true, 0, conn.OpContinuation, []byte("cd")), fr(true, 0, conn.OpText, []byte("t")), closeFr(1000, "")),
		cat(fr(false, 0, conn.OpText, []byte("ok \xF0\x9F")), fr(true, 0, conn.OpContinuation, []byte("\x98(")), closeFr(1000, "")),
		cat(fr(true, 0, conn.OpText, []byte("abc\xC3")), closeFr(1000, "")),
		cat(fr(true, 0, conn.OpText, []byte("\xed\xa0\x80")), closeFr(1000, "")),
		fr(true, conn.Rsv1, conn.OpText, []byte("hi")),
		fr(true, conn.Rsv3, conn.OpBinary, nil),
		fr(true, 0, conn.Opcode(3), nil),
		fr(true, 0, conn.Opcode(0xB), nil),
		fr(false, 0, conn.OpPing, nil),
		rawHeader(0x89, 126, 0, 126),
		fr(true, 0, conn.OpContinuation, []byte("x")),
		cat(fr(false, 0, conn.OpText, []byte("a")), fr(true, 0, conn.OpText, []byte("b"))),
		cat(fr(false, 0, conn.OpBinary, []byte("a")), fr(true, 0, conn.OpBinary, []byte("b"))),
		cat(fr(false, 0, conn.OpBinary, []byte("a")), fr(true, 0, conn.OpText, []byte("b"))),
		cat(fr(false, 0, conn.OpText, []byte("a")), fr(true, 0, conn.OpBinary, []byte("b"))),
		fr(true, 0, conn.OpClose, []byte{3}),
		fr(true, 0, conn.OpClose, []byte{0x03, 0xED}),
		fr(true, 0, conn.OpClose, []byte{0x03, 0xE8, 0xFF}),
		fr(true, 0, conn.OpClose, append([]byte{0x03, 0xE8}, bytes.Repeat([]byte("r"), 60)...)),
		cat(fr(true, 0, conn.OpBinary, big[:126]), fr(true, 0, conn.OpText, big[:20]), closeFr(1000, "")),
		cat(fr(false, 0, conn.OpBinary, big[:30]), fr(true, 0, conn.OpPing, nil), fr(true, 0, conn.OpContinuation, big[:40])),
		cat(hdr(conn.OpBinary, fuzzMaxBin+1), big[:10]),
		cat(hdr(conn.OpText, fuzzBufCap+1), big[:10]),
		hdr(conn.OpBinary, 1<<62),
		hdr(conn.OpText, 10<<30),
		append(hdr(conn.OpBinary, 1000), make([]byte, 20)...),
		append(hdr(conn.OpText, 1000), make([]byte, 20)...),
		hdr(conn.OpPing, 100),
		rawHeader(0x82, 126, 0, 5),
		rawHeader(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0),
		encFrame(true, 0, conn.OpText, []byte("wrong masking"), map[bool]*[4]byte{true: nil, false: {1, 2, 3, 4}}[peerMasks]),
		cat(fr(true, 0, conn.OpText, []byte("trailing")), []byte{0x81}),
	}
}

// bigConnInputs are inputs at the connection's limits. They are checked
// by TestConnLimits rather than seeded: the fuzzer spends its time
// minimizing what it derives from 64 KiB seeds.
func bigConnInputs(peerMasks bool) [][]byte {
	var key *[4]byte
	if peerMasks {
		key = &[4]byte{0x37, 0xFA, 0x21, 0x3D}
	}
	fr := func(fin bool, op conn.Opcode, p []byte) []byte { return encFrame(fin, 0, op, p, key) }
	cat := func(fs ...[]byte) []byte { return bytes.Join(fs, nil) }
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	end := fr(true, conn.OpClose, []byte{0x03, 0xE8})
	return [][]byte{
		cat(fr(true, conn.OpBinary, big), fr(true, conn.OpText, big), end),
		cat(fr(false, conn.OpBinary, big[:1]), fr(true, conn.OpContinuation, big[1:]), end),
		cat(fr(false, conn.OpText, big[:40000]), fr(true, conn.OpPing, nil), fr(true, conn.OpContinuation, big[40000:]), end),
		fr(true, conn.OpBinary, append(big, 0)),
		fr(true, conn.OpText, append(big, 'x')),
		cat(fr(false, conn.OpBinary, big[:40000]), fr(true, conn.OpContinuation, big[:30000])),
		cat(fr(false, conn.OpText, big[:40000]), fr(true, conn.OpContinuation, big[:30000])),
		cat(fr(false, conn.OpText, big[:40000]), fr(true, conn.OpContinuation, append(big[:20000:20000], 0xFF))),
		fr(true, conn.OpBinary, big[:50000])[:30000],
	}
}

func TestConnLimits(t *testing.T) {
	t.Parallel()
	for i, in := range bigConnInputs(true) {
		t.Run(fmt.Sprintf("server/%d", i), func(t *testing.T) { runConnFuzz(t, in, false) })
	}
	for i, in := range bigConnInputs(false) {
		t.Run(fmt.Sprintf("client/%d", i), func(t *testing.T) { runConnFuzz(t, in, true) })
	}
}

func FuzzServerConn(f *testing.F) {
	for _, s := range connSeeds(true) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { runConnFuzz(t, data, false) })
}

func FuzzClientConn(f *testing.F) {
	for _, s := range connSeeds(false) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { runConnFuzz(t, data, true) })
}

// pipeRWC is one end of an in-memory stream that is not a net.Conn, so the
// connection has no deadlines and a canceled context tears it down.
type pipeRWC struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (p pipeRWC) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p pipeRWC) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p pipeRWC) Close() error {
	_ = p.r.Close()
	return p.w.Close()
}

func newPipeRWC() (a, b pipeRWC) {
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	return pipeRWC{ar, aw}, pipeRWC{br, bw}
}

// TestCloseTransportRacesReader: closeTransport calls c.rd.release() from
// whichever goroutine ends the connection (a context's AfterFunc, Close
// after CloseTimeout, keepalive expiry) without holding rsem, while the
// reading goroutine may be inside reader.fill, reading into the pooled
// buffer. release rewrites rd.buf/r/w/pooled under it and puts the buffer
// back in its pool while the Read into it is still in flight, so another
// connection can be handed a buffer this one is still writing to. Run
// with -race: the detector reports the conflicting accesses to rd.w
// (reader.fill, reader.go) and rd.release (closeTransport, conn.go).
func TestCloseTransportRacesReader(t *testing.T) {
	for range 20 {
		a, peer := newPipeRWC()
		c := newConn(a, false, &Options{}, nil)
		go func() {
			// A masked 300-byte text frame of which 10 bytes arrive: the
			// payload is read in pieces under 512 bytes, so through the
			// pooled buffer.
			var hdr [conn.MaxHeaderSize]byte
			n := conn.PutHeader(hdr[:], true, 0, conn.OpText, 300, &[4]byte{1, 2, 3, 4})
			_, _ = peer.Write(hdr[:n])
			_, _ = peer.Write(make([]byte, 10))
			_, _ = io.Copy(io.Discard, peer)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := c.Next(ctx)
		cancel()
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next = %v", err)
		}
		_ = peer.Close()
	}
}

// TestCloseReasonMustBeUTF8: RFC 6455 (5.5.1) makes a peer fail a close
// frame whose reason is not UTF-8 with 1007, so Close refuses such a reason
// with ErrInvalidUTF8, as SendText does, and puts nothing on the wire.
func TestCloseReasonMustBeUTF8(t *testing.T) {
	srv, peer := net.Pipe()
	defer peer.Close()
	c := newConn(srv, false, &Options{CloseTimeout: 100 * time.Millisecond}, nil)
	defer c.closeTransport()
	if err := c.Close(StatusNormalClosure, "bad \xff reason"); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("Close = %v, want ErrInvalidUTF8", err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [1]byte
	if n, err := peer.Read(b[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the peer read %d bytes (%v); want nothing on the wire", n, err)
	}
	if c.State() != Open {
		t.Fatalf("state %v: a refused Close must leave the connection open", c.State())
	}
}
