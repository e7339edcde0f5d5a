package hostile

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// The keepalive these tests use to cut silent peers.
const (
	idleInterval = 300 * time.Millisecond
	idleTimeout  = 300 * time.Millisecond
)

var idleOpts = wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: idleInterval, KeepaliveTimeout: idleTimeout}}

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
	start := time.Now()
	resp, err := rawRequest(t, s.host, upgradeHead(s.host, ""))
	if err != nil {
		t.Fatalf("the request over the cap: %v", err)
	}
	refusedIn := time.Since(start)
	open, refused := s.srv.Len(), s.srv.Refused()
	if !waitFor(5*time.Second, func() bool { return s.srv.Len() == 0 }) {
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
	if !waitFor(5*time.Second, func() bool {
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
