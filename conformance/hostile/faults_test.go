package hostile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// TestFaultsBinaryCutShort: the peer goes away in the middle of a binary
// message the handler is reading. The Read must fail with an error
// matching io.ErrUnexpectedEOF, never io.EOF.
func TestFaultsBinaryCutShort(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsio.ServerOptions{}, echo(true))
	p := func(n int) []byte { return bytes.Repeat([]byte("z"), n) }
	cases := []struct {
		name, tried string
		send        []byte
		end         string // "rst", "fin" or "" (send holds a close frame)
		code        wsio.StatusCode
		remote      bool
	}{
		{"rst-mid-payload", "binary frame declaring 1 MiB, 100 KiB sent, then RST (SO_LINGER 0)", rawFrame(0x82, len64(1<<20), p(100<<10)), "rst", 1006, false},
		{"rst-between-fragments", "binary fragment of 100 KiB (FIN clear), then RST", frame(false, 0, opBinary, p(100<<10)), "rst", 1006, false},
		{"rst-mid-header", "binary fragment, half of the next frame header, then RST", cat(frame(false, 0, opBinary, p(1000)), []byte{0x80}), "rst", 1006, false},
		{"fin-mid-payload", "binary frame declaring 1 MiB, 100 KiB sent, then FIN", rawFrame(0x82, len64(1<<20), p(100<<10)), "fin", 1006, false},
		{"fin-between-fragments", "binary fragment (FIN clear), then FIN", frame(false, 0, opBinary, p(1000)), "fin", 1006, false},
		{"close-mid-message", "binary fragment (FIN clear), then a close frame 1000", cat(frame(false, 0, opBinary, p(1000)), frame(true, 0, opClose, closePayload(1000, ""))), "", 1000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Faults", tc.tried)
			a := dialWS(t, s)
			sc := s.conn(a.addr())
			base := sc.read.Load()
			a.mustWrite(tc.send)
			if !wstest.Poll(5*time.Second, func() bool { return sc.read.Load() >= base+int64(len(tc.send)) }) {
				t.Fatalf("the server read %d of %d bytes", sc.read.Load()-base, len(tc.send))
			}
			time.Sleep(20 * time.Millisecond) // the handler is blocked in Read
			switch tc.end {
			case "rst":
				a.reset()
			case "fin":
				_ = a.nc.Close()
			}
			res := s.mustResult(t, a.addr(), 5*time.Second)
			r.saw("handler's Read after %d bytes: %v", res.binRead, desc(res.err))
			if !errors.Is(res.err, io.ErrUnexpectedEOF) {
				t.Errorf("Read error %v does not match io.ErrUnexpectedEOF", res.err)
			}
			if errors.Is(res.err, io.EOF) {
				t.Errorf("Read error %v matches io.EOF", res.err)
			}
			if msg := checkCloseErr(res.err, tc.code, tc.remote); msg != "" {
				t.Errorf("Read error: %s", msg)
			}
		})
	}
}

