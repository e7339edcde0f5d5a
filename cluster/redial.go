package cluster

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/wsio/wsio"
)

// Backoff is the wait between reconnect attempts: it doubles from Min up
// to Max, and each wait is drawn at random from its upper half, so clients
// that lost their node together do not come back together.
type Backoff struct {
	Min time.Duration // default 100 ms
	Max time.Duration // default 10 s
}

// Delay returns the wait after failed attempt number attempt (0 for the
// first): a random duration in [d/2, d], d = min(Max, Min·2^attempt).
func (b Backoff) Delay(attempt int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 10 * time.Second
	}
	d := min(lo, hi)
	for i := 0; i < attempt && d < hi; i++ {
		if d > hi/2 {
			d = hi // so that d*2 cannot overflow
		} else {
			d *= 2
		}
	}
	return d/2 + rand.N(d/2+1)
}

// Redial calls dial until it returns a connection or ctx ends, waiting
// b.Delay between failures. dial should dial and then restore what the
// connection had (resubscribe: send its joins, or name its topics in the
// URL). It returns the connection and the number of failed attempts; when
// ctx ends first, the error matches ctx.Err() and wraps the last dial
// error. If ctx is already done, Redial returns ctx.Err() and dials nothing.
func Redial(ctx context.Context, b Backoff, dial func(context.Context) (*wsio.Conn, error)) (*wsio.Conn, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	for attempt := 0; ; attempt++ {
		c, err := dial(ctx)
		if err == nil {
			return c, attempt, nil
		}
		t := time.NewTimer(b.Delay(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, attempt + 1, errors.Join(ctx.Err(), err)
		}
	}
}
