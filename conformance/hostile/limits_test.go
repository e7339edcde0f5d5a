package hostile

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// The idle bound these tests use; a Server's default is the same
// mechanism with 30 s for both.
const (
	idleInterval = 300 * time.Millisecond
	idleTimeout  = 300 * time.Millisecond
)

var idleOpts = wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: idleInterval, KeepaliveTimeout: idleTimeout}}

// startEventServer serves an event server with opts and e by Server.Serve
// on a 127.0.0.1 listener and returns it with its address; the test's end
// shuts it down.
func startEventServer(t *testing.T, opts wsio.ServerOptions, e wsio.Events) (*wsio.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := wsio.NewEventServer(opts, e)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown at the end of the test: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return srv, ln.Addr().String()
}

// dialHost is dialWS for a server given by its address.
func dialHost(t *testing.T, host string) *attacker {
	t.Helper()
	nc, br, err := dialRaw(host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{t: t, nc: nc, br: br}
	t.Cleanup(func() { _ = a.nc.Close() })
	return a
}

// TestIdleSilentPeer: a peer finishes the handshake, then sends nothing
// and reads nothing (the server's pings pile up unread in its socket).
// Keepalive cuts it within interval + timeout and frees its place, on a
// handler server (its Next fails with 1006 matching ErrKeepalive) and on
// an event server, whose connection waits parked, with no goroutine, when
// the bound runs out.
func TestIdleSilentPeer(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"NewServer", "NewEventServer"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Keepalive", fmt.Sprintf("silent peer, %s: the handshake, then nothing sent and nothing read; KeepaliveInterval %v / KeepaliveTimeout %v (a Server's default is 30 s / 30 s)",
				kind, fmtDur(idleInterval), fmtDur(idleTimeout)))
			var (
				srv     *wsio.Server
				a       *attacker
				sideErr func() error // how the server side ended
			)
			if kind == "NewServer" {
				s := startServer(t, idleOpts, echo(true))
				srv, a = s.srv, dialWS(t, s)
				sideErr = func() error {
					res, err := s.result(a.addr(), 5*time.Second)
					if err != nil {
						return err
					}
					return res.err
				}
			} else {
				closed := make(chan error, 1)
				var host string
				srv, host = startEventServer(t, idleOpts, wsio.Events{
					Close: func(c *wsio.Conn, err *wsio.CloseError) { closed <- err },
				})
				a = dialHost(t, host)
				sideErr = func() error {
					select {
					case err := <-closed:
						return err
					case <-time.After(5 * time.Second):
						return errors.New("no Close callback within 5 s")
					}
				}
			}
			// The 101 can reach the peer before the Server counts the
			// connection: wait until it does, then time the cut.
			if !wstest.Poll(5*time.Second, func() bool { return srv.Len() == 1 }) {
				bug(t, r, "the connection was never counted open (Len %d)", srv.Len())
			}
			start := time.Now()
			if !wstest.Poll(5*time.Second, func() bool { return srv.Len() == 0 }) {
				bug(t, r, "the silent peer was still open after 5 s (Len %d)", srv.Len())
			}
			took := time.Since(start)
			err := sideErr()
			// Only now does the peer read: the pings, then the end.
			pings := 0
			var end error
			for {
				f, ferr := a.readFrame(2 * time.Second)
				if ferr != nil {
					end = ferr
					break
				}
				if f.Opcode == opPing {
					pings++
				}
			}
			r.saw("cut after %v (Len 0); %d ping(s) unread in its socket, then %v; server side: %v", fmtDur(took), pings, desc(end), desc(err))
			if took < idleInterval || took > 3*time.Second {
				t.Errorf("cut after %v, want about interval + timeout (%v)", took, idleInterval+idleTimeout)
			}
			if !isClosedErr(end) {
				t.Errorf("the peer's read ended with %v, want the connection closed", end)
			}
			if pings < 1 {
				t.Error("no ping before the cut")
			}
			if msg := checkCloseErr(err, wsio.StatusAbnormalClosure, false, wsio.ErrKeepalive); msg != "" {
				t.Errorf("server side: %s", msg)
			}
		})
	}
}

