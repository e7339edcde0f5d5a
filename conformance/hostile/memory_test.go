package hostile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// The memory tests are not parallel: each measures the whole process's
// heap, and go test runs them before any parallel test starts.

// TestMemoryHugeBinaryDeclared: a binary frame declaring 2^62 bytes, some
// payload, then silence. Binary is streamed and MaxBinaryMessage is unset,
// so the server must wait, holding no buffer proportional to the length;
// the attacker then closes TCP.
func TestMemoryHugeBinaryDeclared(t *testing.T) {
	r := record(t, "Memory", "binary frame declaring 2^62 bytes, 256 KiB of payload, silence 300 ms, then TCP closed (MaxBinaryMessage unset)")
	s := startServer(t, wsio.ServerOptions{}, echo(true))
	a := dialWS(t, s)
	sc := s.conn(a.addr())
	base := sc.read.Load()
	hw := watchHeap(t)
	const sent = 256 << 10
	msg := rawFrame(0x82, len64(1<<62), bytes.Repeat([]byte("b"), sent))
	a.mustWrite(msg)
	if !wstest.Poll(5*time.Second, func() bool { return sc.read.Load() >= base+int64(len(msg)) }) {
		t.Fatalf("the server read %d of %d bytes", sc.read.Load()-base, len(msg))
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := s.result(a.addr(), 0); err == nil {
		t.Fatal("the handler already returned while the message was in progress")
	}
	grow := hw.growth()
	hw.end()
	_ = a.nc.Close()
	res := s.mustResult(t, a.addr(), 5*time.Second)
	r.saw("server waited (heap +%s, %d payload bytes streamed to the handler); after the TCP close the handler's Read: %v", mib(grow), res.binRead, desc(res.err))
	if grow > 4<<20 {
		t.Errorf("heap grew by %s while a 2^62-byte message was pending, want < 4 MiB", mib(grow))
	}
	if res.binRead != sent {
		t.Errorf("the handler read %d payload bytes, want %d", res.binRead, sent)
	}
	if msg := checkCloseErr(res.err, wsio.StatusAbnormalClosure, false, io.ErrUnexpectedEOF); msg != "" {
		t.Errorf("handler: %s", msg)
	}
	if errors.Is(res.err, io.EOF) {
		t.Errorf("handler error %v matches io.EOF", res.err)
	}
}

// TestMemoryHugeBinaryCapped: the same header with MaxBinaryMessage set
// closes with 1009 at once.
func TestMemoryHugeBinaryCapped(t *testing.T) {
	r := record(t, "Memory", "binary frame declaring 2^62 bytes with MaxBinaryMessage 1 MiB")
	s := startServer(t, wsio.ServerOptions{Options: wsio.Options{MaxBinaryMessage: 1 << 20}}, echo(true))
	a := dialWS(t, s)
	start := time.Now()
	a.mustWrite(rawFrame(0x82, len64(1<<62), nil))
	code, _, _, err := a.awaitClose(5 * time.Second)
	took := time.Since(start)
	_ = a.nc.Close()
	res := s.mustResult(t, a.addr(), 5*time.Second)
	r.saw("close %d after %v; handler: %v", code, fmtDur(took), desc(res.err))
	if err != nil || code != 1009 {
		t.Errorf("close %d, %v; want 1009", code, err)
	}
	if took > 500*time.Millisecond {
		t.Errorf("close after %v, want at once", took)
	}
	if msg := checkCloseErr(res.err, wsio.StatusMessageTooBig, false, errBig); msg != "" {
		t.Errorf("handler: %s", msg)
	}
}

// TestMemoryHugeFragmentedText: a text message of 10 GiB declared as 64 KiB
// fragments, against the default BufferCap of 2 MiB.
func TestMemoryHugeFragmentedText(t *testing.T) {
	r := record(t, "Memory", "10 GiB text message sent as 64 KiB fragments as fast as possible (BufferCap 2 MiB)")
	s := startServer(t, wsio.ServerOptions{}, echo(true))
	a := dialWS(t, s)
	sc := s.conn(a.addr())
	base := sc.read.Load()
	hw := watchHeap(t)
	const frag = 64 << 10
	const total = 10 << 30
	first := frame(false, 0, opText, bytes.Repeat([]byte("a"), frag))
	cont := frame(false, 0, opCont, bytes.Repeat([]byte("a"), frag))
	stop := make(chan struct{})
	var written atomic.Int64
	wdone := make(chan error, 1)
	go func() {
		for i := 0; i < total/frag; i++ {
			select {
			case <-stop:
				wdone <- nil
				return
			default:
			}
			f := cont
			if i == 0 {
				f = first
			}
			if err := a.write(f); err != nil {
				wdone <- err
				return
			}
			written.Add(frag)
		}
		wdone <- errors.New("the whole 10 GiB was accepted")
	}()
	code, _, _, err := a.awaitClose(10 * time.Second)
	close(stop)
	readAt := sc.readAtSecondWrite.Load() - base
	sentAtClose := written.Load()
	werr := <-wdone
	grow := hw.growth()
	hw.end()
	_ = a.nc.Close()
	res := s.mustResult(t, a.addr(), 5*time.Second)
	r.saw("close %d when the server had read %s (attacker had written %s); heap +%s; handler: %v", code, mib(readAt), mib(sentAtClose), mib(grow), desc(res.err))
	if err != nil || code != 1009 {
		t.Errorf("close %d, %v; want 1009", code, err)
	}
	if werr != nil && !isClosedErr(werr) {
		t.Errorf("attacker's writes: %v", werr)
	}
	if readAt < 2<<20 || readAt > 2<<20+frag {
		t.Errorf("the server sent its close after reading %d bytes, want within one fragment after 2 MiB", readAt)
	}
	if grow > 8<<20 {
		t.Errorf("heap grew by %s, want < 8 MiB", mib(grow))
	}
	if msg := checkCloseErr(res.err, wsio.StatusMessageTooBig, false, errBig); msg != "" {
		t.Errorf("handler: %s", msg)
	}
}

// TestMemoryPingFlood: 100,000 pings of 125 bytes, written as fast as the
// server takes them, by a peer that never reads (its socket buffers set to
// 32 KiB so backpressure comes early). The pong queue is one frame long,
// so the server holds nothing per ping; once its pong writes block, TCP
// pushes back on the attacker. Then the attacker reads: it must get pongs
// (the last one answering the last ping) and an echo.
func TestMemoryPingFlood(t *testing.T) {
	r := record(t, "Memory", "100,000 pings (125-byte payloads) as fast as possible, never reading; then reading and sending a text message (CloseTimeout 1 s)")
	var pings atomic.Int64
	opts := wsio.ServerOptions{Options: wsio.Options{CloseTimeout: time.Second, OnPing: func([]byte) { pings.Add(1) }}}
	s := startServer(t, opts, echo(true))
	a := dialWS(t, s)
	_ = a.nc.SetWriteBuffer(32 << 10)
	_ = a.nc.SetReadBuffer(32 << 10)
	hw := watchHeap(t)

	const n, perBatch, plen = 100_000, 100, 125
	fsize := len(frame(true, 0, opPing, make([]byte, plen)))
	payload := func(i int) []byte { return fmt.Appendf(nil, "ping %06d %s", i, strings.Repeat(".", plen-12)) }
	// Write as fast as the server takes the pings. A write that times out
	// only ends the flood when the server handled (almost) no ping in that
	// second, i.e. it is blocked on its pong writes, not merely slow.
	var out []byte  // encoded pings not yet written
	var written int // bytes written
	next := 0       // the next ping to encode
	start := time.Now()
	var floodErr error
	for {
		if len(out) == 0 {
			if next == n {
				break
			}
			for i := next; i < min(next+perBatch, n); i++ {
				out = append(out, frame(true, 0, opPing, payload(i))...)
			}
			next = min(next+perBatch, n)
		}
		before := pings.Load()
		_ = a.nc.SetWriteDeadline(time.Now().Add(time.Second))
		k, err := a.nc.Write(out)
		written += k
		out = out[k:]
		if err != nil && (!errors.Is(err, os.ErrDeadlineExceeded) || pings.Load()-before <= 2) {
			floodErr = err
			break
		}
	}
	sent := written / fsize
	var pending []byte // the rest of a ping cut by the write timeout
	if rest := (fsize - written%fsize) % fsize; rest > 0 {
		pending = out[:rest]
		sent++
	}
	floodTime := time.Since(start)
	floodGrow := hw.growth()
	seen := pings.Load()
	how := "all written"
	if floodErr != nil {
		how = fmt.Sprintf("stopped after %v by %v", floodTime.Round(time.Millisecond), floodErr)
	}
	if floodGrow > 8<<20 {
		t.Errorf("heap grew by %s during the flood, want < 8 MiB", mib(floodGrow))
	}
	if res, err := s.result(a.addr(), 200*time.Millisecond); err == nil {
		r.saw("%d pings written (%s), %d handled, heap +%s; the server dropped the connection: %v", sent, how, seen, mib(floodGrow), desc(res.err))
		if checkCloseErr(res.err, wsio.StatusAbnormalClosure, false, os.ErrDeadlineExceeded) == "" {
			bug(t, r, "ping flood by a peer that stops reading (masked pings 89 FD <key> <125 bytes>, %d of them): once the peer's receive window is full, "+
				"a pong write blocks the reading goroutine for CloseTimeout (1 s here; also seen with the default 5 s and a 6 s pause) and is then cut "+
				"after part of the 127-byte pong went out, so the connection is aborted without a close frame and the handler's Next returns %v "+
				"(a write error from the read path). When the blocked write had sent nothing the pong is dropped and the connection lives, so the outcome "+
				"depends on timing. Expected: the connection survives (the pong dropped or kept pending) and the peer gets pongs and its echo once it reads", sent, desc(res.err))
		}
		t.Fatalf("the server ended the connection during the flood: %v", res.err)
	}
	if floodErr != nil && !errors.Is(floodErr, os.ErrDeadlineExceeded) {
		t.Fatalf("flood write: %v", floodErr)
	}

	// Now read: pongs, then the echo.
	type readResult struct {
		pongs    int
		lastPong string
		echo     string
		err      error
	}
	rc := make(chan readResult, 1)
	go func() {
		var rr readResult
		deadline := time.Now().Add(20 * time.Second)
		for {
			f, err := a.readFrame(time.Until(deadline))
			if err != nil {
				rr.err = err
				rc <- rr
				return
			}
			switch f.Opcode {
			case opPong:
				rr.pongs++
				rr.lastPong = string(f.Payload)
			case opText:
				rr.echo = string(f.Payload)
				rc <- rr
				return
			}
		}
	}()
	if pending != nil {
		a.mustWrite(pending)
	}
	echoStart := time.Now()
	a.mustWrite(frame(true, 0, opText, []byte("after the flood")))
	rr := <-rc
	echoAfter := time.Since(echoStart)
	grow := hw.growth()
	hw.end()
	a.mustWrite(frame(true, 0, opClose, closePayload(1000, "")))
	code, _, _, cerr := a.awaitClose(5 * time.Second)
	_ = a.nc.Close()
	res := s.mustResult(t, a.addr(), 5*time.Second)

	r.saw("%d pings written (%s; %d handled by then), heap +%s during the flood, +%s overall; reading then got %d pongs (last %.11q) and the echo %v later; closed %d",
		sent, how, seen, mib(floodGrow), mib(grow), rr.pongs, rr.lastPong, fmtDur(echoAfter), code)
	if grow > 8<<20 {
		t.Errorf("heap grew by %s overall, want < 8 MiB", mib(grow))
	}
	if rr.err != nil {
		t.Fatalf("reading after the flood: %v (%d pongs)", rr.err, rr.pongs)
	}
	if rr.echo != "after the flood" {
		t.Errorf("echo %q", rr.echo)
	}
	if rr.pongs == 0 || rr.lastPong != string(payload(sent-1)) {
		t.Errorf("%d pongs, the last %.11q; want the last to answer ping %d", rr.pongs, rr.lastPong, sent-1)
	}
	if got := pings.Load(); got != int64(sent) {
		t.Errorf("the server saw %d pings, want %d", got, sent)
	}
	if cerr != nil || code != 1000 {
		t.Errorf("close: %d %v", code, cerr)
	}
	if msg := checkCloseErr(res.err, wsio.StatusNormalClosure, true); msg != "" {
		t.Errorf("handler: %s", msg)
	}
}

// TestMemoryPeerNeverReads: the server streams a large binary message to a
// peer that never reads, bounded by a context timeout or a write deadline.
// The send must fail with a deadline error, and another client on the same
// server must still get prompt echoes meanwhile.
func TestMemoryPeerNeverReads(t *testing.T) {
	for _, mode := range []string{"ctx", "deadline"} {
		t.Run(mode, func(t *testing.T) {
			what := map[string]string{"ctx": "a 1 s context timeout", "deadline": "a write deadline 1 s ahead"}[mode]
			r := record(t, "Memory", "server streams up to 1 GiB of binary to a peer that never reads, bounded by "+what+"; a second client echoes meanwhile")
			type streamed struct {
				sent int64
				took time.Duration
			}
			st := make(chan streamed, 1)
			h := func(c *wsio.Conn, res *result) error {
				m, err := c.Next(context.Background())
				if err != nil {
					return err
				}
				if m.Text != "stream" {
					_ = c.SendText(context.Background(), m.Text)
					return echo(true)(c, res)
				}
				ctx := context.Background()
				if mode == "ctx" {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, time.Second)
					defer cancel()
				} else {
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				}
				start := time.Now()
				w, err := c.BeginBinary(ctx)
				if err != nil {
					return err
				}
				buf := make([]byte, 1<<20)
				var sent int64
				for sent < 1<<30 {
					k, err := w.Write(buf)
					sent += int64(k)
					if err != nil {
						st <- streamed{sent, time.Since(start)}
						_ = w.Close()
						return err
					}
				}
				st <- streamed{sent, time.Since(start)}
				return errors.New("1 GiB went into a peer that never reads")
			}
			s := startServer(t, wsio.ServerOptions{Options: wsio.Options{CloseTimeout: time.Second}}, h)
			hw := watchHeap(t)
			a := dialWS(t, s)
			a.mustWrite(frame(true, 0, opText, []byte("stream")))
			time.Sleep(300 * time.Millisecond) // the server's writes are blocked by now

			c := dialClient(t, s.url, nil)
			rtt, err := echoRoundTrip(c, "hello", time.Second)
			if err != nil {
				t.Errorf("second client: %v", err)
			}
			rtt2, err := echoRoundTrip(c, "again", time.Second)
			if err != nil {
				t.Errorf("second client: %v", err)
			}

			var got streamed
			select {
			case got = <-st:
			case <-time.After(5 * time.Second):
				t.Fatal("the stream to the non-reading peer did not fail within 5 s")
			}
			res := s.mustResult(t, a.addr(), 5*time.Second)
			grow := hw.growth()
			hw.end()
			_ = c.Close(wsio.StatusNormalClosure, "")
			r.saw("the send failed after %v having written %s: %v; heap +%s; second client's echoes took %v and %v",
				fmtDur(got.took), mib(got.sent), desc(res.err), mib(grow), fmtDur(rtt), fmtDur(rtt2))
			if !isDeadlineErr(res.err) {
				t.Errorf("the send failed with %v, want a deadline or context error", res.err)
			}
			if got.took < 900*time.Millisecond || got.took > 2*time.Second {
				t.Errorf("the send failed after %v, want about 1 s", got.took)
			}
			if rtt > 500*time.Millisecond || rtt2 > 500*time.Millisecond {
				t.Errorf("second client's echoes took %v and %v", rtt, rtt2)
			}
			if grow > 16<<20 {
				t.Errorf("heap grew by %s, want < 16 MiB", mib(grow))
			}
		})
	}
}
