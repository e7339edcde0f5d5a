//go:build !js

package wsio

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/sock"
)

// Events are callbacks for ServeEvents and NewEventServer, the event-style
// way to read a connection (nodejs-websocket's "connect", "text", "binary" and "close"
// events). Pings and pongs are observed through Options.OnPing and
// Options.OnPong. The callbacks of one connection are called one at a
// time, in order; those of different connections may run in parallel.
//
// A read deadline (Conn.SetReadDeadline) that passes while the event loop
// waits for a message ends the connection: the loop stops reading, runs
// the closing handshake with code 1001 (going away) and the reason "read
// deadline exceeded", and calls Close with a *CloseError of code 1001,
// Remote false, whose Err is the read's error (so it matches
// os.ErrDeadlineExceeded). Any other read error that leaves the
// connection open ends it the same way, with the reason "read failed".
// Setting the deadline in Open and moving it on in Text and Binary makes
// an idle timeout. The deadline may also be set from another goroutine.
type Events struct {
	// Open, if set, is called first, before any message. It is the last
	// moment the handshake request is available: once Open returns,
	// Conn.Request returns nil.
	Open func(c *Conn)
	// Text is called with each text message.
	Text func(c *Conn, text string)
	// Binary is called with each binary message as a stream (a Message).
	// The reader is valid until Binary returns; what it leaves unread is
	// discarded, and reads of it after that fail with ErrStaleMessage.
	Binary func(c *Conn, r io.Reader)
	// Close is called once when the connection ends, with how it ended.
	Close func(c *Conn, err *CloseError)
}

