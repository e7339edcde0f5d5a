//go:build !js

package wsio_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// timeout bounds every wait in these tests (the kit's bound).
const timeout = wstest.Timeout

// wsURL is wstest.WSURL: the ws:// URL of an httptest server.
func wsURL(httpURL string) string { return wstest.WSURL(httpURL) }

// testCtx returns a context that ends after timeout or with the test
// (wstest.Context).
func testCtx(t *testing.T) context.Context { return wstest.Context(t) }

// newServer mounts a wsio.Server on an httptest server and returns it with
// its ws:// URL. Cleanup shuts the Server down, which must succeed.
func newServer(t *testing.T, opts wsio.ServerOptions, handler func(*wsio.Conn)) (*wsio.Server, string) {
	t.Helper()
	srv := wsio.NewServer(opts, handler)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("cleanup: Shutdown: %v", err)
		}
		ts.Close()
	})
	return srv, wsURL(ts.URL)
}

// dial opens a client connection that cleanup closes.
func dial(t *testing.T, url string, o *wsio.DialOptions) *wsio.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, _, err := wsio.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close(wsio.StatusNormalClosure, "") })
	return c
}

// waitUntil polls cond until it holds or timeout passes
// (wstest.WaitUntil).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wstest.WaitUntil(t, what, cond)
}

// echo sends back each text message as text and each binary one as a
// stream (wstest.Echo).
func echo(c *wsio.Conn) { wstest.Echo(c, messageText) }

// messageText is the text of m and whether m is a text message, as
// wstest.Echo asks.
func messageText(m wsio.Message) (string, bool) { return m.Text, m.Kind == wsio.Text }

// drain reads and drops messages until the connection ends.
func drain(c *wsio.Conn) {
	for {
		if _, err := c.Next(context.Background()); err != nil {
			return
		}
	}
}

// roundTrip sends s and expects it echoed.
func roundTrip(t *testing.T, c *wsio.Conn, s string) {
	t.Helper()
	ctx := testCtx(t)
	if err := c.SendText(ctx, s); err != nil {
		t.Fatalf("SendText: %v", err)
	}
	if got := nextText(t, ctx, c); got != s {
		t.Fatalf("echo = %q, want %q", got, s)
	}
}

// nextText reads the next message and requires it to be text.
func nextText(t *testing.T, ctx context.Context, c *wsio.Conn) string {
	t.Helper()
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if m.Kind != wsio.Text {
		t.Fatalf("Next: got a %v message, want text", m.Kind)
	}
	return m.Text
}

// readMessage reads a whole message of either kind.
func readMessage(ctx context.Context, c *wsio.Conn) (wsio.Kind, []byte, error) {
	m, err := c.Next(ctx)
	if err != nil {
		return 0, nil, err
	}
	if m.Kind == wsio.Text {
		return m.Kind, []byte(m.Text), nil
	}
	b, err := io.ReadAll(m)
	return m.Kind, b, err
}

// wantClose requires err to be a *wsio.CloseError with code and remote.
func wantClose(t *testing.T, err error, code wsio.StatusCode, remote bool) *wsio.CloseError {
	t.Helper()
	var ce *wsio.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *wsio.CloseError", err, err)
	}
	if !errors.Is(err, wsio.ErrClosed) {
		t.Errorf("error %v does not match wsio.ErrClosed", err)
	}
	if ce.Code != code || ce.Remote != remote {
		t.Errorf("close = code %v remote %v, want code %v remote %v (%v)", ce.Code, ce.Remote, code, remote, err)
	}
	return ce
}

// testKey is the sample Sec-WebSocket-Key of RFC 6455.
const testKey = wstest.Key

// rawUpgrade performs a handshake by hand and returns the raw stream, for a
// peer that reads frames itself or never reads at all. Cleanup closes it.
func rawUpgrade(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	return rawUpgradeBuffer(t, url, 0)
}

// rawUpgradeBuffer is rawUpgrade with the socket's receive buffer set to
// rcvbuf bytes (when positive), so a peer that never reads fills up soon.
func rawUpgradeBuffer(t *testing.T, url string, rcvbuf int) (net.Conn, *bufio.Reader) {
	t.Helper()
	return rawHandshake(t, url, rcvbuf, "")
}

// rawDeflateUpgrade is rawUpgrade offering permessage-deflate; the server
// must accept it.
func rawDeflateUpgrade(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	return rawHandshake(t, url, 0, "permessage-deflate")
}

