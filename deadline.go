//go:build !js

package wsio

import (
	"context"
	"errors"
	"time"
)

// SetReadDeadline sets the deadline for reads (Next and binary message
// reads) when the stream is a net.Conn. A read that passes it fails with
// an error wrapping os.ErrDeadlineExceeded and leaves the connection
// usable: the next read resumes where the last one stopped. On a
// connection read by ServeEvents, passing the deadline ends the
// connection instead (see Events).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.nc == nil {
		return errors.ErrUnsupported
	}
	c.dlMu.Lock()
	c.readDeadline = t
	var err error
	if !c.rcancel {
		err = c.nc.SetReadDeadline(t)
	}
	parked := c.evParked
	c.dlMu.Unlock()
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
	if c.nc == nil {
		return errors.ErrUnsupported
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.writeDeadline = t
	if c.wcancel {
		return nil
	}
	return c.nc.SetWriteDeadline(t)
}

// aLongTimeAgo is a deadline in the past, which makes blocked I/O return.
var aLongTimeAgo = time.Unix(1, 0)

func (c *Conn) cancelRead() {
	defer c.rwg.Done()
	c.dlMu.Lock()
	c.rcancel = true
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	c.dlMu.Unlock()
}

func (c *Conn) cancelWrite() {
	defer c.wwg.Done()
	c.dlMu.Lock()
	c.wcancel = true
	_ = c.nc.SetWriteDeadline(aLongTimeAgo)
	c.dlMu.Unlock()
}

// watchRead makes ctx's cancellation interrupt a blocked read. The
// returned stop function must be called after the read.
func (c *Conn) watchRead(ctx context.Context) (stop func()) {
	if ctx.Done() == nil {
		return nop
	}
	if c.nc == nil {
		// No deadlines: cancellation can only tear the stream down.
		s := context.AfterFunc(ctx, func() { c.abort(ctx.Err()) })
		return func() { s() }
	}
	if c.cancelReadFn == nil {
		c.cancelReadFn = c.cancelRead
	}
	c.rwg.Add(1)
	s := context.AfterFunc(ctx, c.cancelReadFn)
	return func() {
		if s() {
			c.rwg.Done()
			return
		}
		c.rwg.Wait()
		c.dlMu.Lock()
		c.rcancel = false
		_ = c.nc.SetReadDeadline(c.readDeadline)
		c.dlMu.Unlock()
	}
}

func (c *Conn) watchWrite(ctx context.Context) (stop func()) {
	if ctx.Done() == nil {
		return nop
	}
	if c.nc == nil {
		s := context.AfterFunc(ctx, func() { c.abort(ctx.Err()) })
		return func() { s() }
	}
	if c.cancelWriteFn == nil {
		c.cancelWriteFn = c.cancelWrite
	}
	c.wwg.Add(1)
	s := context.AfterFunc(ctx, c.cancelWriteFn)
	return func() {
		if s() {
			c.wwg.Done()
			return
		}
		c.wwg.Wait()
		c.dlMu.Lock()
		c.wcancel = false
		_ = c.nc.SetWriteDeadline(c.writeDeadline)
		c.dlMu.Unlock()
	}
}

func nop() {}
