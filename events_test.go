//go:build !js

package wsio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// eventLog records the callbacks an event server made, per connection.
type eventLog struct {
	mu      sync.Mutex
	events  map[*wsio.Conn][]string
	busy    map[*wsio.Conn]bool
	overlap bool // two callbacks of one connection ran at once
	closed  chan *wsio.CloseError
}

func newEventLog() *eventLog {
	return &eventLog{events: map[*wsio.Conn][]string{}, busy: map[*wsio.Conn]bool{}, closed: make(chan *wsio.CloseError, 1000)}
}

func (l *eventLog) enter(c *wsio.Conn, ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy[c] {
		l.overlap = true
	}
	l.busy[c] = true
	l.events[c] = append(l.events[c], ev)
}

func (l *eventLog) leave(c *wsio.Conn) {
	l.mu.Lock()
	l.busy[c] = false
	l.mu.Unlock()
}

// echoEvents echoes text and binary (binary whole), logging each callback;
// a binary message starting with "skip" is left unread.
func echoEvents(l *eventLog) wsio.Events {
	ctx := context.Background()
	return wsio.Events{
		Open: func(c *wsio.Conn) { l.enter(c, "open"); l.leave(c) },
		Text: func(c *wsio.Conn, s string) {
			l.enter(c, "text")
			defer l.leave(c)
			_ = c.SendText(ctx, s)
		},
		Binary: func(c *wsio.Conn, r io.Reader) {
			l.enter(c, "binary")
			defer l.leave(c)
			head := make([]byte, 4)
			if n, _ := io.ReadFull(r, head); n == 4 && string(head) == "skip" {
				return // the rest is discarded by the server
			}
			rest, err := io.ReadAll(r)
			if err != nil {
				return
			}
			_ = c.SendBinary(ctx, append(head, rest...))
		},
		Close: func(c *wsio.Conn, ce *wsio.CloseError) {
			l.enter(c, "close")
			l.leave(c)
			l.closed <- ce
		},
	}
}