// TestFaultsDroppedTCP: the TCP connection ends without a close frame.
// Next must return a *wsio.CloseError with code 1006 wrapping
// io.ErrUnexpectedEOF.
func TestFaultsDroppedTCP(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsio.ServerOptions{}, echo(true))
	cases := []struct {
		name, tried string
		send        []byte
		rst         bool
	}{
		{"fin-idle", "TCP closed (FIN) while idle, no close frame", nil, false},
		{"fin-after-message", "TCP closed (FIN) after an echoed message", frame(true, 0, opText, []byte("hi")), false},
		{"fin-mid-header", "TCP closed (FIN) after one byte of a frame header", []byte{0x81}, false},
		{"fin-mid-text", "TCP closed (FIN) in the middle of a text payload", rawFrame(0x81, []byte{100}, bytes.Repeat([]byte("t"), 100))[:50], false},
		{"fin-mid-fragments", "TCP closed (FIN) between text fragments", frame(false, 0, opText, []byte("part")), false},
		{"rst-idle", "TCP reset (RST) while idle, no close frame", nil, true},
		{"rst-mid-text", "TCP reset (RST) in the middle of a text payload", rawFrame(0x81, []byte{100}, bytes.Repeat([]byte("t"), 100))[:50], true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Faults", tc.tried)
			a := dialWS(t, s)
			sc := s.conn(a.addr())
			base := sc.read.Load()
			if tc.send != nil {
				a.mustWrite(tc.send)
				if !wstest.Poll(5*time.Second, func() bool { return sc.read.Load() >= base+int64(len(tc.send)) }) {
					t.Fatal("the server did not read the bytes")
				}
				if tc.name == "fin-after-message" {
					if f, err := a.readFrame(5 * time.Second); err != nil || string(f.Payload) != "hi" {
						t.Fatalf("echo: %v", err)
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
			if tc.rst {
				a.reset()
			} else {
				_ = a.nc.Close()
			}
			res := s.mustResult(t, a.addr(), 5*time.Second)
			r.saw("handler's Next: %v", desc(res.err))
			msg := checkCloseErr(res.err, wsio.StatusAbnormalClosure, false, io.ErrUnexpectedEOF)
			if msg != "" && tc.rst && checkCloseErr(res.err, wsio.StatusAbnormalClosure, false) == "" {
				bug(t, r, "a TCP connection dropped by RST without a close frame gives *CloseError{Code: 1006} whose cause is %v, "+
					"not io.ErrUnexpectedEOF as the README and the CloseError docs promise (\"A TCP connection dropped without a close frame is code 1006 wrapping io.ErrUnexpectedEOF\"); "+
					"only a FIN is mapped to io.ErrUnexpectedEOF (readFailed)", errors.Unwrap(res.err))
			}
			if msg != "" {
				t.Errorf("Next: %s", msg)
			}
		})
	}
}

// TestFaultsCloseTimeout: the attacker reads the server's close frame and
// never answers. Close must give up after CloseTimeout with an error and
// tear the connection down.
func TestFaultsCloseTimeout(t *testing.T) {
	t.Parallel()
	type closed struct {
		err   error
		took  time.Duration
		state wsio.State
	}
	for _, mode := range []string{"handler", "other-goroutine", "peer-keeps-sending"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tried := map[string]string{
				"handler":            "the handler calls Close(1000); the peer never answers the close frame (CloseTimeout 1 s)",
				"other-goroutine":    "Close(1000) from another goroutine while the handler is in Next; the peer never answers (CloseTimeout 1 s)",
				"peer-keeps-sending": "the handler calls Close(1000); the peer keeps sending text frames and never a close (CloseTimeout 1 s)",
			}[mode]
			r := record(t, "Faults", tried)
			cc := make(chan closed, 1)
			h := func(c *wsio.Conn, res *result) error {
				if _, err := c.Next(context.Background()); err != nil {
					return err
				}
				doClose := func() {
					start := time.Now()
					err := c.Close(wsio.StatusNormalClosure, "bye")
					cc <- closed{err, time.Since(start), c.State()}
				}
				if mode == "other-goroutine" {
					go doClose()
					_, err := c.Next(context.Background())
					return err
				}
				doClose()
				return nil
			}
			s := startServer(t, wsio.ServerOptions{Options: wsio.Options{CloseTimeout: time.Second}}, h)
			a := dialWS(t, s)
			a.mustWrite(frame(true, 0, opText, []byte("close me")))
			code, _, _, err := a.awaitClose(5 * time.Second)
			if err != nil || code != 1000 {
				t.Fatalf("close frame: %d %v", code, err)
			}
			stopSending := make(chan struct{})
			var sending sync.WaitGroup
			if mode == "peer-keeps-sending" {
				sending.Go(func() {
					for {
						select {
						case <-stopSending:
							return
						case <-time.After(20 * time.Millisecond):
							if a.write(frame(true, 0, opText, []byte("ignored"))) != nil {
								return
							}
						}
					}
				})
			}
			eofAfter, eofErr := a.awaitEOF(5 * time.Second)
			close(stopSending)
			sending.Wait()
			var got closed
			select {
			case got = <-cc:
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not return")
			}
			res := s.mustResult(t, a.addr(), 5*time.Second)
			r.saw("Close returned after %v: %v; state %v; the peer saw the TCP close %v after the close frame; handler: %v",
				fmtDur(got.took), got.err, got.state, fmtDur(eofAfter), desc(res.err))
			if got.err == nil {
				t.Error("Close returned nil though the peer never answered")
			}
			if got.took < 900*time.Millisecond || got.took > 2*time.Second {
				t.Errorf("Close took %v, want about CloseTimeout (1 s)", got.took)
			}
			if got.state != wsio.Closed {
				t.Errorf("state %v after Close, want closed", got.state)
			}
			if eofErr != nil || eofAfter > 2*time.Second {
				t.Errorf("the connection was not torn down: %v after %v", eofErr, eofAfter)
			}
			if mode == "other-goroutine" {
				if msg := checkCloseErr(res.err, wsio.StatusNormalClosure, false); msg != "" {
					t.Errorf("the handler's Next: %s", msg)
				}
			}
		})
	}
}

