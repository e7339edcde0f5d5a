//go:build js

package wsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall/js"
	"time"
	"unicode/utf8"
)

// sendHighWater is how many bytes handed to the browser may wait unsent
// (its bufferedAmount) before a send waits for them to drain.
const sendHighWater = 4 << 20

// drainPoll is how often a waiting send looks at bufferedAmount again:
// the browser has no event for it.
const drainPoll = 2 * time.Millisecond

var jsBlob = js.Global().Get("Blob")

// beginMessage takes the data-message slot. A done ctx fails the call
// first, with ctx.Err(); an open stream fails it with ErrStreamOpen.
func (c *Conn) beginMessage(ctx context.Context, stream bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.streamOpen.Load() {
		return ErrStreamOpen
	}
	if err := c.wait(ctx, &c.wdl, c.mlock, c.done, 0, "write"); err != nil {
		return err
	}
	if stream {
		c.streamOpen.Store(true)
	}
	return nil
}

// endMessage frees the data-message slot.
func (c *Conn) endMessage() {
	c.streamOpen.Store(false)
	c.mlock <- struct{}{}
}

// ready waits until the browser's send buffer is below sendHighWater; it
// fails when ctx ends, the write deadline passes or the connection has
// ended (or is closing), in which case nothing may be sent.
func (c *Conn) ready(ctx context.Context) error {
	for {
		if ce := c.closeError(); ce != nil {
			return ce
		}
		if c.ws.Get("bufferedAmount").Int() <= sendHighWater {
			return nil
		}
		if err := c.wait(ctx, &c.wdl, nil, c.done, drainPoll, "write"); err != nil {
			return err
		}
	}
}

// send hands data (a string, a Uint8Array or a Blob) to the browser.
func (c *Conn) send(data any) error {
	if err := jsTry(func() { c.ws.Call("send", data) }); err != nil {
		return fmt.Errorf(prefix+"send: %w", err)
	}
	return nil
}

// SendText sends s as one text message. It fails with ErrInvalidUTF8 if s
// is not valid UTF-8, and with ErrStreamOpen while a binary stream from
// BeginBinary is open. A concurrent send waits for the message before it;
// a send also waits while more than 4 MiB handed to the browser is unsent.
//
// If ctx is already done, SendText returns ctx.Err() and sends nothing.
// If ctx ends while the call waits, the error matches ctx.Err(), nothing
// was sent and the connection is unaffected. After the connection ended
// (or while it closes) it fails with the *CloseError.
func (c *Conn) SendText(ctx context.Context, s string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !utf8.ValidString(s) {
		return &fault{msg: prefix + "SendText: the text is not valid UTF-8", kind: ErrInvalidUTF8}
	}
	if err := c.beginMessage(ctx, false); err != nil {
		return err
	}
	defer c.endMessage()
	if err := c.ready(ctx); err != nil {
		return err
	}
	return c.send(s)
}

// SendBinary sends p as one binary message. It fails with ErrStreamOpen
// while a binary stream from BeginBinary is open. The waits, ctx and the
// errors are those of SendText. The browser takes the message whole, so p
// is copied to JavaScript memory and may be reused when SendBinary
// returns.
func (c *Conn) SendBinary(ctx context.Context, p []byte) error {
	if err := c.beginMessage(ctx, false); err != nil {
		return err
	}
	defer c.endMessage()
	if err := c.ready(ctx); err != nil {
		return err
	}
	u := jsUint8Array.New(len(p))
	js.CopyBytesToJS(u, p)
	return c.send(u)
}

// Ping fails on js/wasm with an error matching errors.ErrUnsupported
// (after returning ctx.Err() for a ctx already done): a browser's
// WebSocket cannot send pings. The browser answers the peer's pings by
// itself.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf(prefix+"Ping: a browser's WebSocket cannot send pings: %w", errors.ErrUnsupported)
}

