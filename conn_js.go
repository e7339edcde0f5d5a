//go:build js

package wsio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"
	"unicode/utf8"
)

// This file and the other *_js.go files are the package on js/wasm: the
// client side only, over the browser's WebSocket object. The browser does
// the framing, masking, compression, pings and the closing handshake's
// bytes; the connection here queues the messages it delivers, hands them
// out through Next, and sends whole messages with its send method.

// Conn is one WebSocket connection. On js/wasm it is a browser WebSocket
// opened by Dial; there is no server side.
//
// Receiving: call Next from one goroutine at a time; it returns each text
// message as a string and each binary message as a Message to read. The
// browser delivers every message whole, and as soon as it arrives, whether
// or not Next is being called: it has no way to hold messages back, so
// the connection queues them (binary payloads stay in JavaScript memory
// until they are read, text is converted to a Go string on arrival). A
// text message over Options.BufferCap, or a binary one over
// Options.MaxBinaryMessage, ends the connection on arrival; so does a
// message that would make the bytes waiting behind the one Next returns
// next more than Options.BufferCap (a page reading more slowly than its
// messages arrive, which a browser cannot be asked to wait for). The
// messages queued before it are still returned by Next, then the
// *CloseError with code 1009 (see Close for what the browser sends the
// peer).
//
// Sending: SendText, SendBinary and BeginBinary may be called from any
// number of goroutines; messages never interleave. The browser takes a
// message whole and sends it in the background; a send waits first while
// more than 4 MiB handed to the browser is still unsent (its
// bufferedAmount), so a sender cannot run ahead of the network without
// bound. Nothing is ever half sent, so a context ending in a send never
// breaks the connection: the send returns an error matching ctx.Err()
// and the message did not go out.
//
// Contexts: a call whose ctx is already done returns ctx.Err() itself and
// does nothing. A ctx that ends while a call waits (for a message, for its
// turn to send, for the browser to drain) makes it return an error
// matching ctx.Err(), and the connection stays usable.
//
// Pings: the browser answers the peer's pings by itself and cannot send
// pings of its own, so Ping fails, and Options.KeepaliveInterval,
// OnPing and OnPong cannot be set.
type Conn struct {
	ws       js.Value // the browser's WebSocket
	opts     Options
	protocol string
	funcs    [4]js.Func // its onopen, onmessage, onclose and onerror handlers
	opened   chan struct{}

	rlock chan struct{} // Next's turn: holds its one token while no Next runs
	mlock chan struct{} // the data-message slot: holds its one token while no send runs
	// streamOpen: a BinaryWriter holds the data-message slot.
	streamOpen atomic.Bool

	// mu guards the queue and the closing state.
	mu        sync.Mutex
	queue     []jsMessage   // arrived, not yet returned by Next
	queued    int64         // the bytes of the messages in queue
	notify    chan struct{} // one token: the queue or the state changed
	closeErr  *CloseError   // how the connection ended; set once, except that a peer's own close replaces an answered local one
	closeSent bool          // this side started the close (Close, CloseNow, a limit)
	timer     *time.Timer   // ends a close the browser does not finish in time
	done      chan struct{} // closed when the browser reported the close, or the wait for it gave up
	state     atomic.Int32

	// curMu guards the current binary message: the one the last Next
	// returned, while msgSeq is the seq it carries.
	curMu  sync.Mutex
	msgSeq uint64
	cur    js.Value // its payload, a Uint8Array
	curOff int
	curLen int

	rdl, wdl jsDeadline
	value    atomic.Pointer[any] // SetValue's value; nil until the first call
}

// jsMessage is a message the browser delivered, waiting for Next.
type jsMessage struct {
	kind Kind
	text string
	data js.Value // a binary message's payload, a Uint8Array
	n    int      // its length
}

// size is m's length in bytes, as the limits count it.
func (m *jsMessage) size() int64 {
	if m.kind == Text {
		return int64(len(m.text))
	}
	return int64(m.n)
}