// rawHandshake performs the handshake by hand (wstest.DialRaw), with the
// receive buffer set to rcvbuf bytes when positive, offering ext when it
// is not empty (then the server must accept it). Cleanup closes the
// connection.
func rawHandshake(t *testing.T, url string, rcvbuf int, ext string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, br, err := wstest.DialRaw(url, wstest.RawOptions{Extensions: ext, RecvBuffer: rcvbuf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc, br
}

// frame is one frame as a server sent it.
type frame struct {
	fin     bool
	rsv     byte // the RSV1-3 bits, as they stand in the first byte
	op      byte
	payload []byte
}

// readFrame reads one unmasked (server) frame.
func readFrame(r io.Reader) (frame, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		return frame{}, err
	}
	f := frame{fin: h[0]&0x80 != 0, rsv: h[0] & 0x70, op: h[0] & 0x0F}
	if h[1]&0x80 != 0 {
		return f, errors.New("masked frame from the server")
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, h[:2]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(r, h[:8]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

func TestServerConnsAndLen(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, wsio.ServerOptions{}, drain)
	if n := srv.Len(); n != 0 {
		t.Fatalf("Len before any connection = %d", n)
	}
	clients := make([]*wsio.Conn, 5)
	for i := range clients {
		clients[i] = dial(t, url, nil)
	}
	waitUntil(t, "Len() == 5", func() bool { return srv.Len() == 5 })

	local := map[string]bool{}
	for _, c := range clients {
		local[c.LocalAddr().String()] = true
	}
	seen := map[*wsio.Conn]bool{}
	for c := range srv.Conns() {
		seen[c] = true
		if c.State() != wsio.Open || c.Request() == nil {
			t.Errorf("Conns yielded a connection in state %v with request %v", c.State(), c.Request())
		}
		if !local[c.RemoteAddr().String()] {
			t.Errorf("Conns yielded %v, which is none of the clients", c.RemoteAddr())
		}
	}
	if len(seen) != 5 {
		t.Fatalf("Conns yielded %d distinct connections, want 5", len(seen))
	}
	n := 0
	for range srv.Conns() {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("breaking out of Conns after one yielded %d", n)
	}

	for _, c := range clients[:2] {
		if err := c.Close(wsio.StatusNormalClosure, ""); err != nil {
			t.Fatalf("client Close: %v", err)
		}
	}
	waitUntil(t, "Len() == 3 after two clients closed", func() bool { return srv.Len() == 3 })
	gone := map[string]bool{clients[0].LocalAddr().String(): true, clients[1].LocalAddr().String(): true}
	for c := range srv.Conns() {
		if gone[c.RemoteAddr().String()] {
			t.Errorf("Conns still yields closed connection %v", c.RemoteAddr())
		}
	}

	// A peer that vanishes without a close frame is dropped too.
	_ = clients[2].Transport().Close()
	waitUntil(t, "Len() == 2 after a client vanished", func() bool { return srv.Len() == 2 })
}

func TestServerBroadcast(t *testing.T) {
	t.Parallel()
	const n, frag = 20, 16 << 10
	srv, url := newServer(t, wsio.ServerOptions{Options: wsio.Options{FragmentSize: frag}}, drain)
	clients := make([]*wsio.Conn, n)
	for i := range clients {
		clients[i] = dial(t, url, nil)
	}
	// One more peer reads raw frames to see how the message was framed.
	tap, tapR := rawUpgrade(t, url)
	waitUntil(t, "all connections tracked", func() bool { return srv.Len() == n+1 })

	bin := make([]byte, 5*frag+123)
	for i := range bin {
		bin[i] = byte(i*31 + i>>8)
	}
	for _, tc := range []struct {
		name   string
		kind   wsio.Kind
		data   []byte
		op     byte
		frames int // 0: any number (text framing is the library's choice)
	}{
		{"text", wsio.Text, []byte(strings.Repeat("héllo, wörld ", 3000)), 1, 0},
		{"empty text", wsio.Text, nil, 1, 1},
		{"binary fragmented", wsio.Binary, bin, 2, 6},
		{"binary one frame", wsio.Binary, bin[:frag-1], 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			if err := srv.Broadcast(ctx, tc.kind, tc.data); err != nil {
				t.Fatalf("Broadcast: %v", err)
			}
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Go(func() {
					kind, got, err := readMessage(ctx, c)
					if err != nil || kind != tc.kind || !bytes.Equal(got, tc.data) {
						t.Errorf("client %d got %v message of %d bytes (%v), want %v of %d bytes",
							i, kind, len(got), err, tc.kind, len(tc.data))
					}
				})
			}
			wg.Wait()

			_ = tap.SetReadDeadline(time.Now().Add(timeout))
			var got []byte
			for i := 0; ; i++ {
				f, err := readFrame(tapR)
				if err != nil {
					t.Fatalf("raw peer: frame %d: %v", i, err)
				}
				if want := map[bool]byte{true: tc.op, false: 0}[i == 0]; f.op != want {
					t.Fatalf("frame %d has opcode %d, want %d", i, f.op, want)
				}
				if tc.kind == wsio.Binary && !f.fin && len(f.payload) != frag {
					t.Fatalf("non-final frame %d carries %d bytes, want the fragment size %d", i, len(f.payload), frag)
				}
				got = append(got, f.payload...)
				if f.fin {
					if tc.frames > 0 && i+1 != tc.frames {
						t.Errorf("message came in %d frames, want %d", i+1, tc.frames)
					}
					break
				}
			}
			if !bytes.Equal(got, tc.data) {
				t.Errorf("raw peer reassembled %d bytes that differ from the %d sent", len(got), len(tc.data))
			}
		})
	}

	if err := srv.Broadcast(testCtx(t), wsio.Text, []byte{0xff}); !errors.Is(err, wsio.ErrInvalidUTF8) {
		t.Errorf("Broadcast of invalid UTF-8 text = %v, want ErrInvalidUTF8", err)
	}
}

// TestServerBroadcastExcept: the connections passed as except do not get
// the message; the others do.
func TestServerBroadcastExcept(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, wsio.ServerOptions{}, drain)
	a, b := dial(t, url+"/a", nil), dial(t, url+"/sender", nil)
	waitUntil(t, "both connections tracked", func() bool { return srv.Len() == 2 })
	var sender *wsio.Conn
	for c := range srv.Conns() {
		if c.Path() == "/sender" {
			sender = c
		}
	}
	ctx := testCtx(t)
	if err := srv.Broadcast(ctx, wsio.Text, []byte("from the sender"), sender); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	if err := srv.Broadcast(ctx, wsio.Text, []byte("to all")); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	if got := nextText(t, ctx, a); got != "from the sender" {
		t.Errorf("the other connection got %q first", got)
	}
	if got := nextText(t, ctx, b); got != "to all" {
		t.Errorf("the excluded sender got %q first, want %q", got, "to all")
	}
}