// BeginBinary starts a binary message sent as a stream: write to it, then
// Close it. It fails with ErrStreamOpen while another is open, and the
// connection's other data sends fail with ErrStreamOpen until Close.
//
// A browser's WebSocket sends only whole messages, so on js/wasm the
// stream is buffered to its end: its bytes are copied to JavaScript
// memory in pieces of Options.FragmentSize as they are written, and
// Close hands the whole message to the browser (as a Blob), which sends
// it. The buffer is bounded by Options.BufferCap (2 MiB by default;
// negative means no bound): a stream that outgrows it fails with an error
// matching ErrMessageTooBig, and nothing of it is sent. Set BufferCap to
// the largest message the program streams.
//
// If ctx is already done, BeginBinary returns a nil stream and ctx.Err().
// Otherwise ctx governs every call of the stream: see BinaryWriter.
func (c *Conn) BeginBinary(ctx context.Context) (*BinaryWriter, error) {
	if err := c.beginMessage(ctx, true); err != nil {
		return nil, err
	}
	return &BinaryWriter{c: c, ctx: ctx, parts: js.Global().Get("Array").New()}, nil
}

// BinaryWriter is an open binary message, returned by BeginBinary: an
// io.WriteCloser (and io.ReaderFrom). On js/wasm it buffers the message
// and Close sends it whole (see BeginBinary).
//
// The ctx given to BeginBinary governs every call. Once it is done (or
// the connection has ended, or the message outgrew BufferCap), Write,
// ReadFrom and Close return the error, and the message is over without
// any of it having been sent, so the connection stays usable. Close must
// still be called after an error: it returns the error and frees the
// connection for the next message.
//
// A BinaryWriter is for one goroutine at a time.
type BinaryWriter struct {
	c      *Conn
	ctx    context.Context
	buf    []byte   // written bytes not yet copied to parts
	parts  js.Value // a JavaScript Array of Uint8Array pieces
	size   int64    // bytes written
	err    error    // the error that ended the message early
	closed bool
}

// check returns the error that stops the message before anything more is
// written: the one that ended it, or the ctx's or the connection's.
func (w *BinaryWriter) check() error {
	if w.err == nil && !w.closed {
		if err := w.ctx.Err(); err != nil {
			w.fail(err)
		} else if ce := w.c.closeError(); ce != nil {
			w.fail(ce)
		}
	}
	return w.err
}

// fail ends the message with err, dropping what was buffered.
func (w *BinaryWriter) fail(err error) {
	w.err = err
	w.buf = nil
	w.parts = js.Undefined()
}

// Write buffers p as the next bytes of the message (see BeginBinary).
func (w *BinaryWriter) Write(p []byte) (int, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	if limit := w.c.opts.BufferCap; limit >= 0 && int64(len(p)) > limit-w.size {
		w.fail(&fault{
			msg:  fmt.Sprintf(prefix+"BeginBinary: the message outgrew BufferCap (%d bytes), the most a browser's whole-message send buffers", limit),
			kind: ErrMessageTooBig,
		})
		return 0, w.err
	}
	chunk := w.c.opts.FragmentSize
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), chunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) >= chunk {
			w.flush()
		}
	}
	w.size += int64(n)
	return n, nil
}

// flush copies the buffered bytes to a JavaScript piece.
func (w *BinaryWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	u := jsUint8Array.New(len(w.buf))
	js.CopyBytesToJS(u, w.buf)
	w.parts.Call("push", u)
	w.buf = w.buf[:0]
}

// ReadFrom buffers everything r yields until io.EOF; it does not end the
// message.
func (w *BinaryWriter) ReadFrom(r io.Reader) (int64, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	return readFromInto(w, r, make([]byte, min(w.c.opts.FragmentSize, 256<<10)))
}

// Close hands the whole message to the browser, after waiting while more
// than 4 MiB handed to it before is unsent. If the stream's ctx is done,
// or ends during that wait, it sends nothing and returns an error
// matching ctx.Err(). Calling it again returns nil, or the error that
// ended the message.
func (w *BinaryWriter) Close() error {
	if w.closed {
		return w.err
	}
	err := w.check()
	w.closed = true
	defer w.c.endMessage()
	if err != nil {
		return err
	}
	if err := w.c.ready(w.ctx); err != nil {
		w.fail(err)
		return err
	}
	w.flush()
	var data any
	switch w.parts.Length() {
	case 0:
		data = jsUint8Array.New(0)
	case 1:
		data = w.parts.Index(0)
	default:
		data = jsBlob.New(w.parts)
	}
	w.buf, w.parts = nil, js.Undefined()
	if err := w.c.send(data); err != nil {
		w.err = err
		return err
	}
	return nil
}