// startEventServer serves srv through front: "Serve" (its own listener
// path) or "net/http". It returns the ws:// base URL.
func startEventServer(t *testing.T, srv *wsio.Server, front string) string {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	if front == "net/http" {
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		return wsURL(ts.URL)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	return "ws://" + ln.Addr().String()
}

func TestEventServer(t *testing.T) {
	t.Parallel()
	for _, front := range []string{"Serve", "net/http"} {
		t.Run(front, func(t *testing.T) {
			t.Parallel()
			l := newEventLog()
			srv := wsio.NewEventServer(wsio.ServerOptions{}, echoEvents(l))
			url := startEventServer(t, srv, front)
			ctx := testCtx(t)
			c := dial(t, url, nil)

			// Messages sent back to back (several arrive in one read) come
			// back in order.
			for i := range 50 {
				if err := c.SendText(ctx, fmt.Sprintf("m%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 50 {
				if got, want := nextText(t, ctx, c), fmt.Sprintf("m%d", i); got != want {
					t.Fatalf("echo %d = %q, want %q", i, got, want)
				}
			}
			// A large binary message arriving over time, across many reads.
			big := bytes.Repeat([]byte("0123456789abcdef"), 200_000)
			w, err := c.BeginBinary(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < len(big); off += 1 << 20 {
				if _, err := w.Write(big[off:min(off+1<<20, len(big))]); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if _, b, err := readMessage(ctx, c); err != nil || !bytes.Equal(b, big) {
				t.Fatalf("binary echo: %d bytes, %v", len(b), err)
			}
			// A binary message the callback leaves unread is discarded, and
			// the next one is read from its start.
			if err := c.SendBinary(ctx, append([]byte("skip"), make([]byte, 100_000)...)); err != nil {
				t.Fatal(err)
			}
			roundTrip(t, c, "after the skipped one")

			if err := c.Close(wsio.StatusNormalClosure, "bye"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case ce := <-l.closed:
				if ce.Code != wsio.StatusNormalClosure || !ce.Remote || ce.Reason != "bye" {
					t.Fatalf("Close callback got %v", ce)
				}
			case <-time.After(timeout):
				t.Fatal("no Close callback")
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.overlap {
				t.Error("two callbacks of one connection ran at the same time")
			}
			for _, evs := range l.events {
				got := strings.Join(evs, " ")
				want := "open " + strings.Repeat("text ", 50) + "binary binary text close"
				if got != want {
					t.Errorf("callbacks:\n%s\nwant\n%s", got, want)
				}
			}
			if srv.Len() != 0 {
				t.Errorf("Len() = %d after the close", srv.Len())
			}
		})
	}
}

// TestEventServerEnds: every way a parked connection can end reaches the
// Close callback exactly once: the server closing it from another
// goroutine, keepalive finding a silent peer, the peer vanishing (TCP
// reset), and Shutdown.
func TestEventServerEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   wsio.ServerOptions
		act    func(t *testing.T, srv *wsio.Server, sc *wsio.Conn, nc net.Conn)
		code   wsio.StatusCode
		remote bool
		is     error
	}{
		{"Close from another goroutine", wsio.ServerOptions{Options: wsio.Options{CloseTimeout: 200 * time.Millisecond}}, func(t *testing.T, _ *wsio.Server, sc *wsio.Conn, _ net.Conn) {
			go func() { _ = sc.Close(wsio.StatusPolicyViolation, "go away") }()
		}, wsio.StatusPolicyViolation, false, wsio.ErrClosed},
		{"keepalive, silent peer", wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: 50 * time.Millisecond, KeepaliveTimeout: 100 * time.Millisecond}},
			func(*testing.T, *wsio.Server, *wsio.Conn, net.Conn) {}, wsio.StatusAbnormalClosure, false, wsio.ErrKeepalive},
		{"peer reset", wsio.ServerOptions{}, func(t *testing.T, _ *wsio.Server, _ *wsio.Conn, nc net.Conn) {
			_ = nc.(*net.TCPConn).SetLinger(0)
			_ = nc.Close()
		}, wsio.StatusAbnormalClosure, false, io.ErrUnexpectedEOF},
		{"Shutdown", wsio.ServerOptions{}, func(t *testing.T, srv *wsio.Server, _ *wsio.Conn, _ net.Conn) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
		}, wsio.StatusGoingAway, false, wsio.ErrClosed},
	} {
		for _, front := range []string{"Serve", "net/http"} {
			t.Run(front+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				l := newEventLog()
				opened := make(chan *wsio.Conn, 1)
				e := echoEvents(l)
				e.Open = func(c *wsio.Conn) { opened <- c }
				srv := wsio.NewEventServer(tc.opts, e)
				url := startEventServer(t, srv, front)
				// A raw peer that completes the handshake and then stays
				// silent: it neither reads nor answers, so it never closes.
				nc, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "ws://"), timeout)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
				if _, err := io.WriteString(nc, req); err != nil {
					t.Fatal(err)
				}
				var sc *wsio.Conn
				select {
				case sc = <-opened:
				case <-time.After(timeout):
					t.Fatal("no Open callback")
				}
				time.Sleep(50 * time.Millisecond) // let it park
				tc.act(t, srv, sc, nc)
				select {
				case ce := <-l.closed:
					if ce.Code != tc.code || ce.Remote != tc.remote || !errors.Is(ce, tc.is) {
						t.Fatalf("Close callback got %v (code %d, remote %v), want %d, remote %v, matching %v", ce, ce.Code, ce.Remote, tc.code, tc.remote, tc.is)
					}
				case <-time.After(timeout):
					t.Fatal("no Close callback")
				}
				select {
				case ce := <-l.closed:
					t.Fatalf("a second Close callback: %v", ce)
				case <-time.After(100 * time.Millisecond):
				}
				if sc.State() != wsio.Closed {
					t.Errorf("state %v", sc.State())
				}
			})
		}
	}
}

// TestEventServerParks: idle connections of an event server, served by
// Serve or mounted on net/http, hold no goroutine each (on Linux).
func TestEventServerParks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parking uses epoll, Linux only; elsewhere each connection keeps a goroutine")
	}
	for _, front := range []string{"Serve", "net/http"} {
		t.Run(front, func(t *testing.T) { eventServerParks(t, front) })
	}
}

func eventServerParks(t *testing.T, front string) {
	const n = 200
	l := newEventLog()
	srv := wsio.NewEventServer(wsio.ServerOptions{}, echoEvents(l))
	url := startEventServer(t, srv, front)
	ctx := testCtx(t)
	before := runtime.NumGoroutine()
	var conns []*wsio.Conn
	for range n {
		c, _, err := wsio.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		roundTrip(t, c, "hello")
	}
	// Our n client connections hold no goroutine while idle either (no
	// reader running), so the count is the server's: the poller, plus
	// stragglers finishing their callbacks.
	deadline := time.Now().Add(timeout)
	for {
		extra := runtime.NumGoroutine() - before
		if extra <= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines more with %d idle connections, want at most 5", extra, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if srv.Len() != n {
		t.Fatalf("Len() = %d, want %d", srv.Len(), n)
	}
	// Every parked connection still answers.
	for i, c := range conns {
		roundTrip(t, c, fmt.Sprint("again ", i))
	}
	for _, c := range conns {
		_ = c.Close(wsio.StatusNormalClosure, "")
	}
	for range n {
		select {
		case <-l.closed:
		case <-time.After(timeout):
			t.Fatal("missing Close callbacks")
		}
	}
}

