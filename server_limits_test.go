package wsio_test

import (
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
			if got := srv.Len(); got != limit {
				t.Errorf("Len() = %d, want %d", got, limit)
			}
		})
	}
}
