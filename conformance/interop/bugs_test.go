package interop

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// Reproductions of wsio bugs the interop tests found, kept as regression
// tests now that they are fixed.

// peerServer starts p as a server with args and returns its ws:// URL.
func peerServer(t *testing.T, p *peer, args ...string) string {
	t.Helper()
	pr := startProc(t, p.name, p.argv(append([]string{"server", "0"}, args...)...))
	ev := pr.wait("listening", 15*time.Second)
	return fmt.Sprintf("ws://127.0.0.1:%d/bug", ev.Port)
}

// Close(code, reason) sends the close frame and only then records the
// close as local (conn.Close: sendClose, then setCloseErr). A reading
// goroutine that gets the peer's answer in between records it first, so
// Err() and Next report the close as the peer's (Remote true), with the
// peer's echoed reason (empty from ws).
func TestBugCloseReportedAsRemote(t *testing.T) {
	// Was: a close wsio started could be reported with Remote true (the peer's echo recorded first).
	requirePeer(t, wsPeer)
	url := peerServer(t, wsPeer)
	for i := range 500 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := wsio.Dial(ctx, url, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.Next(context.Background())
			done <- err
		}()
		if err := c.Close(4003, "from wsio"); err != nil {
			t.Fatalf("attempt %d: Close: %v", i, err)
		}
		<-done
		var ce *wsio.CloseError
		if !errors.As(c.Err(), &ce) {
			t.Fatalf("attempt %d: Err() = %v", i, c.Err())
		}
		if ce.Remote || ce.Code != 4003 || ce.Reason != "from wsio" {
			t.Fatalf("attempt %d: after Close(4003, %q) Err() is %+v: reported as the peer's close", i, "from wsio", *ce)
		}
	}
}

// With permessage-deflate, SendBinary of a message the peer refuses (over
// its max payload: it closes with 1009 mid-message) races with the reading
// goroutine: BinaryWriter.Close (conn/msgwriter.go, after the failed
// Write) writes deflateState.fw while closeTransport → releaseCompressor
// reads it; both may hand the same compressor back to the pool. Run with
// -race.
func TestBugDeflateSendRacesPeerClose(t *testing.T) {
	// Was: a data race on the deflate compressor between a failing compressed send and the close.
	requirePeer(t, wsPeer)
	url := peerServer(t, wsPeer, "--deflate", "--max", "65536")
	payload := wstest.RandomBytes(1<<20, 3)
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := wsio.Dial(ctx, url, nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		go func() {
			for {
				if _, err := c.Next(context.Background()); err != nil {
					return
				}
			}
		}()
		_ = c.SendBinary(ctx, payload)
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatalf("attempt %d: the connection did not close", i)
		}
		cancel()
	}
}