func TestServerBroadcastNoConnections(t *testing.T) {
	t.Parallel()
	srv := wsio.NewServer(wsio.ServerOptions{}, drain)
	if err := srv.Broadcast(testCtx(t), wsio.Text, []byte("nobody")); err != nil {
		t.Fatalf("Broadcast to no one = %v", err)
	}
}

// startReaders dials n clients that read every message in a loop and
// report each one's first byte and arrival time.
func startReaders(t *testing.T, url string, n int) <-chan arrival {
	t.Helper()
	arrivals := make(chan arrival, 1024)
	ctx := t.Context() // readers run for the whole test; each wait for them is bounded
	var readers sync.WaitGroup
	t.Cleanup(readers.Wait) // runs after the clients are closed
	for i := range n {
		c := dial(t, url, nil)
		readers.Go(func() {
			for {
				m, err := c.Next(ctx)
				if err != nil {
					return
				}
				b, err := io.ReadAll(m)
				if err == nil && len(b) == 0 {
					b = []byte(m.Text)
				}
				if err != nil || len(b) == 0 {
					t.Errorf("client %d: message of %d bytes, %v", i, len(b), err)
					return
				}
				arrivals <- arrival{b[0], len(b), time.Now()}
			}
		})
	}
	return arrivals
}

type arrival struct {
	first byte
	size  int
	at    time.Time
}

// checkRound waits for n arrivals of a message starting with first, each
// within limit of start when limit is positive.
func checkRound(t *testing.T, arrivals <-chan arrival, n int, first byte, size int, start time.Time, limit time.Duration) {
	t.Helper()
	for range n {
		select {
		case a := <-arrivals:
			if a.first != first || a.size != size {
				t.Fatalf("a client got a message of %d bytes starting with %d, want %d bytes starting with %d", a.size, a.first, size, first)
			}
			if lag := a.at.Sub(start); limit > 0 && lag >= limit {
				t.Errorf("a reading client got the message %v after Broadcast began, want < %v", lag, limit)
			}
		case <-time.After(timeout):
			t.Fatal("a reading client never got the message")
		}
	}
}