// TestEventServerHTTPHandlerReturns: under net/http the event server's
// ServeHTTP returns right after the upgrade, so net/http's goroutine and
// buffers are released.
func TestEventServerHTTPHandlerReturns(t *testing.T) {
	t.Parallel()
	l := newEventLog()
	srv := wsio.NewEventServer(wsio.ServerOptions{}, echoEvents(l))
	returned := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r)
		returned <- struct{}{}
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	c := dial(t, wsURL(ts.URL), nil)
	select {
	case <-returned:
	case <-time.After(timeout):
		t.Fatal("ServeHTTP did not return after the upgrade")
	}
	roundTrip(t, c, "still served")
}

// TestEventServerParksWithKeepalive: with keepalive on, an event server's
// idle connections still park between pings (no goroutine each), and stay
// open as their clients answer.
func TestEventServerParksWithKeepalive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parking uses epoll, Linux only; elsewhere each connection keeps a goroutine")
	}
	const n = 50
	const interval = 700 * time.Millisecond
	l := newEventLog()
	srv := wsio.NewEventServer(wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: interval}}, echoEvents(l))
	url := startEventServer(t, srv, "Serve")
	before := runtime.NumGoroutine()
	var pings atomic.Int64
	conns := make([]*wsio.Conn, n)
	for i := range conns {
		conns[i] = dial(t, url, &wsio.DialOptions{Options: wsio.Options{OnPing: func([]byte) { pings.Add(1) }}})
		roundTrip(t, conns[i], "hello")
		go drain(conns[i]) // one goroutine per client, to answer pings
	}
	// After every connection has answered at least two pings, the server's
	// side is parked again: n client readers, the poller, a few stragglers.
	waitUntil(t, "two pings each", func() bool { return pings.Load() >= 2*n })
	deadline := time.Now().Add(timeout)
	for {
		extra := runtime.NumGoroutine() - before - n
		if extra <= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines more than the %d client readers with %d idle connections, want at most 5", extra, n, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if srv.Len() != n {
		t.Fatalf("Len() = %d, want %d", srv.Len(), n)
	}
	for _, c := range conns {
		if err := c.Err(); err != nil {
			t.Fatalf("a client ended: %v", err)
		}
	}
}

// TestEventServerBusyKeepsGoroutine: a connection whose messages come
// closer together than the wait between messages keeps the goroutine
// serving it, past the wait timer's first look and every one after, and a
// connection quiet for longer than the wait is parked, so its next message
// is served by a new goroutine.
func TestEventServerBusyKeepsGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parking uses epoll, Linux only; elsewhere each connection keeps a goroutine")
	}
	t.Parallel()
	var mu sync.Mutex
	var ids []string // the goroutine serving each message
	srv := wsio.NewEventServer(wsio.ServerOptions{}, wsio.Events{
		Text: func(c *wsio.Conn, s string) {
			buf := make([]byte, 64)
			id, _, _ := strings.Cut(strings.TrimPrefix(string(buf[:runtime.Stack(buf, false)]), "goroutine "), " ")
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			_ = c.SendText(context.Background(), s)
		},
	})
	c := dial(t, startEventServer(t, srv, "Serve"), nil)
	served := func() (distinct int, last string) {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		return len(seen), ids[len(ids)-1]
	}
	// 400 ms of messages 5 ms apart: without a wait that goes on while
	// messages come, the connection would be parked about every wait,
	// and served by as many goroutines. A stalled test machine may let
	// the connection be quiet for a wait once or twice.
	for start := time.Now(); time.Since(start) < 400*time.Millisecond; {
		roundTrip(t, c, "busy")
		time.Sleep(5 * time.Millisecond)
	}
	busy, last := served()
	if busy > 3 {
		t.Fatalf("a connection busy for 400 ms was served by %d goroutines, want 1 (at most 3)", busy)
	}
	time.Sleep(300 * time.Millisecond) // quiet for longer than the wait
	roundTrip(t, c, "after a pause")
	if n, now := served(); n != busy+1 || now == last {
		t.Fatalf("after 300 ms of quiet, the message was served by goroutine %s (busy: %s), %d goroutines in all; want a new one", now, last, n)
	}
}
