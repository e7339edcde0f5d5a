//go:build !js

package wsio_test

import (
	"context"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// TestKeepaliveHandlerThatNeverReads: a Server's keepalive (its idle
// bound) does not cut a live peer when the handler only sends and never
// calls Next: before giving up it looks at the socket, where the peer's
// pongs wait.
func TestKeepaliveHandlerThatNeverReads(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	srv, url := newServer(t, wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: interval, KeepaliveTimeout: interval}},
		func(c *wsio.Conn) { <-c.Done() }) // never reads
	c := dial(t, url, nil)
	next := make(chan error, 1)
	go func() { // the client reads, so it answers every ping
		_, err := c.Next(context.Background())
		next <- err
	}()
	waitUntil(t, "Len() == 1", func() bool { return srv.Len() == 1 })
	select {
	case err := <-next:
		t.Fatalf("the server cut a live peer whose pongs it never read: %v", err)
	case <-time.After(12 * interval):
	}
	if n := srv.Len(); n != 1 {
		t.Fatalf("Len = %d after %v, want the connection still open", n, 12*interval)
	}
	_ = c.CloseNow()
	<-next
}