// TestFaultsWriteAfterClose: every send after the connection ended fails
// with an error matching wsio.ErrClosed.
func TestFaultsWriteAfterClose(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"local-close", "peer-close", "tcp-drop", "protocol-error", "reset-then-send"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Faults", "SendText, SendBinary, BeginBinary+Write+Close, Ping and Next after "+map[string]string{
				"local-close":     "the handler's own Close(1000), answered",
				"peer-close":      "the peer's close frame 1000",
				"tcp-drop":        "the TCP connection dropped",
				"protocol-error":  "a protocol error (RSV1) closed it with 1002",
				"reset-then-send": "the peer's RST, found by the first SendText (no Next in between)",
			}[how])
			h := func(c *wsio.Conn, res *result) error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				var ended error
				switch how {
				case "local-close":
					if _, err := c.Next(ctx); err != nil {
						return err
					}
					if err := c.Close(wsio.StatusNormalClosure, ""); err != nil {
						return fmt.Errorf("Close: %w", err)
					}
				case "reset-then-send":
					if _, err := c.Next(ctx); err != nil {
						return err
					}
					time.Sleep(200 * time.Millisecond) // the RST has arrived
				default:
					_, ended = c.Next(ctx)
				}
				try := func(name string, err error) {
					res.sendErrs = append(res.sendErrs, fmt.Errorf("%s: %w", name, err))
				}
				try("SendText", c.SendText(ctx, "late"))
				try("SendBinary", c.SendBinary(ctx, []byte("late")))
				w, err := c.BeginBinary(ctx)
				if err == nil {
					_, err = w.Write([]byte("late"))
					if cerr := w.Close(); err == nil {
						err = cerr
					}
				}
				try("BeginBinary/Write/Close", err)
				try("Ping", c.Ping(ctx, []byte("late")))
				_, err = c.Next(ctx)
				try("Next", err)
				return ended
			}
			s := startServer(t, wsio.ServerOptions{}, h)
			a := dialWS(t, s)
			switch how {
			case "local-close":
				a.mustWrite(frame(true, 0, opText, []byte("go")))
				if code, _, _, err := a.awaitClose(5 * time.Second); err != nil || code != 1000 {
					t.Fatalf("close frame: %d %v", code, err)
				}
				a.mustWrite(frame(true, 0, opClose, closePayload(1000, "")))
				_, _ = a.awaitEOF(5 * time.Second)
			case "peer-close":
				a.mustWrite(frame(true, 0, opClose, closePayload(1000, "")))
				_, _, _, _ = a.awaitClose(5 * time.Second)
			case "tcp-drop":
				_ = a.nc.Close()
			case "reset-then-send":
				a.mustWrite(frame(true, 0, opBinary, []byte("go")))
				time.Sleep(50 * time.Millisecond)
				a.reset()
			case "protocol-error":
				a.mustWrite(frame(true, 4, opText, []byte("x")))
				_, _, _, _ = a.awaitClose(5 * time.Second)
				_ = a.nc.Close()
			}
			res := s.mustResult(t, a.addr(), 10*time.Second)
			var bad []string
			for _, err := range res.sendErrs {
				if !errors.Is(err, wsio.ErrClosed) {
					bad = append(bad, err.Error())
				}
			}
			if len(res.sendErrs) != 5 {
				r.saw("the handler ended early: %s", desc(res.err))
				t.Fatalf("handler ended early: %v", res.err)
			}
			r.saw("%d calls, %d failed with an error matching ErrClosed (e.g. %v)", len(res.sendErrs), len(res.sendErrs)-len(bad), res.sendErrs[0])
			allWriteFailed := len(bad) > 0
			for _, b := range bad {
				allWriteFailed = allWriteFailed && strings.Contains(b, "write failed, connection closed")
			}
			if how == "reset-then-send" && allWriteFailed {
				bug(t, r, "after a write fails because the peer reset the connection, that SendText and the later sends that reach the frame writer (Ping always; SendText, SendBinary, BeginBinary's Write when their select takes the free message slot rather than the closed done channel) return %q, which does not match ErrClosed "+
					"(writeFrameLocked returns the sticky c.werr, a plain \"websocket: write failed, connection closed: …\" error, before looking at the close state), "+
					"though the connection is closed (Err() is a *CloseError 1006) and Next does return a CloseError; %d of %d calls affected", bad[0], len(bad), len(res.sendErrs))
			}
			for _, b := range bad {
				t.Errorf("does not match wsio.ErrClosed: %s", b)
			}
		})
	}
}

