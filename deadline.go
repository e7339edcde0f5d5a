//go:build !js

package wsio

import (
	"context"
	"errors"
	"sync"
	"time"
)

// dir is one direction of the stream, for the deadline state kept per
// direction.
type dir uint8

const (
	reading dir = iota
	writing
)

// deadlines is the stream deadline state of a connection over a net.Conn.
// mu guards every field; the stream's deadlines are set only under it, so
// the user's setting and a forced one never cross.
type deadlines struct {
	mu sync.Mutex
	// user is the deadline the user set for each direction
	// (SetReadDeadline, SetWriteDeadline), the one the stream carries
	// whenever none is forced.
	user [2]time.Time
	// forced says a direction's stream deadline is held by the package
	// (force, until restore): a context's end, or the end of ServeEvents'
	// wait between messages (see evConn.checkWait). The user's deadline is
	// then only recorded, and restore puts it back.
	forced [2]bool
	// parked says ServeEvents parked the connection: no goroutine reads
	// it, so SetReadDeadline re-arms its timer.
	parked bool
}

// watcher is what watch keeps per direction. Only the goroutine holding
// the direction's lock (rsem for reading, wsem for writing) uses it.
type watcher struct {
	wg sync.WaitGroup // a callback forcing the deadline is in flight
	// cancel forces the direction's deadline into the past, as a func
	// value made on first use, so a connection that never reads or writes
	// under a cancelable context does not carry one.
	cancel func()
}

// SetReadDeadline sets the deadline for reads (Next and binary message
// reads) when the stream is a net.Conn. A read that passes it fails with
// an error wrapping os.ErrDeadlineExceeded and leaves the connection
// usable: the next read resumes where the last one stopped. On a
// connection read by ServeEvents, passing the deadline ends the
// connection instead (see Events).
func (c *Conn) SetReadDeadline(t time.Time) error {
	parked, err := c.setDeadline(reading, t)
	if parked {
		// No goroutine is reading to see the new deadline: the parked
		// connection's timer must.
		readDeadlineMoved(c)
	}
	return err
}

// SetWriteDeadline sets the deadline for writes when the stream is a
// net.Conn. A write that passes it before any byte of its message went
// out fails with an error wrapping os.ErrDeadlineExceeded and leaves the
// connection usable; one that passes it after part of its message went
// out (mid-frame, or between two frames of the message) breaks the
// connection, as a context's end does (see Conn).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	_, err := c.setDeadline(writing, t)
	return err
}

// setDeadline records t as the user's deadline for direction d and sets
// it on the stream unless a forced one holds it. It reports whether
// ServeEvents has parked the connection.
func (c *Conn) setDeadline(d dir, t time.Time) (parked bool, err error) {
	if c.nc == nil {
		return false, errors.ErrUnsupported
	}
	c.dl.mu.Lock()
	defer c.dl.mu.Unlock()
	c.dl.user[d] = t
	if !c.dl.forced[d] {
		err = c.streamDeadline(d, t)
	}
	return c.dl.parked, err
}

// sooner returns the user's deadline u when it is set and before t, and
// t otherwise.
func sooner(u, t time.Time) time.Time {
	if !u.IsZero() && u.Before(t) {
		return u
	}
	return t
}

// userDeadline returns the deadline the user set for direction d.
func (c *Conn) userDeadline(d dir) time.Time {
	c.dl.mu.Lock()
	defer c.dl.mu.Unlock()
	return c.dl.user[d]
}

// streamDeadline sets direction d's deadline on the stream. The caller
// holds dl.mu.
func (c *Conn) streamDeadline(d dir, t time.Time) error {
	if d == reading {
		return c.nc.SetReadDeadline(t)
	}
	return c.nc.SetWriteDeadline(t)
}

// aLongTimeAgo is a deadline in the past, which makes blocked I/O return.
var aLongTimeAgo = time.Unix(1, 0)

// force holds direction d's stream deadline at t, or at the user's
// deadline when that is sooner, until restore.
func (c *Conn) force(d dir, t time.Time) {
	c.dl.mu.Lock()
	c.forceLocked(d, t)
	c.dl.mu.Unlock()
}

func (c *Conn) forceLocked(d dir, t time.Time) {
	c.dl.forced[d] = true
	_ = c.streamDeadline(d, sooner(c.dl.user[d], t))
}

// restore ends a forced deadline of direction d: the stream carries the
// user's deadline again.
func (c *Conn) restore(d dir) {
	c.dl.mu.Lock()
	c.restoreLocked(d)
	c.dl.mu.Unlock()
}

func (c *Conn) restoreLocked(d dir) {
	c.dl.forced[d] = false
	_ = c.streamDeadline(d, c.dl.user[d])
}

// watch makes ctx's end interrupt blocked I/O in direction d: on a
// net.Conn it forces the direction's deadline into the past, which the
// returned stop function undoes; elsewhere it can only tear the stream
// down. The caller holds the direction's lock and calls stop after the
// I/O.
func (c *Conn) watch(ctx context.Context, d dir) (stop func()) {
	if ctx.Done() == nil {
		return nop
	}
	if c.nc == nil {
		s := context.AfterFunc(ctx, func() { c.abort(ctx.Err()) })
		return func() { s() }
	}
	w := &c.watchers[d]
	if w.cancel == nil {
		w.cancel = func() {
			defer w.wg.Done()
			c.force(d, aLongTimeAgo)
		}
	}
	w.wg.Add(1)
	s := context.AfterFunc(ctx, w.cancel)
	return func() {
		if s() {
			w.wg.Done() // the callback will not run
			return
		}
		w.wg.Wait()
		c.restore(d)
	}
}

func nop() {}
