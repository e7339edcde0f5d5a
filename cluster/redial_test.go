package cluster_test

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := cluster.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for attempt, d := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		d *= time.Millisecond
		for range 50 {
			if got := b.Delay(attempt); got < d/2 || got > d {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", attempt, got, d/2, d)
			}
		}
	}
	if got := (cluster.Backoff{}).Delay(1000); got > 10*time.Second || got < 5*time.Second {
		t.Errorf("default Delay(1000) = %v, want in [5s, 10s]", got)
	}
	// Doubling stops at Max even when the next double would overflow.
	huge := cluster.Backoff{Max: math.MaxInt64}
	for attempt := 37; attempt < 200; attempt++ {
		if got := huge.Delay(attempt); got < math.MaxInt64/2 {
			t.Fatalf("Max MaxInt64: Delay(%d) = %v, want at least MaxInt64/2", attempt, got)
		}
	}
}

func TestRedial(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		_, _ = c.Next(context.Background())
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	var calls atomic.Int32
	dial := func(ctx context.Context) (*wsio.Conn, error) {
		if calls.Add(1) <= 3 {
			return nil, errors.New("refused")
		}
		c, _, err := wsio.Dial(ctx, url, nil)
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, failed, err := cluster.Redial(ctx, cluster.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}, dial)
	if err != nil || failed != 3 {
		t.Fatalf("Redial = %v, %d failed; want a connection after 3 failures", err, failed)
	}
	_ = c.Close(wsio.StatusNormalClosure, "")

	// A context that ends stops the loop with its error and the last dial error.
	boom := errors.New("boom")
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	_, _, err = cluster.Redial(short, cluster.Backoff{Min: 10 * time.Millisecond}, func(context.Context) (*wsio.Conn, error) { return nil, boom })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, boom) {
		t.Errorf("Redial after the deadline = %v, want DeadlineExceeded and the dial error", err)
	}

	// A context already done dials nothing.
	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	calls.Store(0)
	if _, _, err := cluster.Redial(done, cluster.Backoff{}, dial); !errors.Is(err, context.Canceled) || calls.Load() != 0 {
		t.Errorf("Redial with a done context = %v after %d dials, want Canceled and none", err, calls.Load())
	}
}
