//go:build !js

package wsio_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// fronts are the two ways a Server meets its connections: Server.Serve,
// which reads the upgrade itself, and net/http (ServeHTTP).
var fronts = []string{"Serve", "net/http"}

// wantBusy dials url and requires the refusal MaxConns makes: 503 with
// Retry-After.
func wantBusy(t *testing.T, url string) {
	t.Helper()
	c, resp, err := wsio.Dial(testCtx(t), url, nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("Dial over MaxConns succeeded, want 503")
	}
	var he *wsio.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("Dial over MaxConns: %v, want a *HandshakeError with status 503", err)
	}
	if resp == nil {
		t.Fatal("Dial over MaxConns returned no response")
	}
	if got := resp.Header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After = %q, want 5", got)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "connection limit") {
		t.Errorf("body %q does not say why", body)
	}
}

// TestServerMaxConns: past MaxConns an upgrade is refused with 503 and
// Retry-After and counted by Refused, on both fronts; a connection that
// closes frees its slot.
func TestServerMaxConns(t *testing.T) {
	t.Parallel()
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) {
			t.Parallel()
			srv := wsio.NewServer(wsio.ServerOptions{}, echo)
			srv.MaxConns = 2
			url := startEventServer(t, srv, front)
			a := dial(t, url, nil)
			b := dial(t, url, nil)
			roundTrip(t, a, "a")
			roundTrip(t, b, "b")

			wantBusy(t, url)
			if got := srv.Refused(); got != 1 {
				t.Fatalf("Refused() = %d, want 1", got)
			}
			// The refusal took no slot: both connections still work.
			roundTrip(t, a, "a again")
			roundTrip(t, b, "b again")

			if err := a.Close(wsio.StatusNormalClosure, ""); err != nil {
				t.Fatalf("Close: %v", err)
			}
			waitUntil(t, "the closed connection leaves the server", func() bool { return srv.Len() == 1 })
			c := dial(t, url, nil)
			roundTrip(t, c, "in the freed slot")

			wantBusy(t, url)
			if got := srv.Refused(); got != 2 {
				t.Fatalf("Refused() = %d, want 2", got)
			}
		})
	}
}

// TestServerMaxConnsCountsHandshakes: a handshake in progress holds a
// slot, so with MaxConns 1 a second client is refused while the first is
// still being upgraded.
func TestServerMaxConnsCountsHandshakes(t *testing.T) {
	t.Parallel()
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) {
			t.Parallel()
			entered := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			free := func() { once.Do(func() { close(release) }) }
			defer free()
			srv := wsio.NewServer(wsio.ServerOptions{
				// Holds the handshake of a client that offers "hold" until
				// release.
				SelectSubprotocol: func(r *http.Request, offered []string) string {
					close(entered)
					<-release
					return offered[0]
				},
			}, echo)
			srv.MaxConns = 1
			url := startEventServer(t, srv, front)
			first := make(chan error, 1)
			go func() {
				c, _, err := wsio.Dial(testCtx(t), url, &wsio.DialOptions{Subprotocols: []string{"hold"}})
				if err == nil {
					defer func() { _ = c.Close(wsio.StatusNormalClosure, "") }()
					ctx := testCtx(t)
					if err = c.SendText(ctx, "held"); err == nil {
						var m wsio.Message
						if m, err = c.Next(ctx); err == nil && m.Text != "held" {
							err = fmt.Errorf("echo %q", m.Text)
						}
					}
				}
				first <- err
			}()
			select {
			case <-entered:
			case <-time.After(timeout):
				t.Fatal("the first handshake did not start")
			}
			wantBusy(t, url)
			if got := srv.Refused(); got != 1 {
				t.Fatalf("Refused() = %d, want 1", got)
			}
			free()
			if err := <-first; err != nil {
				t.Fatalf("the held client: %v", err)
			}
		})
	}
}