// checkSlowBroadcastErr checks the error of a Broadcast that missed one
// of 20 connections because its ctx ended.
func checkSlowBroadcastErr(t *testing.T, err error, took time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatal("Broadcast reported no failure")
	}
	if !strings.Contains(err.Error(), "19 of 20") {
		t.Errorf("Broadcast error %q does not say 19 of 20 were reached", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Broadcast error %q does not wrap the deadline", err)
	}
	var be *wsio.BroadcastError
	if !errors.As(err, &be) || be.Reached != 19 || len(be.Failed) != 1 {
		t.Errorf("Broadcast error %v: want a *BroadcastError with 19 reached and 1 failed", err)
	}
	if took > 3*time.Second {
		t.Errorf("Broadcast took %v with a 1s context", took)
	}
}

// TestServerBroadcastSlowPeer: one of 20 peers never reads. Broadcast
// with a 1 s context must still reach the 19 others promptly and report
// the one it missed: a slow peer delays only itself.
func TestServerBroadcastSlowPeer(t *testing.T) {
	// Not parallel: it measures latency.
	const n = 20
	t.Run("socket full", func(t *testing.T) {
		// Broadcast until the silent peer's socket is full and a send to
		// it blocks; that round is the one under test.
		const size, maxRounds = 256 << 10, 400
		srv, url := newServer(t, wsio.ServerOptions{}, drain)
		arrivals := startReaders(t, url, n-1)
		rawUpgradeBuffer(t, url, 4<<10)
		waitUntil(t, "all connections tracked", func() bool { return srv.Len() == n })
		msg := make([]byte, size)
		for round := range maxRounds {
			msg[0] = byte(round)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			start := time.Now()
			err := srv.Broadcast(ctx, wsio.Binary, msg)
			took := time.Since(start)
			cancel()
			if err == nil {
				checkRound(t, arrivals, n-1, msg[0], size, start, 0)
				continue
			}
			t.Logf("round %d (%d KiB sent): Broadcast took %v: %v", round, (round+1)*size>>10, took, err)
			checkRound(t, arrivals, n-1, msg[0], size, start, time.Second)
			checkSlowBroadcastErr(t, err, took)
			return
		}
		t.Fatalf("Broadcast of %d MiB never failed for a peer that does not read", maxRounds*size>>20)
	})
	t.Run("stream stuck on a full socket", func(t *testing.T) {
		// The silent peer's connection is in the middle of a binary stream
		// that blocks on its full socket, so Broadcast must wait for it.
		stuck := make(chan struct{})
		srv, url := newServer(t, wsio.ServerOptions{}, func(c *wsio.Conn) {
			if c.Path() == "/silent" {
				w, err := c.BeginBinary(context.Background())
				if err != nil {
					t.Errorf("BeginBinary: %v", err)
					return
				}
				close(stuck)
				_, _ = io.Copy(w, wstest.Zeros(256<<20)) // blocks until the peer is gone
				_ = w.Close()
			}
			drain(c)
		})
		arrivals := startReaders(t, url, n-1)
		rawUpgradeBuffer(t, url+"/silent", 4<<10)
		<-stuck
		waitUntil(t, "all connections tracked", func() bool { return srv.Len() == n })
		time.Sleep(100 * time.Millisecond) // let the stream fill the socket

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := srv.Broadcast(ctx, wsio.Text, []byte("news"))
		took := time.Since(start)
		checkRound(t, arrivals, n-1, 'n', 4, start, time.Second)
		checkSlowBroadcastErr(t, err, took)
	})
}