// TestFaultsCloseRaces: Close racing with Next and SendText on other
// goroutines, on both ends of a connection, 200 times. Every call must
// return nil or an error matching ErrClosed, nothing may panic, hang or
// race.
func TestFaultsCloseRaces(t *testing.T) {
	t.Parallel()
	for _, closers := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d-closers", closers), func(t *testing.T) {
			t.Parallel()
			closeRaces(t, closers)
		})
	}
}

func closeRaces(t *testing.T, closers int) {
	const rounds = 200
	r := record(t, "Faults", fmt.Sprintf("%d rounds: %d concurrent Close call(s) racing Next and SendText on other goroutines, on the client and the server of one connection (CloseTimeout 2 s)", rounds, closers))
	var bad sync.Map
	var badN atomic.Int64
	check := func(who string, err error) {
		if err != nil && !errors.Is(err, wsio.ErrClosed) {
			if badN.Add(1) <= 10 {
				bad.Store(fmt.Sprintf("%s: %v", who, err), true)
			}
		}
	}
	// race runs Next in the calling goroutine, and SendText and the Closes
	// on others, after a random delay.
	race := func(side string, c *wsio.Conn, rng *rand.Rand) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				if err := c.SendText(ctx, fmt.Sprintf("%s %d", side, i)); err != nil {
					check(side+" SendText", err)
					return
				}
			}
		})
		for k := range closers {
			d := time.Duration(rng.IntN(2000)) * time.Microsecond
			wg.Go(func() {
				time.Sleep(d)
				err := c.Close(wsio.StatusNormalClosure, "")
				if err != nil && !errors.Is(err, wsio.ErrClosed) {
					err = fmt.Errorf("%w [conn ended: %v]", err, c.Err())
				}
				check(fmt.Sprintf("%s Close #%d", side, k), err)
			})
		}
		for {
			if _, err := c.Next(ctx); err != nil {
				check(side+" Next", err)
				break
			}
		}
		wg.Wait()
	}
	var serverRounds atomic.Int64
	opts := wsio.Options{CloseTimeout: 2 * time.Second}
	s := startServer(t, wsio.ServerOptions{Options: opts}, func(c *wsio.Conn, res *result) error {
		race("server", c, rand.New(rand.NewPCG(uint64(serverRounds.Add(1)), 1)))
		return nil
	})
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var hung atomic.Int64
	for i := range rounds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := wsio.Dial(ctx, s.url, &wsio.DialOptions{Options: opts})
			if err != nil {
				check("Dial", err)
				return
			}
			done := make(chan struct{})
			go func() {
				race("client", c, rand.New(rand.NewPCG(uint64(i), 2)))
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				hung.Add(1)
				_ = c.Transport().Close()
				<-done
			}
		})
	}
	wg.Wait()
	if !wstest.Poll(10*time.Second, func() bool { return s.srv.Len() == 0 }) {
		t.Errorf("%d server connections still open", s.srv.Len())
	}
	var msgs []string
	bad.Range(func(k, _ any) bool { msgs = append(msgs, k.(string)); return true })
	r.saw("%d rounds in %v, %d server handlers ran; %d calls returned an error not matching ErrClosed, %d rounds hung",
		rounds, time.Since(start).Round(time.Millisecond), serverRounds.Load(), badN.Load(), hung.Load())
	if hung.Load() > 0 {
		t.Errorf("%d rounds did not finish within 15 s", hung.Load())
	}
	if len(msgs) == 0 {
		return
	}
	sort.Strings(msgs)
	known := true
	for _, m := range msgs {
		known = known && (strings.Contains(m, "the peer did not answer the close frame in time") || strings.Contains(m, "write failed, connection closed"))
	}
	if known && !t.Failed() {
		bug(t, r, "%d of the calls in %d rounds returned an error not matching ErrClosed, e.g. %q. Causes of this pattern seen before: one path of "+
			"the closing handshake closes the stream while another that claimed the close frame has not written it yet (Close finding a close "+
			"frame already claimed and closing at once; the reader answering the peer's close in peerClosed after checking that no close frame "+
			"was claimed, losing the claim to a concurrent Close, and closing the stream before that Close wrote its frame). The peer then never "+
			"gets a close frame: its Close returns \"the peer did not answer the close frame in time\" at once, and its SendText can fail with "+
			"\"write failed, connection closed: broken pipe\"; neither matches ErrClosed", badN.Load(), rounds, msgs[0])
	}
	for _, m := range msgs {
		t.Errorf("unexpected error: %s", m)
	}
}