// TestServerMaxConnsBurst: many clients at once never get more than
// MaxConns connections; every other one is refused with 503 and counted.
func TestServerMaxConnsBurst(t *testing.T) {
	t.Parallel()
	const limit, clients = 5, 40
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) {
			t.Parallel()
			srv := wsio.NewServer(wsio.ServerOptions{}, echo)
			srv.MaxConns = limit
			url := startEventServer(t, srv, front)
			var (
				wg       sync.WaitGroup
				ok, busy atomic.Int64
				mu       sync.Mutex
				other    []error
				conns    []*wsio.Conn
			)
			start := make(chan struct{})
			for range clients {
				wg.Go(func() {
					<-start
					c, _, err := wsio.Dial(testCtx(t), url, nil)
					var he *wsio.HandshakeError
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok.Add(1)
						conns = append(conns, c)
					case errors.As(err, &he) && he.Status == http.StatusServiceUnavailable:
						busy.Add(1)
					default:
						other = append(other, err)
					}
				})
			}
			close(start)
			wg.Wait()
			t.Cleanup(func() {
				for _, c := range conns {
					_ = c.Close(wsio.StatusNormalClosure, "")
				}
			})
			for _, err := range other {
				t.Errorf("Dial: %v", err)
			}
			if ok.Load() != limit || busy.Load() != clients-limit {
				t.Fatalf("%d connected, %d refused; want %d and %d", ok.Load(), busy.Load(), limit, clients-limit)
			}
			if got := srv.Refused(); got != clients-limit {
				t.Errorf("Refused() = %d, want %d", got, clients-limit)
			}
			// Under net/http the 101 goes out before the Server counts the
			// connection, so a client can see it a moment before Len does.
			deadline := time.Now().Add(5 * time.Second)
			for srv.Len() < limit && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := srv.Len(); got != limit {
				t.Errorf("Len() = %d, want %d", got, limit)
			}
		})
	}
}

// idleServer returns a Server of the given kind whose connections read
// all the time, and a channel with how each ended.
func idleServer(kind string, opts wsio.ServerOptions) (*wsio.Server, <-chan error) {
	ended := make(chan error, 16)
	if kind == "events" {
		return wsio.NewEventServer(opts, wsio.Events{
			Close: func(c *wsio.Conn, err *wsio.CloseError) { ended <- err },
		}), ended
	}
	return wsio.NewServer(opts, func(c *wsio.Conn) {
		for {
			if _, err := c.Next(context.Background()); err != nil {
				ended <- err
				return
			}
		}
	}), ended
}

// TestServerIdleBound: keepalive closes a peer that finished the
// handshake and then went silent (it sends nothing and answers no ping)
// within interval + timeout, and never a peer that answers, on both fronts
// and for both kinds of Server.
func TestServerIdleBound(t *testing.T) {
	t.Parallel()
	const interval, kaTimeout = 200 * time.Millisecond, 400 * time.Millisecond
	opts := wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: interval, KeepaliveTimeout: kaTimeout}}
	for _, kind := range []string{"handler", "events"} {
		for _, front := range fronts {
			t.Run(kind+"/"+front, func(t *testing.T) {
				t.Parallel()
				t.Run("silent", func(t *testing.T) {
					t.Parallel()
					srv, ended := idleServer(kind, opts)
					url := startEventServer(t, srv, front)
					nc, br := rawUpgrade(t, url)
					start := time.Now()
					// Read what the server sends (its pings) and never answer.
					_ = nc.SetReadDeadline(start.Add(timeout))
					pings := 0
					var err error
					for {
						var f frame
						if f, err = readFrame(br); err != nil {
							break
						}
						if f.op == 0x9 {
							pings++
						}
					}
					took := time.Since(start)
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
						t.Fatalf("after %v and %d pings: %v, want the server to close the connection", took, pings, err)
					}
					if pings < 1 || took < interval/2 {
						t.Errorf("closed after %v and %d pings, want a ping first", took, pings)
					}
					t.Logf("silent peer closed after %v, %d ping(s)", took, pings)
					select {
					case err := <-ended:
						var ce *wsio.CloseError
						if !errors.As(err, &ce) || ce.Code != wsio.StatusAbnormalClosure || !errors.Is(err, wsio.ErrKeepalive) {
							t.Errorf("the server side ended with %v, want a 1006 CloseError matching ErrKeepalive", err)
						}
					case <-time.After(timeout):
						t.Fatal("the server side did not end")
					}
					waitUntil(t, "the silent peer leaves the server", func() bool { return srv.Len() == 0 })
				})
				t.Run("active", func(t *testing.T) {
					t.Parallel()
					srv, ended := idleServer(kind, opts)
					url := startEventServer(t, srv, front)
					var pings atomic.Int64
					c := dial(t, url, &wsio.DialOptions{Options: wsio.Options{OnPing: func([]byte) { pings.Add(1) }}})
					go drain(c) // the client reads, so it answers pings
					select {
					case err := <-ended:
						t.Fatalf("a peer answering pings was closed: %v", err)
					case <-c.Done():
						t.Fatalf("a peer answering pings was closed: %v", c.Err())
					case <-time.After(6 * (interval + kaTimeout)):
					}
					if n := pings.Load(); n < 3 {
						t.Errorf("%d pings in %v, want at least 3", n, 6*(interval+kaTimeout))
					}
					if srv.Len() != 1 {
						t.Errorf("Len() = %d, want 1", srv.Len())
					}
				})
			})
		}
	}
}
