//go:build !js

package wsio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// countingConn counts the reads made on a connection, so a test can tell
// an event loop that waits from one that retries a failing read.
type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

// acceptLoop upgrades every connection on a listener of its own with
// AcceptConn and hands it to serve. When count is set each connection is
// wrapped in a countingConn (which hides the TCP socket, so Serve cannot
// park it). It returns the ws:// URL and the read counter.
func acceptLoop(t *testing.T, count bool, serve func(c *wsio.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reads := new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if count {
				nc = countingConn{nc, reads}
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			c, err := wsio.AcceptConn(ctx, nc, nil)
			cancel()
			if err == nil {
				serve(c)
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return "ws://" + ln.Addr().String(), reads
}

// eventServed is a connection source under test: the URL to dial and the
// read counter (nil when reads are not counted).
type eventServed struct {
	url   string
	reads *atomic.Int64
}

// eventModes are the ways to read a connection with Events: ServeEvents
// over TCP (parked when idle, on Linux) and over a stream it cannot park
// (a goroutine per connection, as under TLS); and an event Server.
var eventModes = []struct {
	name  string
	start func(t *testing.T, e wsio.Events) eventServed
}{
	{"ServeEvents", func(t *testing.T, e wsio.Events) eventServed {
		url, _ := acceptLoop(t, false, func(c *wsio.Conn) { wsio.ServeEvents(c, e) })
		return eventServed{url: url}
	}},
	{"ServeEvents/unparkable", func(t *testing.T, e wsio.Events) eventServed {
		url, reads := acceptLoop(t, true, func(c *wsio.Conn) { wsio.ServeEvents(c, e) })
		return eventServed{url: url, reads: reads}
	}},
	{"NewEventServer", func(t *testing.T, e wsio.Events) eventServed {
		return eventServed{url: startEventServer(t, wsio.NewEventServer(wsio.ServerOptions{}, e), "Serve")}
	}},
	{"NewEventServer/net/http", func(t *testing.T, e wsio.Events) eventServed {
		return eventServed{url: startEventServer(t, wsio.NewEventServer(wsio.ServerOptions{}, e), "net/http")}
	}},
}

// TestEventsReadDeadline: a read deadline that passes (already past when
// Open sets it, passing later while the connection idles, or set from
// another goroutine while it idles) ends an event connection with the
// closing handshake, code 1001, instead of being retried: the Close
// callback runs once with a local 1001 close wrapping
// os.ErrDeadlineExceeded, the peer sees 1001, and
// no CPU is burnt meanwhile.
//
// It is not parallel: the CPU check measures the whole process.
func TestEventsReadDeadline(t *testing.T) {
	const idle = 500 * time.Millisecond // longer than Serve waits before parking
	cases := []struct {
		name   string
		open   func(c *wsio.Conn) time.Time // sets the deadline in Open and returns it, or zero
		idling func(c *wsio.Conn) time.Time // sets it from the test's goroutine after the idle check, or nil
	}{
		{"past in Open", func(c *wsio.Conn) time.Time {
			d := time.Now()
			_ = c.SetReadDeadline(d)
			return d
		}, nil},
		{"passes while idle", func(c *wsio.Conn) time.Time {
			d := time.Now().Add(idle)
			_ = c.SetReadDeadline(d)
			return d
		}, nil},
		{"set from another goroutine while idle", func(*wsio.Conn) time.Time { return time.Time{} }, func(c *wsio.Conn) time.Time {
			d := time.Now().Add(50 * time.Millisecond)
			_ = c.SetReadDeadline(d)
			return d
		}},
	}
	for _, m := range eventModes {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				type opening struct {
					c        *wsio.Conn
					deadline time.Time
				}
				opened := make(chan opening, 1)
				closed := make(chan *wsio.CloseError, 4)
				s := m.start(t, wsio.Events{
					Open:  func(c *wsio.Conn) { opened <- opening{c, tc.open(c)} },
					Close: func(_ *wsio.Conn, ce *wsio.CloseError) { closed <- ce },
				})
				c := dial(t, s.url, nil)
				peer := make(chan error, 1)
				go func() {
					for {
						if _, err := c.Next(context.Background()); err != nil {
							peer <- err
							return
						}
					}
				}()
				var o opening
				select {
				case o = <-opened:
				case <-time.After(timeout):
					t.Fatal("no Open callback")
				}
				// A loop that spins is stopped when the test gives up.
				t.Cleanup(func() { _ = o.c.CloseNow() })

				// The loop is waiting (or done): it must not use the CPU.
				const window = 300 * time.Millisecond
				cpu, measured := cpuNow()
				time.Sleep(window)
				if now, _ := cpuNow(); measured && now-cpu > window/3 {
					t.Errorf("the process used %v of CPU in %v while the connection waited", now-cpu, window)
				}
				if tc.idling != nil {
					o.deadline = tc.idling(o.c)
				}

				wait := time.NewTimer(3 * time.Second)
				defer wait.Stop()
				cpu, _ = cpuNow()
				var ce *wsio.CloseError
				select {
				case ce = <-closed:
				case <-wait.C:
					now, _ := cpuNow()
					t.Fatalf("no Close callback within 3s (the deadline passed %v ago); the process used %v of CPU in those 3s",
						time.Since(o.deadline).Round(time.Millisecond), now-cpu)
				}
				if at := time.Now(); at.Before(o.deadline) {
					t.Errorf("closed %v before the deadline", o.deadline.Sub(at))
				}
				if ce.Code != wsio.StatusGoingAway || ce.Remote || ce.Reason != "read deadline exceeded" ||
					!errors.Is(ce, os.ErrDeadlineExceeded) || !errors.Is(ce, wsio.ErrClosed) {
					t.Errorf("Close callback got %v (code %d, remote %v, reason %q); want a local 1001 %q wrapping os.ErrDeadlineExceeded",
						ce, ce.Code, ce.Remote, ce.Reason, "read deadline exceeded")
				}
				select {
				case err := <-peer:
					if pce := wantClose(t, err, wsio.StatusGoingAway, true); pce.Reason != "read deadline exceeded" {
						t.Errorf("the peer got reason %q", pce.Reason)
					}
				case <-time.After(timeout):
					t.Fatal("the peer did not see the close")
				}
				select {
				case ce := <-closed:
					t.Errorf("a second Close callback: %v", ce)
				case <-time.After(100 * time.Millisecond):
				}
				if st := o.c.State(); st != wsio.Closed {
					t.Errorf("state %v after the Close callback", st)
				}
				// Waiting, failing once and the closing handshake take a
				// handful of reads; a loop retrying the failed read takes
				// thousands.
				if s.reads != nil {
					if n := s.reads.Load(); n > 20 {
						t.Errorf("%d reads on the connection", n)
					}
				}
			})
		}
	}
}