var (
	jsUint8Array = js.Global().Get("Uint8Array")
	jsWebSocket  = js.Global().Get("WebSocket")
)

// errCloseTimeout is the cause of a close the browser did not finish
// within Options.CloseTimeout.
var errCloseTimeout = errors.New(prefix + "the peer did not answer the close in time")

// State returns the connection's ready state.
func (c *Conn) State() State { return State(c.state.Load()) }

// Subprotocol returns the subprotocol the server chose, or "".
func (c *Conn) Subprotocol() string { return c.protocol }

// RemoteAddr returns nil: a browser does not tell a page the address of
// the socket under a WebSocket.
func (c *Conn) RemoteAddr() net.Addr { return nil }

// LocalAddr returns nil: a browser does not tell a page the address of
// the socket under a WebSocket.
func (c *Conn) LocalAddr() net.Addr { return nil }

// Value returns the value last given to SetValue, or nil.
func (c *Conn) Value() any {
	if p := c.value.Load(); p != nil {
		return *p
	}
	return nil
}

// SetValue attaches user data to the connection, replacing what an earlier
// call attached; v may be of any type, or nil. It is safe to call from any
// goroutine.
func (c *Conn) SetValue(v any) { c.value.Store(&v) }

// Done returns a channel that is closed when the connection is closed: by
// the time State reports Closed (or Next has failed with the
// *CloseError), Done is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns how the connection ended (a *CloseError), or nil while it is
// open. As on other platforms, a close the peer sent for a reason of its
// own replaces this side's Close while the closing handshake is under way;
// from the time Done is closed, Err no longer changes.
func (c *Conn) Err() error {
	if ce := c.closeError(); ce != nil {
		return ce
	}
	return nil
}

func (c *Conn) closeError() *CloseError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// wake tells a waiting Next that the queue or the state changed.
func (c *Conn) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func newJSConn(o *Options) *Conn {
	c := &Conn{
		opts:   o.resolved(),
		opened: make(chan struct{}),
		rlock:  make(chan struct{}, 1),
		mlock:  make(chan struct{}, 1),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	c.rlock <- struct{}{}
	c.mlock <- struct{}{}
	return c
}

// attach installs the handlers on ws. They run on the browser's event
// loop and never block: they queue, record and wake.
func (c *Conn) attach(ws js.Value) {
	c.ws = ws
	c.funcs[0] = js.FuncOf(func(js.Value, []js.Value) any {
		c.mu.Lock()
		if c.State() == Connecting {
			c.state.Store(int32(Open))
		}
		c.mu.Unlock()
		close(c.opened)
		return nil
	})
	c.funcs[1] = js.FuncOf(func(_ js.Value, args []js.Value) any {
		c.arrived(args[0].Get("data"))
		return nil
	})
	c.funcs[2] = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := args[0]
		if ev.Get("wasClean").Bool() {
			c.finish(&CloseError{Code: StatusCode(ev.Get("code").Int()), Reason: ev.Get("reason").String(), Remote: true})
		} else {
			c.finish(&CloseError{Code: StatusAbnormalClosure, Err: io.ErrUnexpectedEOF})
		}
		return nil
	})
	// An error event is always followed by the close event, which says
	// everything the page may know.
	c.funcs[3] = js.FuncOf(func(js.Value, []js.Value) any { return nil })
	ws.Set("binaryType", "arraybuffer")
	ws.Set("onopen", c.funcs[0])
	ws.Set("onmessage", c.funcs[1])
	ws.Set("onclose", c.funcs[2])
	ws.Set("onerror", c.funcs[3])
}

