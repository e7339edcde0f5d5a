//go:build !js

package wsio

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/deflate"
)

// compressible returns n bytes of JSON-like text that differ message to message.
func compressible(n, seed int) string {
	var b strings.Builder
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":%d,"user":"u%d","status":"%s","tags":["a","b"]},`, r.IntN(100000), r.IntN(50), []string{"active", "idle", "away"}[r.IntN(3)])
	}
	return b.String()[:n]
}

// countingConn counts bytes written, to see compression on the wire.
type countingConn struct {
	net.Conn
	n *int64
}

func (c countingConn) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return c.Conn.Write(p)
}

func TestDeflateRoundTrips(t *testing.T) {
	t.Parallel()
	type mode struct {
		bits           int
		noCtx, peerNoC bool
	}
	var modes []mode
	for bits := 8; bits <= 15; bits++ {
		for _, m := range []mode{{bits, false, false}, {bits, true, false}, {bits, false, true}, {bits, true, true}} {
			modes = append(modes, m)
		}
	}
	for _, m := range modes {
		t.Run(fmt.Sprintf("bits%d_noctx%v_peernoctx%v", m.bits, m.noCtx, m.peerNoC), func(t *testing.T) {
			t.Parallel()
			srvComp := &Compression{WindowBits: m.bits, PeerWindowBits: m.bits, NoContextTakeover: m.noCtx, Threshold: -1}
			url := testServer(t, &ServerOptions{Options: Options{Compression: srvComp, FragmentSize: 4096}}, echo)
			var sent int64
			c := dial(t, url, &DialOptions{
				Options: Options{Compression: &Compression{WindowBits: m.bits, PeerNoContextTakeover: m.peerNoC, Threshold: -1}, FragmentSize: 3000},
				NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					return countingConn{nc, &sent}, err
				},
			})
			if c.deflate == nil {
				t.Fatal("deflate not negotiated")
			}
			ctx := context.Background()
			var plain int64
			for i, n := range []int{0, 1, 100, 5000, 70000, 5000, 100} {
				msg := compressible(n, i)
				plain += int64(n) * 2
				if err := c.SendText(ctx, msg); err != nil {
					t.Fatal(err)
				}
				got, err := c.Next(ctx)
				if err != nil || got.Text != msg {
					t.Fatalf("text %d: %d bytes back, %v", n, len(got.Text), err)
				}
				w, err := c.BeginBinary(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(w, strings.NewReader(msg)); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				bm, err := c.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(bm)
				if err != nil || string(b) != msg {
					t.Fatalf("binary %d: %d bytes back, %v", n, len(b), err)
				}
			}
			if sent*3 > plain {
				t.Fatalf("sent %d wire bytes for %d plain bytes: not compressed", sent, plain)
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeflateSendPaths drives one connection with context takeover both
// ways through each way of compressing a message (a borrowed compressor
// for messages far apart, a kept one for busy runs, the stateless encoder
// for busy runs when no compressor may be kept, and a stream between
// them), checking every echo, that a busy connection keeps its
// compressor past compressorIdle, and that a kept compressor is given
// back compressorIdle after the last message. Not parallel: it fills the
// global budget of kept compressors for a while.
func TestDeflateSendPaths(t *testing.T) {
	url := testServer(t, &ServerOptions{Options: Options{Compression: &Compression{}}}, echo)
	c := dial(t, url, nil)
	d := c.deflate
	if d == nil || !d.outTakeover || !d.inTakeover {
		t.Fatal("context takeover not negotiated")
	}
	kept := func() bool {
		c.msem.lockAlways()
		defer c.msem.unlock()
		return d.fw != nil
	}
	ctx := context.Background()
	msgs := jsonMsgs(64)
	i := 0
	echoText := func() {
		t.Helper()
		msg := msgs[i%len(msgs)]
		i++
		if err := c.SendText(ctx, msg); err != nil {
			t.Fatal(err)
		}
		m, err := c.Next(ctx)
		if err != nil || m.Text != msg {
			t.Fatalf("message %d: %d bytes back, %v", i, len(m.Text), err)
		}
	}
	echoStream := func() {
		t.Helper()
		msg := msgs[i%len(msgs)] + msgs[(i+1)%len(msgs)]
		i++
		w, err := c.BeginBinary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(m); err != nil || string(b) != msg {
			t.Fatalf("stream %d: %d bytes back, %v", i, len(b), err)
		}
	}

	// Far apart: each message borrows a compressor.
	for range 3 {
		echoText()
		if kept() {
			t.Fatal("a connection that is not busy kept its compressor")
		}
		time.Sleep(busyGap + 20*time.Millisecond)
	}
	// Busy: the compressor stays, if the budget has room.
	room := keptCompressors.Load() < keptMax()-1
	for range 20 {
		echoText()
	}
	echoStream()
	echoText()
	if room && !kept() {
		t.Fatal("a busy connection did not keep its compressor")
	}
	if n := keptCompressors.Load(); n > keptMax() {
		t.Fatalf("%d compressors kept, over the budget of %d", n, keptMax())
	}
	// Busy for longer than compressorIdle: the release timer, armed by
	// the first message that kept the compressor, finds the connection
	// busy each time it looks, and the compressor stays.
	for end := time.Now().Add(compressorIdle + 400*time.Millisecond); room && time.Now().Before(end); {
		time.Sleep(busyGap / 4)
		if !kept() {
			t.Fatal("a connection busy for longer than compressorIdle lost its compressor between messages")
		}
		echoText()
	}
	// Idle: it goes back to the pool.
	time.Sleep(compressorIdle + 300*time.Millisecond)
	if kept() {
		t.Fatal("the compressor was kept after the connection went idle")
	}
	// Busy with the budget full: the stateless encoder, then streams.
	keptCompressors.Add(keptMax())
	for range 20 {
		echoText()
		if kept() {
			t.Fatal("a compressor was kept over the budget")
		}
	}
	echoStream()
	echoText()
	keptCompressors.Add(-keptMax())
	for range 5 {
		echoText()
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if kept() {
		t.Fatal("a closed connection kept its compressor")
	}
}

// deflateRaw compresses p the way RFC 7692 frames it: sync flush, the
// trailing 00 00 ff ff removed.
func deflateRaw(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(p)
	w.Flush()
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte(deflate.FlushMarker)) {
		t.Fatal("no sync marker")
	}
	return out[:len(out)-4]
}

// rawDeflateDial is rawDial offering permessage-deflate with no context
// takeover either way, so each raw message can be compressed on its own.
func rawDeflateDial(t *testing.T, url string) *rawPeer {
	t.Helper()
	return rawDialExt(t, url, "permessage-deflate; client_no_context_takeover; server_no_context_takeover", 20*time.Second)
}

func TestDeflateFragmentedWithControlFrames(t *testing.T) {
	t.Parallel()
	url := testServer(t, &ServerOptions{Options: Options{Compression: &Compression{Threshold: -1}}}, echo)
	p := rawDeflateDial(t, url)
	msg := compressible(20000, 3)
	z := deflateRaw(t, []byte(msg))
	third := len(z) / 3
	p.frame(false, conn.Rsv1, conn.OpText, z[:third], false)
	p.frame(true, 0, conn.OpPing, []byte("one"), false)
	p.frame(false, 0, conn.OpContinuation, z[third:2*third], false)
	p.frame(true, 0, conn.OpPing, []byte("two"), false)
	p.frame(true, 0, conn.OpContinuation, z[2*third:], false)
	var pongs []string
	for {
		h, payload, err := p.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if h.Op == conn.OpPong {
			pongs = append(pongs, string(payload))
			continue
		}
		if h.Op != conn.OpText || h.Rsv != conn.Rsv1 || !h.Fin {
			t.Fatalf("echo frame %+v", h)
		}
		got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(payload), strings.NewReader(deflate.Tail))))
		if err != nil || string(got) != msg {
			t.Fatalf("echo inflated to %d bytes, %v", len(got), err)
		}
		break
	}
	if strings.Join(pongs, ",") != "one,two" {
		t.Fatalf("pongs %q", pongs)
	}
}

func TestDeflateRSV1Misuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		deflate bool
		send    func(p *rawPeer, z []byte)
	}{
		{"RSV1 without negotiation", false, func(p *rawPeer, z []byte) { p.frame(true, conn.Rsv1, conn.OpText, z, false) }},
		{"RSV1 on a continuation", true, func(p *rawPeer, z []byte) {
			p.frame(false, conn.Rsv1, conn.OpText, z[:2], false)
			p.frame(true, conn.Rsv1, conn.OpContinuation, z[2:], false)
		}},
		{"RSV1 on a ping", true, func(p *rawPeer, z []byte) { p.frame(true, conn.Rsv1, conn.OpPing, nil, false) }},
		{"RSV2 with deflate", true, func(p *rawPeer, z []byte) { p.frame(true, conn.Rsv2, conn.OpText, z, false) }},
		{"corrupt compressed data", true, func(p *rawPeer, z []byte) {
			p.frame(true, conn.Rsv1, conn.OpBinary, []byte{0xff, 0xff, 0xff, 0x00}, false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := testServer(t, &ServerOptions{Options: Options{Compression: &Compression{}}}, echo)
			var p *rawPeer
			if tt.deflate {
				p = rawDeflateDial(t, url)
			} else {
				p = rawDial(t, url)
			}
			tt.send(p, deflateRaw(t, []byte("hello hello hello")))
			want := StatusProtocolError
			if strings.HasPrefix(tt.name, "corrupt") {
				want = StatusInvalidPayload
			}
			if got := p.expectClose(); got != want {
				t.Fatalf("close %v, want %v", got, want)
			}
		})
	}
}

// A small frame that inflates to far more than the cap ends with 1009,
// having held no more than about the cap in memory.
func TestDecompressionBomb(t *testing.T) {
	// Not parallel: it measures the heap.
	errs := make(chan error, 2)
	url := testServer(t, &ServerOptions{Options: Options{Compression: &Compression{}, BufferCap: 1 << 20, MaxBinaryMessage: 1 << 20}}, func(c *Conn) {
		for {
			m, err := c.Next(context.Background())
			if err != nil {
				errs <- err
				return
			}
			if _, err := io.Copy(io.Discard, m); err != nil {
				errs <- err
				return
			}
		}
	})
	zeros := make([]byte, 64<<20)
	for _, op := range []conn.Opcode{conn.OpText, conn.OpBinary} {
		bomb := deflateRaw(t, zeros) // 64 MiB of zeros in ~64 KiB
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p := rawDeflateDial(t, url)
		p.frame(true, conn.Rsv1, op, bomb, false)
		if got := p.expectClose(); got != StatusMessageTooBig {
			t.Fatalf("%v bomb: close %v, want 1009", op, got)
		}
		err := <-errs
		if !errors.Is(err, ErrMessageTooBig) {
			t.Fatalf("%v bomb: server error %v", op, err)
		}
		runtime.ReadMemStats(&after)
		if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 16<<20 {
			t.Fatalf("%v bomb: allocated %d MiB to refuse it", op, grew>>20)
		}
	}
}

func TestPreparedCompressedOnce(t *testing.T) {
	t.Parallel()
	msg := compressible(50000, 9)
	for _, noCtx := range []bool{true, false} {
		p, err := Prepare(Text, []byte(msg), 0)
		if err != nil {
			t.Fatal(err)
		}
		url := testServer(t, &ServerOptions{Options: Options{Compression: &Compression{NoContextTakeover: noCtx}}}, func(c *Conn) {
			for range 3 {
				if err := c.SendPrepared(context.Background(), p); err != nil {
					t.Errorf("SendPrepared: %v", err)
				}
			}
			_, _ = c.Next(context.Background())
		})
		c := dial(t, url, nil)
		for range 3 {
			m, err := c.Next(context.Background())
			if err != nil || m.Text != msg {
				t.Fatalf("noCtx=%v: got %d bytes, %v", noCtx, len(m.Text), err)
			}
		}
		if got := p.deflated[1] != nil; got != noCtx {
			t.Fatalf("noCtx=%v: compressed once = %v", noCtx, got)
		}
		_ = c.Close(StatusNormalClosure, "")
	}
}
