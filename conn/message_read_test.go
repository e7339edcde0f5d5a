package conn

import (
	"context"
	"errors"
	"io"
	"testing"
)

// Serve's discard of what a Binary callback left unread (settle) makes
// the callback's reader stale: it must not report the discarded rest as
// the message's clean end.
func TestSettleMakesBinaryStale(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, func(c *Conn) {
		_ = c.SendBinary(context.Background(), make([]byte, 100_000))
		_, _ = c.Next(context.Background())
	})
	c := dial(t, url, nil)
	m, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b [10]byte
	if _, err := io.ReadFull(m, b[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.settle(); err != nil {
		t.Fatalf("settle: %v", err)
	}
	if n, err := io.Copy(io.Discard, m); n != 0 || !errors.Is(err, ErrStaleMessage) {
		t.Fatalf("after settle: %d bytes, %v; want 0 and ErrStaleMessage", n, err)
	}
	_ = c.Close(StatusNormalClosure, "")
}
