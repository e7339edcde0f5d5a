//go:build js

package wsio

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// jsDeadline is a deadline that waiters watch: set wakes them so they
// look at the new time.
type jsDeadline struct {
	mu      sync.Mutex
	t       time.Time
	changed chan struct{} // closed and replaced by set; nil until the first set
}

func (d *jsDeadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	if d.changed != nil {
		close(d.changed)
	}
	d.changed = make(chan struct{})
}

func (d *jsDeadline) get() (time.Time, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.t, d.changed
}

// wait blocks until ready yields or poll (when positive) has passed (it
// returns nil), ctx ends (an error matching ctx.Err(), saying what was
// canceled), end is closed (the connection's *CloseError; a nil end is
// never), or d passes (an error wrapping os.ErrDeadlineExceeded).
func (c *Conn) wait(ctx context.Context, d *jsDeadline, ready, end <-chan struct{}, poll time.Duration, what string) error {
	var tick <-chan time.Time
	if poll > 0 {
		pt := time.NewTimer(poll)
		defer pt.Stop()
		tick = pt.C
	}
	for {
		t, changed := d.get()
		var expire <-chan time.Time
		var timer *time.Timer
		if !t.IsZero() {
			left := time.Until(t)
			if left <= 0 {
				return fmt.Errorf(prefix+"%s: %w", what, os.ErrDeadlineExceeded)
			}
			timer = time.NewTimer(left)
			expire = timer.C
		}
		var err error
		again := false
		select {
		case <-ready:
		case <-tick:
		case <-ctx.Done():
			err = fmt.Errorf(prefix+"%s canceled: %w", what, ctx.Err())
		case <-end:
			err = c.closeError()
		case <-expire:
			err = fmt.Errorf(prefix+"%s: %w", what, os.ErrDeadlineExceeded)
		case <-changed:
			again = true
		}
		if timer != nil {
			timer.Stop()
		}
		if !again {
			return err
		}
	}
}

// SetReadDeadline sets the deadline for Next. A Next that passes it fails
// with an error wrapping os.ErrDeadlineExceeded and leaves the connection
// usable. (Reads of a binary Message never wait on js/wasm: the message
// arrived whole.) The zero time means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for the waits of a send (for its
// turn, and for the browser's send buffer to drain). A send that passes
// it fails with an error wrapping os.ErrDeadlineExceeded before any of
// its message is handed to the browser, and the connection stays usable.
// The zero time means no deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}