// TestServerBroadcastWaitsForStream: a connection in the middle of a
// BeginBinary stream gets the broadcast after the stream, and the others
// are not held up meanwhile.
func TestServerBroadcastWaitsForStream(t *testing.T) {
	t.Parallel()
	streams := make(chan io.WriteCloser, 1)
	srv, url := newServer(t, wsio.ServerOptions{}, func(c *wsio.Conn) {
		if c.Path() == "/stream" {
			w, err := c.BeginBinary(context.Background())
			if err != nil {
				t.Errorf("BeginBinary: %v", err)
				return
			}
			streams <- w
		}
		drain(c)
	})
	others := []*wsio.Conn{dial(t, url, nil), dial(t, url, nil), dial(t, url, nil)}
	streaming := dial(t, url+"/stream", nil)
	var w io.WriteCloser
	select {
	case w = <-streams:
	case <-time.After(timeout):
		t.Fatal("the server never opened its stream")
	}
	waitUntil(t, "all connections tracked", func() bool { return srv.Len() == 4 })

	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { done <- srv.Broadcast(ctx, wsio.Text, []byte("news")) }()
	for _, c := range others {
		if got := nextText(t, ctx, c); got != "news" {
			t.Fatalf("got %q", got)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Broadcast returned (%v) while a stream was still open", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := w.Write([]byte("part")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if kind, b, err := readMessage(ctx, streaming); err != nil || kind != wsio.Binary || string(b) != "part" {
		t.Fatalf("stream = %v %q %v", kind, b, err)
	}
	if got := nextText(t, ctx, streaming); got != "news" {
		t.Fatalf("after the stream got %q, want the broadcast", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Broadcast: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Broadcast did not return after the stream ended")
	}
}

// TestServerCloseEndsEverything: Close refuses new upgrades with 503 and
// closes the open connections at once, without the closing handshake, as
// http.Server.Close does.
func TestServerCloseEndsEverything(t *testing.T) {
	t.Parallel()
	srv, url := newServer(t, wsio.ServerOptions{}, echo)
	c := dial(t, url, nil)
	roundTrip(t, c, "before")
	waitUntil(t, "Len() == 1", func() bool { return srv.Len() == 1 })

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, resp, err := wsio.Dial(testCtx(t), url, nil)
	var he *wsio.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("Dial after Close: %v, want a HandshakeError with 503", err)
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Dial after Close: response %v", resp)
	}
	_, err = c.Next(testCtx(t))
	wantClose(t, err, wsio.StatusAbnormalClosure, false)
	waitUntil(t, "Len() == 0", func() bool { return srv.Len() == 0 })
}

func TestServerShutdown(t *testing.T) {
	t.Parallel()
	const n = 10
	srv, url := newServer(t, wsio.ServerOptions{}, echo)
	ctx := testCtx(t)
	results := make(chan error, n)
	for range n {
		c := dial(t, url, nil)
		go func() {
			_, err := c.Next(ctx)
			results <- err
		}()
	}
	waitUntil(t, "Len() == 10", func() bool { return srv.Len() == n })

	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if l := srv.Len(); l != 0 {
		t.Fatalf("Len after Shutdown = %d", l)
	}
	for range n {
		select {
		case err := <-results:
			wantClose(t, err, wsio.StatusGoingAway, true)
		case <-time.After(timeout):
			t.Fatal("a client's Next did not return after Shutdown")
		}
	}
	_, resp, err := wsio.Dial(ctx, url, nil)
	if !errors.Is(err, wsio.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Dial after Shutdown: %v %v, want 503", resp, err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestServerShutdownTimeout: peers that do not answer the close frame
// make Shutdown return ctx's error, and their connections are torn down.
func TestServerShutdownTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler func(*wsio.Conn)
	}{
		{"close frame unanswered", drain},
		{"socket full", func(c *wsio.Conn) {
			// Blocks once the silent peer's socket is full.
			_ = c.SendBinary(context.Background(), make([]byte, 64<<20))
			drain(c)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := wsio.NewServer(wsio.ServerOptions{}, tc.handler)
			ts := httptest.NewServer(srv)
			t.Cleanup(ts.Close)
			peer, peerR := rawUpgrade(t, wsURL(ts.URL))
			waitUntil(t, "Len() == 1", func() bool { return srv.Len() == 1 })
			var sc *wsio.Conn
			for c := range srv.Conns() {
				sc = c
			}
			time.Sleep(50 * time.Millisecond) // let the handler block

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := srv.Shutdown(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Shutdown took %v with a 300ms context", took)
			}
			select {
			case <-sc.Done():
			case <-time.After(timeout):
				t.Fatal("the connection was not torn down")
			}
			waitUntil(t, "Len() == 0", func() bool { return srv.Len() == 0 })
			// The peer reads whatever was sent, then the end of the stream.
			_ = peer.SetReadDeadline(time.Now().Add(timeout))
			_, err = io.Copy(io.Discard, peerR)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the peer's stream stayed open: %v", err)
			}
		})
	}
}