// TestEventsIdleTimeout: a read deadline moved on by every Text callback
// is an idle timeout. Messages that come sooner than it keep the
// connection open (also across parking, on Linux); moving the deadline
// later from another goroutine while the connection idles is honoured;
// once the connection stays quiet past the deadline it is closed with 1001.
func TestEventsIdleTimeout(t *testing.T) {
	t.Parallel()
	// Long enough that a loaded machine (-race, two cores) still delivers
	// each message in time, and longer than ServeEvents waits before parking.
	const idle = 600 * time.Millisecond
	for _, m := range eventModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			opened := make(chan *wsio.Conn, 1)
			closed := make(chan *wsio.CloseError, 4)
			extend := func(c *wsio.Conn) { _ = c.SetReadDeadline(time.Now().Add(idle)) }
			s := m.start(t, wsio.Events{
				Open: func(c *wsio.Conn) { extend(c); opened <- c },
				Text: func(c *wsio.Conn, text string) {
					extend(c)
					_ = c.SendText(context.Background(), text)
				},
				Close: func(_ *wsio.Conn, ce *wsio.CloseError) { closed <- ce },
			})
			c := dial(t, s.url, nil)
			var sc *wsio.Conn
			select {
			case sc = <-opened:
			case <-time.After(timeout):
				t.Fatal("no Open callback")
			}
			t.Cleanup(func() { _ = sc.CloseNow() })

			// Three messages, each well within the deadline of the one
			// before but after the connection had time to park.
			for i := range 3 {
				time.Sleep(idle / 3)
				roundTrip(t, c, fmt.Sprint("keep alive ", i))
			}
			// The closing handshake needs the peer to read.
			peer := make(chan error, 1)
			go func() {
				_, err := c.Next(context.Background())
				peer <- err
			}()
			// Moved later from this goroutine while the connection waits.
			time.Sleep(idle / 2)
			last := time.Now().Add(idle)
			if err := sc.SetReadDeadline(last); err != nil {
				t.Fatal(err)
			}

			select {
			case ce := <-closed:
				if now := time.Now(); now.Before(last) {
					t.Errorf("closed %v before the deadline", last.Sub(now))
				}
				if ce.Code != wsio.StatusGoingAway || ce.Remote || !errors.Is(ce, os.ErrDeadlineExceeded) {
					t.Errorf("Close callback got %v; want a local 1001 wrapping os.ErrDeadlineExceeded", ce)
				}
			case <-time.After(timeout):
				t.Fatal("no Close callback")
			}
			select {
			case err := <-peer:
				wantClose(t, err, wsio.StatusGoingAway, true)
			case <-time.After(timeout):
				t.Fatal("the peer did not see the close")
			}
		})
	}
}