// arrived queues a message the browser delivered, or ends the connection
// when it is over its limit.
func (c *Conn) arrived(data js.Value) {
	var m jsMessage
	if data.Type() == js.TypeString {
		// The browser holds the whole text already; converted, it is
		// measured in UTF-8 bytes, as the cap is, and dropped when over.
		limit := c.opts.BufferCap
		m = jsMessage{kind: Text, text: data.String()}
		if limit >= 0 && int64(len(m.text)) > limit {
			c.tooBig(fmt.Sprintf("a text message of %d bytes is over BufferCap (%d)", len(m.text), limit))
			return
		}
	} else {
		n := data.Get("byteLength").Int()
		if limit := c.opts.MaxBinaryMessage; limit > 0 && int64(n) > limit {
			c.tooBig(fmt.Sprintf("a binary message of %d bytes is over MaxBinaryMessage (%d)", n, limit))
			return
		}
		m = jsMessage{kind: Binary, data: jsUint8Array.New(data), n: n}
	}
	c.mu.Lock()
	if c.closeErr != nil {
		// Closing: what arrives after this side's close is discarded,
		// as a native Close discards it.
		c.mu.Unlock()
		return
	}
	if limit := c.opts.BufferCap; limit >= 0 && len(c.queue) > 0 {
		if waiting := c.queued - c.queue[0].size() + m.size(); waiting > limit {
			c.mu.Unlock()
			c.tooBig(fmt.Sprintf("%d bytes of messages would wait behind the next one, over BufferCap (%d)", waiting, limit))
			return
		}
	}
	c.queue = append(c.queue, m)
	c.queued += m.size()
	c.mu.Unlock()
	c.wake()
}

// tooBig ends the connection for a message over a limit, which why says:
// the *CloseError has code 1009 and matches ErrMessageTooBig. The browser
// can send no 1009, so its close frame carries no code.
func (c *Conn) tooBig(why string) {
	cause := &fault{msg: prefix + why, kind: ErrMessageTooBig}
	c.startClose(&CloseError{Code: StatusMessageTooBig, Reason: "message too big", Err: cause}, StatusNoStatus, "", false)
}

// startClose begins this side's close: local becomes how the connection
// ended (unless something was recorded first), the browser is asked to
// close with code (StatusNoStatus: a close frame without one) and reason,
// and a timer ends the wait for its close event after CloseTimeout.
// discard drops the messages queued and not yet returned, as a native
// Close discards them. It reports whether this call started the close.
func (c *Conn) startClose(local *CloseError, code StatusCode, reason string, discard bool) bool {
	c.mu.Lock()
	if c.closeSent || c.State() == Closed {
		c.mu.Unlock()
		return false
	}
	c.closeSent = true
	if c.closeErr == nil {
		c.closeErr = local
	}
	if discard {
		c.queue, c.queued = nil, 0
	}
	c.state.Store(int32(Closing))
	c.timer = time.AfterFunc(c.opts.CloseTimeout, func() {
		c.finish(&CloseError{Code: StatusAbnormalClosure, Err: errCloseTimeout})
	})
	c.mu.Unlock()
	c.wake()
	_ = jsTry(func() {
		if code == StatusNoStatus {
			c.ws.Call("close")
		} else {
			c.ws.Call("close", int(code), reason)
		}
	})
	return true
}

// answers reports whether a peer's close code merely answers a close this
// side sent with code ours: the same code, 1000, or none.
func answers(peer, ours StatusCode) bool {
	return peer == ours || peer == StatusNormalClosure || peer == StatusNoStatus
}