func TestServerServeAndShutdown(t *testing.T) {
	t.Parallel()
	srv := wsio.NewServer(wsio.ServerOptions{}, echo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "ws://" + ln.Addr().String() + "/any/path"
	c := dial(t, url, nil)
	roundTrip(t, c, "over Serve")

	ctx := testCtx(t)
	got := make(chan error, 1)
	go func() {
		_, err := c.Next(ctx)
		got <- err
	}()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
		}
	case <-time.After(timeout):
		t.Fatal("Serve did not return after Shutdown")
	}
	select {
	case err := <-got:
		wantClose(t, err, wsio.StatusGoingAway, true)
	case <-time.After(timeout):
		t.Fatal("the client was not closed")
	}
	if nc, err := net.DialTimeout("tcp", ln.Addr().String(), timeout); err == nil {
		nc.Close()
		t.Fatal("the listener still accepts connections after Shutdown")
	}

	// A Server that was shut down serves no more: Serve closes ln at once.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln2); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
	if _, err := ln2.Accept(); err == nil {
		t.Fatal("Serve after Shutdown left its listener open")
	}
}

func TestServerServeClose(t *testing.T) {
	t.Parallel()
	srv := wsio.NewServer(wsio.ServerOptions{}, echo)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c := dial(t, "ws://"+ln.Addr().String(), nil)
	// Dial returns when the 101 arrives, which can be before the Server
	// counts the connection; one that completes after Close gets 1001.
	waitUntil(t, "the Server counts the connection", func() bool { return srv.Len() == 1 })
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
		}
	case <-time.After(timeout):
		t.Fatal("Serve did not return after Close")
	}
	_, err = c.Next(testCtx(t))
	wantClose(t, err, wsio.StatusAbnormalClosure, false)
	if _, _, err := wsio.Dial(testCtx(t), "ws://"+ln.Addr().String(), nil); err == nil {
		t.Fatal("Dial succeeded after Close closed the listener")
	}
}

// acceptSignal is a listener that reports each connection it accepts.
type acceptSignal struct {
	net.Listener
	accepted chan struct{}
}

func (l acceptSignal) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return nc, err
}

// TestServerCloseCutsHandshakes: Close ends a handshake that is waiting
// for the rest of its request at once, not after HandshakeTimeout, at
// whatever point of AcceptConn it finds it.
func TestServerCloseCutsHandshakes(t *testing.T) {
	t.Parallel()
	for _, delay := range []time.Duration{0, time.Millisecond, 50 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			sig := acceptSignal{ln, make(chan struct{}, 1)}
			closeMidHandshake(t, sig, sig.accepted, delay)
		})
	}
}

// closeMidHandshake serves ln, dials it and sends part of a request head;
// once ready receives and delay has passed it closes the Server, and
// checks that the Server drops the handshake at once (HandshakeTimeout
// is a minute) and that Serve returns ErrServerClosed.
func closeMidHandshake(t *testing.T, ln net.Listener, ready <-chan struct{}, delay time.Duration) {
	t.Helper()
	srv := wsio.NewServer(wsio.ServerOptions{HandshakeTimeout: time.Minute}, echo)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	<-ready
	time.Sleep(delay)
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	n, err := nc.Read(make([]byte, 1))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d, %v; want the server to drop the handshake", n, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// armGate is a listener whose connections hold their first SetDeadline
// (a handshake arming its timeout) until the listener is closed, or for a
// second when that does not come.
type armGate struct {
	net.Listener
	arming chan struct{} // receives when a connection's first SetDeadline starts
	closed chan struct{}
	once   sync.Once
}

func (l *armGate) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: nc, l: l}, nil
}

func (l *armGate) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

type gatedConn struct {
	net.Conn
	l     *armGate
	armed atomic.Bool
}

func (c *gatedConn) SetDeadline(t time.Time) error {
	if c.armed.CompareAndSwap(false, true) {
		c.l.arming <- struct{}{}
		select {
		case <-c.l.closed:
		case <-time.After(time.Second):
		}
	}
	return c.Conn.SetDeadline(t)
}

// TestServerCloseBeforeHandshakeArms: a Close that comes while a handshake
// is about to arm its timeout (the request has not all arrived) still cuts
// it off: the timeout armed after the cut does not undo it. The gate holds
// the arming until Close has cut the handshake and closed the listener, or,
// when the arming holds the Server's lock as it should, until Close has
// waited a second for it.
func TestServerCloseBeforeHandshakeArms(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := &armGate{Listener: ln, arming: make(chan struct{}, 1), closed: make(chan struct{})}
	closeMidHandshake(t, gate, gate.arming, 0)
}

func TestHandlerReturnClosesNormally(t *testing.T) {
	t.Parallel()
	_, url := newServer(t, wsio.ServerOptions{}, func(c *wsio.Conn) {})
	c := dial(t, url, nil)
	_, err := c.Next(testCtx(t))
	wantClose(t, err, wsio.StatusNormalClosure, true)
}