// TestEventsRequestUntilOpenReturns: in every event mode the handshake
// request is there in Open (with its query) and gone once Open returned,
// while the path stays.
func TestEventsRequestUntilOpenReturns(t *testing.T) {
	for _, mode := range eventModes {
		t.Run(mode.name, func(t *testing.T) {
			type seen struct {
				inOpen, inText string
				path           string
			}
			got := make(chan seen, 1)
			var s seen
			srv := mode.start(t, wsio.Events{
				Open: func(c *wsio.Conn) {
					if r := c.Request(); r != nil {
						s.inOpen = r.URL.Query().Get("room")
					}
				},
				Text: func(c *wsio.Conn, _ string) {
					s.inText = fmt.Sprint(c.Request())
					s.path = c.Path()
					got <- s
				},
			})
			c := dial(t, srv.url+"/chat?room=7", nil)
			defer c.CloseNow()
			if err := c.SendText(testCtx(t), "hi"); err != nil {
				t.Fatal(err)
			}
			select {
			case s := <-got:
				if s.inOpen != "7" || s.inText != "<nil>" || s.path != "/chat" {
					t.Fatalf("request in Open: room %q; in Text: %s; path %q", s.inOpen, s.inText, s.path)
				}
			case <-time.After(timeout):
				t.Fatal("no Text callback")
			}
		})
	}
}

// TestEventsMessageInPieces: a message whose second part arrives after a
// pause longer than the wait between messages is read whole, after
// whole messages (whose reads leave the wait's deadline in place) and
// after a callback slower than the wait. The deadline of the wait must
// not govern the reads of a message that did not arrive whole.
func TestEventsMessageInPieces(t *testing.T) {
	t.Parallel()
	for _, m := range eventModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			failed := make(chan error, 4)
			s := m.start(t, wsio.Events{
				Binary: func(c *wsio.Conn, r io.Reader) {
					b, err := io.ReadAll(r)
					if err != nil {
						failed <- err
						return
					}
					if string(b) == "slow" {
						time.Sleep(150 * time.Millisecond)
					}
					if err := c.SendBinary(context.Background(), b); err != nil {
						failed <- err
					}
				},
			})
			nc, br := rawUpgrade(t, s.url)
			echoed := func(want []byte) {
				t.Helper()
				_ = nc.SetReadDeadline(time.Now().Add(timeout))
				f, err := readFrame(br)
				if err != nil || f.op != 0x2 || !bytes.Equal(f.payload, want) {
					select {
					case err := <-failed:
						t.Fatalf("the Binary callback failed: %v", err)
					default:
					}
					t.Fatalf("got frame op %d, %d bytes (%q), %v; want the echo of %d bytes", f.op, len(f.payload), f.payload, err, len(want))
				}
			}
			for _, msg := range []string{"one", "slow", "two"} {
				if _, err := nc.Write(clientFrame(true, 0, 0x2, []byte(msg))); err != nil {
					t.Fatal(err)
				}
				echoed([]byte(msg))
			}
			big := bytes.Repeat([]byte("0123456789"), 200)
			f := clientFrame(true, 0, 0x2, big)
			if _, err := nc.Write(f[:len(f)/2]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(250 * time.Millisecond) // past any wait between messages
			if _, err := nc.Write(f[len(f)/2:]); err != nil {
				t.Fatal(err)
			}
			echoed(big)
		})
	}
}
