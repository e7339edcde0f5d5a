package hostile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// TestShutdownUnderLoad: 50 clients each send text messages back to back
// and check the echoes; Server.Shutdown runs mid-way. Every message a
// client sent must be echoed whole and in order, or be one of the last
// ones left unacknowledged when the connection closed; Shutdown must
// return nil and leave no connection.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	const clients, window = 50, 32
	r := record(t, "Shutdown", fmt.Sprintf("%d clients sending text continuously (up to %d unacknowledged each) and checking echoes; Server.Shutdown(10 s) after 300 ms", clients, window))
	s := startServer(t, wsio.ServerOptions{}, echo(false))
	msg := func(c, i int) string {
		return fmt.Sprintf("c%02d-m%06d-%s", c, i, strings.Repeat(string(rune('a'+(c+i)%26)), 100+(i%50)))
	}
	type tally struct {
		sent, echoed int
		sendErr      error
		endErr       error
		corrupt      string
	}
	tallies := make([]tally, clients)
	conns := make([]*wsio.Conn, clients)
	for i := range conns {
		conns[i] = dialClient(t, s.url, nil)
	}
	var wg sync.WaitGroup
	var total atomic.Int64
	for ci, c := range conns {
		tl := &tallies[ci]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// At most window messages in flight per client: senders that never
		// block would starve the readers of CPU on a small machine.
		inflight := make(chan struct{}, window)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case inflight <- struct{}{}:
				case <-c.Done():
					tl.sendErr = c.Err()
					return
				}
				if err := c.SendText(ctx, msg(ci, i)); err != nil {
					tl.sendErr = err
					return
				}
				tl.sent = i + 1
				total.Add(1)
			}
		})
		wg.Go(func() {
			for {
				m, err := c.Next(ctx)
				if err != nil {
					tl.endErr = err
					return
				}
				if want := msg(ci, tl.echoed); m.Kind != wsio.Text || m.Text != want {
					if tl.corrupt == "" {
						tl.corrupt = fmt.Sprintf("echo #%d is %v %.20q…, want %.20q…", tl.echoed, m.Kind, m.Text, want)
					}
				}
				tl.echoed++
				select {
				case <-inflight:
				default:
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	atShutdown := total.Load()
	if s.srv.Len() != clients {
		t.Errorf("Len() = %d before Shutdown, want %d", s.srv.Len(), clients)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := s.srv.Shutdown(ctx)
	took := time.Since(start)
	left := s.srv.Len()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("clients still running 15 s after Shutdown")
	}

	sent, echoed, unacked, silent := 0, 0, 0, 0
	var bad []string
	for ci, tl := range tallies {
		sent += tl.sent
		echoed += tl.echoed
		unacked += tl.sent - tl.echoed
		if tl.echoed == 0 {
			silent++
		}
		if tl.corrupt != "" {
			bad = append(bad, fmt.Sprintf("client %d: %s", ci, tl.corrupt))
		}
		if tl.echoed > tl.sent {
			bad = append(bad, fmt.Sprintf("client %d: %d echoes for %d messages sent", ci, tl.echoed, tl.sent))
		}
		if msg := checkCloseErr(tl.endErr, wsio.StatusGoingAway, true); msg != "" {
			bad = append(bad, fmt.Sprintf("client %d: Next: %s", ci, msg))
		}
		if !errors.Is(tl.sendErr, wsio.ErrClosed) {
			bad = append(bad, fmt.Sprintf("client %d: the send that failed: %v, want an error matching ErrClosed", ci, tl.sendErr))
		}
	}
	r.saw("Shutdown returned %v after %v, Len() %d; %d messages sent (%d before Shutdown) = %d echoed whole and in order + %d unacknowledged at close (%d clients had no echo yet); %d of %d clients ended with the server's close 1001",
		err, fmtDur(took), left, sent, atShutdown, echoed, unacked, silent, clients-countPrefix(bad, "Next"), clients)
	if err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if left != 0 {
		t.Errorf("Len() = %d after Shutdown", left)
	}
	for _, b := range bad {
		t.Error(b)
	}
	// The listener is closed: a new client cannot connect.
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer dcancel()
	if c, _, err := wsio.Dial(dctx, s.url, nil); err == nil {
		_ = c.Transport().Close()
		t.Error("a new client connected after Shutdown")
	}
}

func countPrefix(list []string, word string) int {
	n := 0
	for _, s := range list {
		if strings.Contains(s, word) {
			n++
		}
	}
	return n
}

// TestShutdownUnresponsivePeer: a raw client that never answers the close
// frame; Shutdown must give up when its context ends, return the context's
// error, and tear the connection down.
func TestShutdownUnresponsivePeer(t *testing.T) {
	t.Parallel()
	r := record(t, "Shutdown", "Shutdown(500 ms) with a raw client that never answers the 1001 close frame")
	s := startServer(t, wsio.ServerOptions{}, echo(false))
	a := dialWS(t, s)
	if !wstest.Poll(2*time.Second, func() bool { return s.srv.Len() == 1 }) {
		t.Fatal("the connection was not tracked")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.srv.Shutdown(ctx)
	took := time.Since(start)
	code, _, _, cerr := a.awaitClose(2 * time.Second)
	eofAfter, eofErr := a.awaitEOF(3 * time.Second)
	res := s.mustResult(t, a.addr(), 5*time.Second)
	left := s.srv.Len()
	r.saw("Shutdown returned %v after %v; the client got close %d and then the TCP close; Len() %d; handler: %v", err, fmtDur(took), code, left, desc(res.err))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	if took < 450*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("Shutdown took %v, want about 500 ms", took)
	}
	if cerr != nil || code != 1001 {
		t.Errorf("close frame %d %v, want 1001", code, cerr)
	}
	if eofErr != nil || eofAfter > 2*time.Second {
		t.Errorf("the connection was not torn down: %v", eofErr)
	}
	if left != 0 {
		t.Errorf("Len() = %d", left)
	}
	if msg := checkCloseErr(res.err, wsio.StatusGoingAway, false); msg != "" {
		t.Errorf("handler: %s", msg)
	}
}