func TestErrorsContract(t *testing.T) {
	t.Parallel()
	t.Run("clean close", func(t *testing.T) {
		t.Parallel()
		serverErr := make(chan error, 1)
		_, url := newServer(t, wsio.ServerOptions{}, func(c *wsio.Conn) {
			_, err := c.Next(context.Background())
			serverErr <- err
		})
		c := dial(t, url, nil)
		if err := c.Close(wsio.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-serverErr:
			if ce := wantClose(t, err, wsio.StatusNormalClosure, true); ce.Reason != "bye" {
				t.Errorf("server saw reason %q", ce.Reason)
			}
		case <-time.After(timeout):
			t.Fatal("the server's Next did not return")
		}
		if c.State() != wsio.Closed {
			t.Errorf("state after Close = %v", c.State())
		}
		select {
		case <-c.Done():
		default:
			t.Error("Done not closed after Close")
		}
		_, err := c.Next(testCtx(t))
		wantClose(t, err, wsio.StatusNormalClosure, false)
		wantClose(t, c.Err(), wsio.StatusNormalClosure, false)
		if err := c.SendText(testCtx(t), "late"); !errors.Is(err, wsio.ErrClosed) {
			t.Errorf("SendText after close = %v, want ErrClosed", err)
		}
		if err := c.SendBinary(testCtx(t), []byte("late")); !errors.Is(err, wsio.ErrClosed) {
			t.Errorf("SendBinary after close = %v, want ErrClosed", err)
		}
		if err := c.Close(wsio.StatusNormalClosure, ""); !errors.Is(err, wsio.ErrClosed) {
			t.Errorf("second Close = %v, want ErrClosed", err)
		}
	})
	t.Run("stream open", func(t *testing.T) {
		t.Parallel()
		_, url := newServer(t, wsio.ServerOptions{}, echo)
		c := dial(t, url, nil)
		ctx := testCtx(t)
		w, err := c.BeginBinary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(ctx, "x"); !errors.Is(err, wsio.ErrStreamOpen) {
			t.Errorf("SendText during a stream = %v, want ErrStreamOpen", err)
		}
		if err := c.SendBinary(ctx, []byte("x")); !errors.Is(err, wsio.ErrStreamOpen) {
			t.Errorf("SendBinary during a stream = %v, want ErrStreamOpen", err)
		}
		if _, err := c.BeginBinary(ctx); !errors.Is(err, wsio.ErrStreamOpen) {
			t.Errorf("BeginBinary during a stream = %v, want ErrStreamOpen", err)
		}
		if _, err := io.Copy(w, strings.NewReader("streamed")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(ctx, "after"); err != nil {
			t.Fatalf("SendText after the stream's Close: %v", err)
		}
		if kind, b, err := readMessage(ctx, c); err != nil || kind != wsio.Binary || string(b) != "streamed" {
			t.Fatalf("echo of the stream = %v %q %v", kind, b, err)
		}
		if got := nextText(t, ctx, c); got != "after" {
			t.Fatalf("echo = %q", got)
		}
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	for _, front := range []string{"net/http", "Serve"} {
		t.Run(front, func(t *testing.T) {
			t.Parallel()
			sawTLS := make(chan bool, 1)
			srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
				sawTLS <- c.Request().TLS != nil && c.Request().TLS.HandshakeComplete
				echo(c)
			})
			ts := httptest.NewUnstartedServer(srv)
			var addr string
			if front == "net/http" {
				ts.StartTLS()
				addr = ts.Listener.Addr().String()
			} else {
				// Serve on a TLS listener with the test certificate: the
				// handshake is AcceptConn's.
				ts.StartTLS()
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				cfg := ts.TLS.Clone()
				cfg.NextProtos = []string{"http/1.1"}
				go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
				addr = ln.Addr().String()
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				_ = srv.Shutdown(ctx)
				ts.Close()
			})
			url := "wss://" + addr + "/secure"
			c := dial(t, url, &wsio.DialOptions{TLSConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig})
			roundTrip(t, c, "over TLS")
			if !<-sawTLS {
				t.Error("the handler's Request().TLS does not describe a completed TLS handshake")
			}
			// The echo streams back while the message is still arriving, so send
			// and read at once.
			big := bytes.Repeat([]byte("0123456789"), 200_000)
			ctx := testCtx(t)
			sent := make(chan error, 1)
			go func() { sent <- c.SendBinary(ctx, big) }()
			if _, b, err := readMessage(ctx, c); err != nil || !bytes.Equal(b, big) {
				t.Fatalf("binary echo over TLS: %d bytes, %v", len(b), err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("SendBinary: %v", err)
			}

			// Without the test CA the certificate is refused.
			if _, _, err := wsio.Dial(ctx, url, nil); err == nil {
				t.Fatal("Dial trusted the test certificate without its CA")
			}
		})
	}
}

// TestAcceptConnContext: a handshake stalled by a silent peer ends when
// the context does, with the connection closed and no answer written.
func TestAcceptConnContext(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := wsio.AcceptConn(ctx, server, nil)
	if c != nil || !errors.Is(err, wsio.ErrBadHandshake) || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("AcceptConn = %v, %v; want a handshake error naming the context", c, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("AcceptConn returned after %v", d)
	}
	if _, err := client.Write([]byte("GET")); err == nil {
		t.Fatal("the connection is still open after the failed handshake")
	}
}

// TestCloseTimeoutWhileReading: Close from one goroutine while another is
// blocked reading a binary message. The peer never answers the close
// frame, so Close gives up after CloseTimeout and tears the connection
// down under the reader, which must then fail cleanly.
func TestCloseTimeoutWhileReading(t *testing.T) {
	t.Parallel()
	for range 5 { // the race detector needs the unlucky order; it comes within a few tries
		closeWhileReading(t)
	}
}

func closeWhileReading(t *testing.T) {
	t.Helper()
	reading := make(chan struct{})
	readErr := make(chan error, 1)
	srv, url := newServer(t, wsio.ServerOptions{Options: wsio.Options{CloseTimeout: 100 * time.Millisecond}}, func(c *wsio.Conn) {
		m, err := c.Next(context.Background())
		if err != nil {
			readErr <- err
			return
		}
		// Small reads make the connection buffer the stream itself.
		buf := make([]byte, 10)
		for n := 0; n < 1000; {
			k, err := m.Read(buf)
			if err != nil {
				readErr <- err
				return
			}
			n += k
		}
		close(reading)
		_, err = io.Copy(io.Discard, m) // blocks: the rest of the message never comes
		readErr <- err
	})
	c := dial(t, url, &wsio.DialOptions{Options: wsio.Options{FragmentSize: 100}})
	ctx := testCtx(t)
	w, err := c.BeginBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1000)); err != nil { // ten full frames; the stream stays open
		t.Fatal(err)
	}
	select {
	case <-reading:
	case err := <-readErr:
		t.Fatalf("server read: %v", err)
	case <-time.After(timeout):
		t.Fatal("the server did not read the first frames")
	}
	waitUntil(t, "Len() == 1", func() bool { return srv.Len() == 1 })
	for sc := range srv.Conns() {
		if err := sc.Close(wsio.StatusNormalClosure, ""); err == nil {
			t.Error("Close returned nil though the peer never answered")
		}
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("the interrupted read failed with %v, want io.ErrUnexpectedEOF", err)
		}
	case <-time.After(timeout):
		t.Fatal("the read did not end after Close")
	}
}