// finish ends the connection once the browser reported its close (end is
// what it reported) or the wait for that gave up (end is 1006). The peer's
// close replaces this side's when it is not merely an answer, as on other
// platforms.
func (c *Conn) finish(end *CloseError) {
	c.mu.Lock()
	if c.State() == Closed {
		c.mu.Unlock()
		return
	}
	switch ce := c.closeErr; {
	case ce == nil:
		c.closeErr = end
	case end.Remote && !ce.Remote && ce.Err == nil && !answers(end.Code, ce.Code):
		c.closeErr = end
	case c.closeSent && end.Err == errCloseTimeout:
		// Close waits for this and reports it; Err keeps the local close.
		c.closeErr = &CloseError{Code: ce.Code, Reason: ce.Reason, Remote: ce.Remote, Err: combine(ce.Err, errCloseTimeout)}
	}
	close(c.done)
	c.state.Store(int32(Closed))
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.wake()
	for _, ev := range [...]string{"onopen", "onmessage", "onclose", "onerror"} {
		c.ws.Set(ev, js.Null())
	}
	for _, f := range c.funcs {
		f.Release()
	}
}

// combine joins a close's cause (possibly nil) with err.
func combine(cause, err error) error {
	if cause == nil {
		return err
	}
	return errors.Join(cause, err)
}

// CloseNow ends the connection at once, without waiting for the closing
// handshake: reads and sends here fail from now on with a *CloseError of
// code 1006 wrapping ErrClosed. A browser cannot drop a WebSocket without
// a close frame, so the peer receives one without a code (1005). It
// returns nil, or the *CloseError of a connection that had already ended.
func (c *Conn) CloseNow() error {
	if c.State() == Closed {
		return c.closeError()
	}
	c.startClose(&CloseError{Code: StatusAbnormalClosure, Err: ErrClosed}, StatusNoStatus, "", true)
	c.finish(&CloseError{Code: StatusAbnormalClosure, Err: ErrClosed})
	return nil
}

// Close runs the closing handshake: the browser sends a close frame with
// code and reason and waits for the peer's; Close waits up to
// CloseTimeout for that to finish. A reason longer than 123 bytes is cut
// at a UTF-8 boundary. Messages queued and not yet returned by Next are
// discarded.
//
// A browser sends only code 1000 and the application codes 3000–4999
// (and StatusNoStatus, a close frame without a code, whose reason is not
// sent): Close with any other code returns an error matching
// errors.ErrUnsupported and does nothing else, as it does for a code that
// may never be sent.
//
// It returns nil when the peer answered: its close frame carried this
// side's code, 1000 or no code. A close frame with any other code is the
// peer's own close: Close returns it as a *CloseError with Remote set,
// and Err and later calls report the same. When the browser did not
// report the end in time, Close returns an error saying so. When the
// connection was already closed or closing, Close sends nothing more,
// waits for that to finish, and returns the *CloseError describing how it
// ended.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatus && code != StatusNormalClosure && (code < 3000 || code > 4999) {
		if !code.validWire() {
			return errors.New(prefix + "close code " + code.String() + " may not be sent")
		}
		return fmt.Errorf(prefix+"close code %s cannot be sent by a browser (only 1000 and 3000–4999): %w", code, errors.ErrUnsupported)
	}
	if !utf8.ValidString(reason) {
		return &fault{msg: prefix + "Close: the reason is not valid UTF-8", kind: ErrInvalidUTF8}
	}
	if code == StatusNoStatus {
		reason = ""
	}
	reason = truncUTF8(reason, 123)
	local := &CloseError{Code: code, Reason: reason}
	if c.startClose(local, code, reason, true) {
		<-c.done // the timer bounds it
		ce := c.closeError()
		if ce == local {
			return nil
		}
		if errors.Is(ce.Err, errCloseTimeout) && !ce.Remote {
			return fmt.Errorf(prefix+"Close: %w", errCloseTimeout)
		}
		return ce
	}
	t := time.NewTimer(c.opts.CloseTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		// Closing by the peer's frame: the browser finishes it, and
		// reports the end in time in all but a broken network.
		if ce := c.closeError(); ce != nil {
			return ce
		}
		return &fault{msg: prefix + "Close: the connection is already closing", kind: ErrClosed}
	}
	return c.closeError()
}

// jsTry runs f, returning the JavaScript exception it threw as an error.
func jsTry(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			je, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			err = je
		}
	}()
	f()
	return nil
}