// TestMaxConns: peers that fill MaxConns and go silent make the server
// refuse the next upgrade with 503 and Retry-After, counted by Refused;
// keepalive then cuts the silent ones and the refused peer's retry is
// upgraded.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	const limit = 4
	r := record(t, "Handshake", fmt.Sprintf("MaxConns %d: %d peers upgrade and go silent (sending and reading nothing), then another upgrades; KeepaliveInterval %v / KeepaliveTimeout %v",
		limit, limit, fmtDur(idleInterval), fmtDur(idleTimeout)))
	s := startServer(t, idleOpts, echo(true), func(srv *wsio.Server) { srv.MaxConns = limit })
	for range limit {
		dialWS(t, s)
	}
	// A peer has its 101 just before the server counts its connection.
	if !wstest.Poll(5*time.Second, func() bool { return s.srv.Len() == limit }) {
		t.Fatalf("Len %d after %d upgrades", s.srv.Len(), limit)
	}
	start := time.Now()
	resp, err := rawRequest(t, s.host, upgradeHead(s.host, ""))
	if err != nil {
		t.Fatalf("the request over the cap: %v", err)
	}
	refusedIn := time.Since(start)
	open, refused := s.srv.Len(), s.srv.Refused()
	if !wstest.Poll(5*time.Second, func() bool { return s.srv.Len() == 0 }) {
		bug(t, r, "the silent peers were still open after 5 s (Len %d)", s.srv.Len())
	}
	freedIn := time.Since(start)
	retry, _, rerr := dialRaw(s.host, 5*time.Second)
	if rerr == nil {
		_ = retry.Close()
	}
	r.saw("over the cap: %s, Retry-After %q, %s, in %v; Len %d, Refused() %d; the silent peers were cut %v later, and the retry was %s",
		resp.Status, resp.Header.Get("Retry-After"), map[bool]string{true: "Connection: close", false: "connection kept"}[resp.Close], fmtDur(refusedIn), open, refused, fmtDur(freedIn-refusedIn),
		map[bool]string{true: "upgraded (101)", false: fmt.Sprintf("refused: %v", rerr)}[rerr == nil])
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" || !resp.Close {
		t.Errorf("over the cap: %s, Retry-After %q, close %v; want 503, 5, true", resp.Status, resp.Header.Get("Retry-After"), resp.Close)
	}
	if open != limit || refused != 1 {
		t.Errorf("Len %d, Refused %d; want %d and 1", open, refused, limit)
	}
	if rerr != nil {
		t.Errorf("the retry after the silent peers were cut: %v", rerr)
	}
}

// TestMaxConnsStalledHandshakes: handshakes in progress hold places too,
// so peers that send half a request head and stall fill MaxConns until
// HandshakeTimeout cuts them.
func TestMaxConnsStalledHandshakes(t *testing.T) {
	t.Parallel()
	const limit = 2
	const hsTimeout = time.Second
	r := record(t, "Handshake", fmt.Sprintf("MaxConns %d: %d peers send half a request head and stall (HandshakeTimeout %v), then another upgrades, and again once they are cut",
		limit, limit, fmtDur(hsTimeout)))
	s := startServer(t, wsio.ServerOptions{HandshakeTimeout: hsTimeout}, echo(true), func(srv *wsio.Server) { srv.MaxConns = limit })
	half := upgradeHead(s.host, "")[:40]
	stalled := make([]net.Conn, limit)
	for i := range stalled {
		nc, err := net.DialTimeout("tcp", s.host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		if _, err := nc.Write([]byte(half)); err != nil {
			t.Fatal(err)
		}
		stalled[i] = nc
	}
	// Wait until the server has read each half head: their handshakes
	// are then in progress.
	if !wstest.Poll(5*time.Second, func() bool {
		for _, nc := range stalled {
			if c := s.conn(nc.LocalAddr().String()); c == nil || c.read.Load() != int64(len(half)) {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the server did not read the half heads")
	}
	start := time.Now()
	resp, err := rawRequest(t, s.host, upgradeHead(s.host, ""))
	if err != nil {
		t.Fatalf("the request while the handshakes stall: %v", err)
	}
	refused := s.srv.Refused()
	// The stalled handshakes end at HandshakeTimeout: their sockets close.
	for _, nc := range stalled {
		if _, err := awaitEOF(nc, nc, 5*time.Second); err != nil {
			t.Errorf("a stalled handshake: %v", err)
		}
	}
	cut := time.Since(start)
	retry, _, rerr := dialRaw(s.host, 5*time.Second)
	if rerr == nil {
		_ = retry.Close()
	}
	r.saw("while they stall: %s, Retry-After %q, Refused() %d; the stalled handshakes were cut after %v, and the retry was %s",
		resp.Status, resp.Header.Get("Retry-After"), refused, fmtDur(cut),
		map[bool]string{true: "upgraded (101)", false: fmt.Sprintf("refused: %v", rerr)}[rerr == nil])
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("while the handshakes stall: %s, Retry-After %q; want 503 and 5", resp.Status, resp.Header.Get("Retry-After"))
	}
	if refused != 1 {
		t.Errorf("Refused() = %d, want 1", refused)
	}
	if rerr != nil {
		t.Errorf("the retry after the stalled handshakes were cut: %v", rerr)
	}
}