// TestServeSilentPeer: Serve defers accepting a connection until its first
// bytes arrive (TCP_DEFER_ACCEPT on Linux). A peer that connects and sends
// nothing is still closed, within the deferral plus HandshakeTimeout, and
// a peer that connects first and sends its request later is upgraded.
func TestServeSilentPeer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := wsio.NewServer(wsio.ServerOptions{HandshakeTimeout: 200 * time.Millisecond}, func(c *wsio.Conn) {
		_, _ = c.Next(context.Background())
	})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	// Serve sets TCP_DEFER_ACCEPT before its first Accept, so once an
	// upgrade has gone through it is in force. A connection dialed before
	// that would be accepted at once, and the late request below would
	// then race HandshakeTimeout.
	dial(t, "ws://"+ln.Addr().String(), nil)

	late, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()

	time.Sleep(100 * time.Millisecond)
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := late.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = late.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(late).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("late request: %q, %v; want a 101", line, err)
	}

	_ = silent.SetReadDeadline(time.Now().Add(timeout))
	n, err := silent.Read(make([]byte, 1))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent peer: read %d, %v; want the server to close it", n, err)
	}
	// The deferral is 1 s, which the kernel counts in SYN-ACK retransmits.
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("silent peer closed after %v", d)
	}
	t.Logf("silent peer closed after %v", time.Since(start))
}
