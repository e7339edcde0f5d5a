//go:build !js

package wsio

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
)

// TestWriteLockNotStarved checks that control frames get the write lock
// while two goroutines send small messages back to back: the lock has no
// hand-off, so a waiter must win its compare-and-swap between a sender's
// unlock and its next lock. A starved ping (keepalive's) would fail its
// 2-second context here.
func TestWriteLockNotStarved(t *testing.T) {
	url := testServer(t, nil, func(c *Conn) {
		for {
			if _, err := c.Next(context.Background()); err != nil {
				return
			}
		}
	})
	c := dial(t, url, nil)
	go func() {
		for {
			if _, err := c.Next(context.Background()); err != nil {
				return
			}
		}
	}()
	var stop atomic.Bool
	for range 2 {
		go func() {
			p := make([]byte, 16)
			for !stop.Load() {
				if c.SendBinary(context.Background(), p) != nil {
					return
				}
			}
		}()
	}
	defer stop.Store(true)
	var worst time.Duration
	for range 50 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t0 := time.Now()
		err := c.writeFrame(ctx, true, 0, conn.OpPing, nil)
		cancel()
		if err != nil {
			t.Fatalf("ping frame: %v", err)
		}
		worst = max(worst, time.Since(t0))
	}
	t.Logf("longest wait for the write lock: %v", worst)
}
