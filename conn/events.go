package conn

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// Events are callbacks for Run and Serve, the event-style way to read a
// connection (nodejs-websocket's "connect", "text", "binary" and "close"
// events). Pings and pongs are observed through Options.OnPing and
// Options.OnPong. The callbacks of one connection are called one at a
// time, in order; those of different connections may run in parallel.
type Events struct {
	// Open, if set, is called first, before any message.
	Open func(c *Conn)
	// Text is called with each text message.
	Text func(c *Conn, text string)
	// Binary is called with each binary message as a stream (a Message).
	// The reader is valid until Binary returns; what it leaves unread is
	// discarded, and reads of it after that fail with ErrStaleMessage.
	// Under Run, Run's ctx governs its reads as Next's ctx does (see
	// Message): they return when ctx ends.
	Binary func(c *Conn, r io.Reader)
	// Close is called once when the connection ends, with how it ended.
	Close func(c *Conn, err *CloseError)
}

// Run reads c until it is closed or ctx ends, calling the callbacks of e
// for each message on the calling goroutine. It returns nil after a close
// (Close has then been called), or ctx's error.
func Run(ctx context.Context, c *Conn, e Events) error {
	if e.Open != nil {
		e.Open(c)
	}
	for {
		ce, err := e.dispatch(ctx, c)
		if ce != nil {
			if e.Close != nil {
				e.Close(c, ce)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// dispatch reads one message and calls its callback. It returns how the
// connection ended, if it did (without calling Close), or ctx's error.
func (e *Events) dispatch(ctx context.Context, c *Conn) (*CloseError, error) {
	m, err := c.Next(ctx)
	if err != nil {
		var ce *CloseError
		if errors.As(err, &ce) {
			return ce, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		// Next fails with a *CloseError once the connection is unusable;
		// anything else (a read deadline the user set) is retried.
		return nil, nil
	}
	switch m.Kind {
	case Text:
		if e.Text != nil {
			e.Text(c, m.Text)
		}
	case Binary:
		if e.Binary != nil {
			e.Binary(c, m)
		}
	}
	return nil, nil
}

// Serve reads c for you and calls e's callbacks, like Run, but returns at
// once. A connection over TCP on Linux that has been quiet for 100 ms
// between messages is parked: it waits in the kernel (epoll) with no
// goroutine, stack or buffer of its own, and a goroutine is started when
// bytes arrive. A busy connection keeps its goroutine, so parking costs
// nothing while messages flow. Elsewhere (TLS, other platforms) Serve runs
// Run on a goroutine of its own. The callbacks must not call Next, and
// read deadlines have no use on such a connection.
func Serve(c *Conn, e Events) {
	ec := &evConn{c: c, e: e, serving: true, fd: -1}
	c.OnClose(ec.closed)
	go ec.run(true)
}

// evConn is a connection served by Serve.
type evConn struct {
	c *Conn
	e Events

	mu         sync.Mutex
	serving    bool // a goroutine is reading c (or about to)
	ended      bool // c's transport is closed
	dispatched bool // the Close callback was called (or is being)
	fd         int  // c's descriptor in the poller, or -1 before parking; guarded by the poller's mutex, not mu
}

// run serves c until it is parked or ends. first marks the goroutine
// Serve started, which calls Open and then parks at once; a goroutine the
// poller started reads first, since bytes are waiting in the socket.
func (ec *evConn) run(first bool) {
	c := ec.c
	if first && ec.e.Open != nil {
		ec.e.Open(c)
	}
	ctx := context.Background()
	for {
		if first {
			if idle, err := c.settle(); err == nil && idle && !c.awaitData(parkAfter) && ec.park() {
				return
			}
		}
		first = true
		if ce, _ := ec.e.dispatch(ctx, c); ce != nil {
			ec.finish(ce)
			return
		}
	}
}

// finish calls the Close callback unless it already ran.
func (ec *evConn) finish(ce *CloseError) {
	ec.mu.Lock()
	first := !ec.dispatched
	ec.dispatched = true
	ec.mu.Unlock()
	if first {
		unparkConn(ec)
		if ec.e.Close != nil {
			ec.e.Close(ec.c, ce)
		}
	}
}

// park hands c to the poller, reporting false when it cannot be parked
// (then the caller keeps reading on its goroutine).
func (ec *evConn) park() bool {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.ended {
		return false // let the reader see the end and report it
	}
	if !parkConn(ec) {
		return false
	}
	ec.serving = false
	return true
}

// wake is called by the poller when a parked connection has bytes to
// read, or has ended.
func (ec *evConn) wake() {
	ec.mu.Lock()
	if ec.serving || ec.dispatched {
		ec.mu.Unlock()
		return
	}
	ec.serving = true
	ec.mu.Unlock()
	go ec.run(false)
}

// closed runs when c's transport closes: a parked connection is woken so
// that its Close callback runs.
func (ec *evConn) closed() {
	ec.mu.Lock()
	ec.ended = true
	parked := !ec.serving && !ec.dispatched
	if parked {
		ec.serving = true
	}
	ec.mu.Unlock()
	if parked {
		go ec.run(false)
	}
}

// parkAfter is how long a served connection waits between messages with
// its goroutine before it is parked.
const parkAfter = 100 * time.Millisecond

// awaitData waits up to d for bytes at a message boundary, reading what
// arrives into the buffer. It reports whether the caller should go on
// reading (bytes came, the stream ended or failed) rather than park.
func (c *Conn) awaitData(d time.Duration) bool {
	if c.nc == nil || c.rd.raw == nil {
		return true
	}
	if err := c.lockRead(context.Background()); err != nil {
		return true
	}
	defer c.unlockRead()
	if c.State() == Closed || c.rd.buffered() > 0 {
		return true
	}
	c.dlMu.Lock()
	c.rcancel = true // a SetReadDeadline meanwhile is only recorded
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	c.dlMu.Unlock()
	err := c.rd.fill()
	c.dlMu.Lock()
	c.rcancel = false
	_ = c.nc.SetReadDeadline(c.readDeadline)
	c.dlMu.Unlock()
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// settle finishes the current message, discarding what the application
// left unread, and reports whether the connection is between messages with
// nothing buffered, so it can wait without a goroutine. The read buffer
// goes back to its pool then.
func (c *Conn) settle() (idle bool, err error) {
	if err := c.lockRead(context.Background()); err != nil {
		return false, err
	}
	defer c.unlockRead()
	if c.State() == Closed {
		return false, nil
	}
	if c.msgOp == OpBinary {
		c.msgSeq++ // the Binary callback's reader is stale from here on
		if !c.binDone {
			if err := c.discardBinary(); err != nil {
				return false, err
			}
		}
		c.msgOp = 0
	}
	if c.msgOp != 0 || c.rd.buffered() > 0 {
		return false, nil
	}
	c.rd.idle()
	return true, nil
}