// dispatch reads one message and calls its callback. With ec it first
// waits for the message as nextEvent does, and reports park instead when
// the connection has been quiet long enough to be parked. When the
// connection has ended it returns how, without calling Close.
func (e *Events) dispatch(c *Conn, ec *evConn) (park bool, ce *CloseError) {
	var m Message
	park, err := c.nextEvent(ec, &m)
	if park {
		return true, nil
	}
	if err != nil {
		var closed *CloseError
		if errors.As(err, &closed) {
			return false, closed
		}
		// Anything else (a passed read deadline) left the connection open
		// but would fail again at once if retried: end the connection.
		return false, c.closeForRead(err)
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
	return false, nil
}

// closeForRead ends c after a read failed with err, which is not a close
// and left c open: it runs the closing handshake with 1001, recording err
// as the cause. It returns how c ended (another goroutine's close, if one
// came first).
func (c *Conn) closeForRead(err error) *CloseError {
	reason := "read failed"
	if errors.Is(err, os.ErrDeadlineExceeded) {
		reason = "read deadline exceeded"
	}
	mine := &CloseError{Code: StatusGoingAway, Reason: reason, Err: err}
	_ = c.closeHandshake(StatusGoingAway, reason, mine)
	return c.closeError() // set: closeHandshake leaves c closed
}

// ServeEvents reads c for you and calls e's callbacks, starting with
// e.Open, and returns at once; the callbacks run on goroutines of the
// connection's own, until it ends. A connection over TCP on Linux that has
// been quiet for 50 to 100 ms between messages is parked: it waits in the
// kernel (epoll) with no goroutine, stack or buffer of its own, and a
// goroutine is started when bytes arrive or its read deadline passes. A
// busy connection keeps its goroutine, so parking costs nothing while
// messages flow. Elsewhere (TLS, other platforms) the connection keeps one
// goroutine. The callbacks must not call Next. A read deadline ends the
// connection when it passes, as Events describes, whether the connection is
// parked or not: it is how to give served connections an idle timeout.
func ServeEvents(c *Conn, e Events) {
	ec := &evConn{c: c, e: e, serving: true}
	c.OnClose(ec.closed)
	go ec.run(true)
}

// evConn is a connection served by ServeEvents.
type evConn struct {
	c *Conn
	e Events

	mu         sync.Mutex
	serving    bool // a goroutine is reading c (or about to)
	ended      bool // c's transport is closed
	dispatched bool // the Close callback was called (or is being)
	timing     bool // waitTimer is running; owned by the reading goroutine

	timer *sock.Timer // fires at c's read deadline while parked; made on first use; guarded by mu

	// The wait between messages (awaitDataLocked) ends when checkWait,
	// run by waitTimer every parkAfter while the connection is served,
	// finds it has gone on since its last look. wait is the reading
	// goroutine's side, a waitIn and waitCut bit below the connection's
	// msgSeq as of the wait's start; quiet is that msgSeq as checkWait
	// last saw it. waitTimer is made when a wait finds none running
	// (timing false) and runs until it ends a wait; then the reading
	// goroutine drops it, so a parked connection holds none. The reading
	// goroutine owns waitTimer, and quiet while no timer runs.
	wait      atomic.Uint64
	quiet     uint64
	waitTimer *sock.Timer
}

// The bits of evConn.wait below the message count.
const (
	waitIn    = 1 << 0 // the reading goroutine waits
	waitCut   = 1 << 1 // checkWait ended the wait: it forced the read deadline into the past
	waitShift = 2
)

// run serves c until it is parked or ends. first marks the goroutine
// ServeEvents started, which calls Open first; a goroutine the poller
// started (or the deadline timer) reads what is waiting first.
func (ec *evConn) run(first bool) {
	c := ec.c
	if first {
		if ec.e.Open != nil {
			ec.e.Open(c)
		}
		c.releaseRequest()
	}
	if !first {
		c.setEvParked(false) // this goroutine sees deadlines from here on
	}
	for {
		// Between messages the connection waits a little with this
		// goroutine, then parks. A goroutine the poller started finds
		// bytes waiting: the wait reads them and handles control frames
		// (a keepalive's pong, the peer's ping), so only a data message
		// keeps the goroutine. When the connection cannot be parked, the
		// next read meets why (a passed read deadline, the end).
		park, ce := ec.e.dispatch(c, ec)
		if park {
			if ec.park() {
				return
			}
			_, ce = ec.e.dispatch(c, nil)
		}
		if ce != nil {
			ec.finish(ce)
			return
		}
	}
}

// finish calls the Close callback unless it already ran, and stops the
// deadline timer.
func (ec *evConn) finish(ce *CloseError) {
	ec.mu.Lock()
	first := !ec.dispatched
	ec.dispatched = true
	if ec.timer != nil {
		ec.timer.Stop()
	}
	if ec.waitTimer != nil {
		ec.waitTimer.Stop()
	}
	ec.mu.Unlock()
	if first {
		ec.c.sock.Disarm()
		if ec.e.Close != nil {
			ec.e.Close(ec.c, ce)
		}
	}
}

// park hands c to the poller, reporting false when it cannot be parked
// (then the caller keeps reading on its goroutine). A connection whose
// read deadline has passed is not parked: the caller's next read fails
// on it and ends the connection.
func (ec *evConn) park() bool {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.ended {
		return false // let the reader see the end and report it
	}
	c := ec.c
	c.dl.mu.Lock()
	dl := c.dl.user[reading]
	passed := !dl.IsZero() && !time.Now().Before(dl)
	// From here on SetReadDeadline re-arms the timer, so a deadline set
	// after armLocked reads it below is not missed.
	c.dl.parked = !passed
	c.dl.mu.Unlock()
	if passed {
		return false
	}
	if !c.sock.Arm(ec) {
		c.setEvParked(false)
		return false
	}
	ec.serving = false
	ec.armLocked()
	return true
}

// setEvParked records whether a parked c needs SetReadDeadline to re-arm
// its timer.
func (c *Conn) setEvParked(v bool) {
	c.dl.mu.Lock()
	c.dl.parked = v
	c.dl.mu.Unlock()
}

// armLocked sets the timer of a parked connection to fire at its read
// deadline, or stops it when there is none. The caller holds ec.mu.
func (ec *evConn) armLocked() {
	c := ec.c
	dl := c.userDeadline(reading)
	switch {
	case dl.IsZero():
		if ec.timer != nil {
			ec.timer.Stop()
		}
	case ec.timer == nil:
		ec.timer = sock.AfterFunc(time.Until(dl), ec.deadlinePassed)
	default:
		ec.timer.Reset(time.Until(dl))
	}
}

// readDeadlineMoved is called by SetReadDeadline on a connection ServeEvents
// has parked, to re-arm its timer.
func readDeadlineMoved(c *Conn) {
	if ec, _ := c.sock.Armed().(*evConn); ec != nil {
		ec.mu.Lock()
		// A serving goroutine reads the deadline itself, and arms the
		// timer again when it parks.
		if !ec.serving && !ec.dispatched {
			ec.armLocked()
		}
		ec.mu.Unlock()
	}
}

// deadlinePassed runs when a parked connection's timer fires: if the read
// deadline has passed it serves the connection on the timer's goroutine,
// whose read fails on the deadline and ends the connection.
func (ec *evConn) deadlinePassed() {
	ec.mu.Lock()
	if ec.serving || ec.dispatched {
		ec.mu.Unlock()
		return
	}
	c := ec.c
	dl := c.userDeadline(reading)
	if dl.IsZero() {
		ec.mu.Unlock()
		return
	}
	if wait := time.Until(dl); wait > 0 {
		ec.timer.Reset(wait) // moved later while the timer was firing
		ec.mu.Unlock()
		return
	}
	ec.serving = true
	ec.mu.Unlock()
	ec.run(false)
}

// Wake is called by the poller (sock.Socket.Arm) when a parked
// connection has bytes to read, or has ended.
func (ec *evConn) Wake() {
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

// parkAfter is how long a served connection is quiet, at least, before it
// is parked: between messages it waits with its goroutine until no data
// message has come for one to two of these (see checkWait).
const parkAfter = 50 * time.Millisecond

// nextEvent reads the next data message into m, as Next does, for a
// connection ServeEvents serves. With ec it first ends the message the
// callbacks were given (settleLocked) and, when that leaves the
// connection idle, waits for the next data frame (awaitDataLocked), all
// under the one hold of the read lock the read takes; it reports park,
// reading nothing, when nothing but whole control frames came for
// parkAfter to twice that.
func (c *Conn) nextEvent(ec *evConn, m *Message) (park bool, err error) {
	if err := c.lockRead(context.Background()); err != nil {
		return false, err
	}
	defer c.unlockRead()
	if ec != nil && c.settleLocked() && !c.awaitDataLocked(ec) {
		return true, nil
	}
	c.msgSeq++ // from here on, the Message the callbacks were given is stale
	if err = c.awaitBytes(); err == nil {
		err = c.next(m)
	}
	return false, err
}

// awaitDataLocked waits for a data frame at a message boundary, reading
// what arrives into the buffer, until ec's checkWait ends the wait (the
// connection has been quiet for parkAfter to twice that) or c's read
// deadline passes. Control frames that arrive whole meanwhile are handled
// as a read would handle them, and the wait goes on. It reports whether
// the caller should go on reading (a data frame or part of a frame came,
// the stream ended or failed) rather than park. The caller holds the read
// lock.
//
// The wait sets no deadline of its own: the stream carries the user's,
// and ec's timer, a sock.Timer, keeps out of the runtime's timer heap, so
// a busy connection's goroutine waits for each message as a handler's
// does. Per message the wait costs two atomic operations.
func (c *Conn) awaitDataLocked(ec *evConn) bool {
	if c.nc == nil || c.sock == nil || c.State() == Closed || c.rd.buffered() > 0 {
		return true
	}
	if !ec.timing {
		ec.timing = true
		ec.quiet = c.msgSeq
		ec.waitTimer = sock.AfterFunc(parkAfter, ec.checkWait)
	}
	start := c.msgSeq<<waitShift | waitIn
	ec.wait.Store(start)
	var err error
	for {
		if err = c.rd.fill(); err != nil || !c.takeControl() {
			break
		}
		c.rd.idle()
	}
	if !ec.wait.CompareAndSwap(start, start&^waitIn) {
		// checkWait ended the wait: it forced the read deadline into the
		// past under dl.mu, which taking it here waits for.
		ec.wait.Store(0)
		ec.timing, ec.waitTimer = false, nil
		c.restore(reading)
	}
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// checkWait is ec's wait timer: it ends a wait that has gone on since its
// last look (no message began one since), forcing the read deadline into
// the past, and otherwise looks again in parkAfter. After ending a wait
// it stops: the reading goroutine parks, and its next wait starts the
// timer again.
func (ec *evConn) checkWait() {
	c := ec.c
	w := ec.wait.Load()
	if w&waitIn != 0 && w>>waitShift == ec.quiet {
		c.dl.mu.Lock()
		cut := ec.wait.CompareAndSwap(w, w|waitCut)
		if cut {
			c.forceLocked(reading, aLongTimeAgo)
		}
		c.dl.mu.Unlock()
		if cut {
			return
		}
		w = ec.wait.Load() // the wait ended meanwhile
	}
	if w != 0 {
		ec.quiet = w >> waitShift
	}
	ec.mu.Lock()
	if !ec.dispatched {
		ec.waitTimer.Reset(parkAfter)
	}
	ec.mu.Unlock()
}

// takeControl handles the control frames at the front of the read buffer
// that have arrived whole, as a read does, and reports whether that
// emptied the buffer with c still open. The caller holds the read lock,
// at a message boundary.
func (c *Conn) takeControl() bool {
	for c.rd.buffered() > 0 {
		if wholeControlFrame(c.rd.peek()) == 0 {
			return false
		}
		if _, err := c.readHeader(); err != nil {
			return false
		}
	}
	return c.State() == Open
}

// settleLocked finishes the current message, discarding what the
// application left unread, and reports whether the connection is between
// messages with nothing buffered, so it can wait without a goroutine. The
// read buffer goes back to its pool then. A failure to finish the message
// reports false: the read that follows meets it. The caller holds the
// read lock.
func (c *Conn) settleLocked() bool {
	if c.State() == Closed {
		return false
	}
	if c.msgOp == conn.OpBinary {
		c.msgSeq++ // the Binary callback's reader is stale from here on
		if _, err := c.finishMessage(false); err != nil {
			return false
		}
	}
	if c.msgOp != 0 || c.rd.buffered() > 0 {
		return false
	}
	c.rd.idle()
	return true
}
