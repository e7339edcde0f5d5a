//go:build !js

package wsio

import (
	"bytes"
	"context"
	"io"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/flate"
	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/textframe"
)

// SendText sends s as one text message. It fails with ErrInvalidUTF8 if s
// is not valid UTF-8, and with ErrStreamOpen while a binary stream from
// BeginBinary is open. A concurrent send waits for the message before it.
//
// If ctx is already done, SendText returns ctx.Err() and sends nothing.
// If ctx ends before any of the message went out (while the call waits
// for its turn or for the peer), the error matches ctx.Err() and the
// connection is unaffected; if it ends after part of the message went
// out, the connection is closed (1006) and the error matches both
// ctx.Err() and ErrClosed (see Conn).
//
// After the peer's close frame has been seen (see Conn for when a send
// sees it without a reader), it fails with the peer's *CloseError.
func (c *Conn) SendText(ctx context.Context, s string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !textframe.ValidString(s) {
		return &fault{msg: prefix + "SendText: the text is not valid UTF-8", kind: ErrInvalidUTF8}
	}
	if err := c.beginMessage(ctx, false); err != nil {
		return err
	}
	p := unsafe.Slice(unsafe.StringData(s), len(s))
	if c.compress(ctx, len(p)) {
		return c.sendCompressed(ctx, conn.OpText, p)
	}
	err := c.writeFrame(ctx, true, 0, conn.OpText, p)
	c.endMessage()
	return err
}

// SendBinary sends p as one binary message, cut into frames of the
// fragment size; sent uncompressed, a message of k whole fragments is k
// frames, and only an empty message is an empty frame. It fails with
// ErrStreamOpen while a binary stream from BeginBinary is open. Control
// frames may go between its fragments.
//
// If ctx is already done, SendBinary returns ctx.Err() and sends nothing.
// If ctx ends before any of the message went out (while the call waits
// for its turn or for the peer), the error matches ctx.Err() and the
// connection is unaffected; if it ends after part of the message went
// out, the connection is closed (1006) and the error matches both
// ctx.Err() and ErrClosed (see Conn).
//
// Once the peer's close frame has been seen (by a reader, or by
// SendBinary itself looking at the socket before a large frame: see
// Conn), the next frame fails with the peer's *CloseError.
func (c *Conn) SendBinary(ctx context.Context, p []byte) error {
	if err := c.beginMessage(ctx, false); err != nil {
		return err
	}
	if c.compress(ctx, len(p)) {
		return c.sendCompressed(ctx, conn.OpBinary, p)
	}
	if len(p) <= c.opts.FragmentSize {
		// A message of at most one fragment is one frame: sent as
		// sendFrames would send it, without taking a pooled writer.
		err := c.writeFrame(ctx, true, 0, conn.OpBinary, p)
		c.endMessage()
		return err
	}
	return c.sendFrames(ctx, conn.OpBinary, p)
}

// sendFrames sends p as one uncompressed message of kind op, cut into
// frames by binstream.Writer.WriteFinal; the caller holds the
// data-message slot, which the message's end gives back.
func (c *Conn) sendFrames(ctx context.Context, op conn.Opcode, p []byte) error {
	w := c.messageWriter(ctx, op)
	err := w.bw.WriteFinal(p)
	putMessageWriter(w)
	return err
}

// messageWriter returns a pooled BinaryWriter that sends one whole
// message of kind op through its sink, uncompressed unless the caller sets
// the sink up for compressed data (sendDeflated). The caller holds the
// data-message slot; the sink's Done gives it back as the message ends.
// A pooled writer lets a whole message go out without an allocation.
func (c *Conn) messageWriter(ctx context.Context, op conn.Opcode) *BinaryWriter {
	w := messageWriters.Get().(*BinaryWriter)
	w.start(c, ctx, op, false, false)
	return w
}

// putMessageWriter returns a writer from messageWriter once its message
// has ended, dropping what it referred to (the connection, ctx, the
// caller's bytes).
func putMessageWriter(w *BinaryWriter) {
	*w = BinaryWriter{}
	messageWriters.Put(w)
}

var messageWriters = sync.Pool{New: func() any { return new(BinaryWriter) }}

// sendCompressed sends p compressed; the caller holds the data-message
// slot, which it gives back. Messages up to statelessMax are compressed
// whole before they are sent (sendDeflated), on a goroutine of their own
// unless the connection is busy (see onOwnStack); larger ones are
// streamed.
//
// A connection that keeps a compressor (busy, see deflateState.plan) goes
// on with it: it continues its own stream, without re-reading history. A
// busy one with context takeover that may not keep one uses the stateless
// encoder, which takes the end of the history (deflate.SendHistory) as its
// dictionary as it is, where a borrowed compressor would first have to be
// primed by compressing it. Any other message borrows a pooled compressor
// (takeOutCompressor), since the stateless encoder builds its table on
// the goroutine's stack.
func (c *Conn) sendCompressed(ctx context.Context, op conn.Opcode, p []byte) error {
	keep, busy := c.deflate.plan()
	if len(p) <= statelessMax {
		if busy || keep {
			return c.sendDeflated(ctx, op, p, keep, busy)
		}
		var err error
		onOwnStack(func() { err = c.sendDeflated(ctx, op, p, false, false) })
		return err
	}
	w := messageWriters.Get().(*BinaryWriter)
	defer putMessageWriter(w)
	w.start(c, ctx, op, true, keep)
	if _, err := w.Write(p); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// statelessMax is the largest message compressed whole into a buffer
// before any of it is sent (sendDeflated); larger ones are streamed.
const statelessMax = 64 << 10

// sendDeflated compresses p into a pooled buffer, then sends it as one
// message, cut into frames as sendFrames does, with RSV1 on the first;
// the caller holds the data-message slot, which the message's end gives
// back. The compressor is done before any frame is written, so the
// goroutine's stack never holds the compressor's frames and the write's
// at once: stacked, they outgrow the stack an uncompressed connection
// needs, and it stays grown while the connection idles.
//
// The compressor goes with the message's sink, which keeps it for the
// next message only once the final frame is out (keep): a message that
// fails part way leaves in it bytes the peer never got whole. The send
// history takes p once the first frame is out.
func (c *Conn) sendDeflated(ctx context.Context, op conn.Opcode, p []byte, keep, busy bool) error {
	d := c.deflate
	bp := statelessPool.Get().(*bytes.Buffer)
	defer statelessPool.Put(bp)
	bp.Reset()
	var fw *flate.Writer
	var err error
	if busy && !keep && d.outTakeover && d.level == 1 && d.outBits == 15 {
		err = flate.StatelessDeflate(bp, p, false, deflate.LastBytes(d.outHist, deflate.SendHistory(d.outBits)))
	} else {
		fw = c.takeOutCompressor(bp)
		if _, err = fw.Write(p); err == nil {
			err = fw.Flush()
		}
		d.sink.w = nil // bp goes back to its pool when the call returns
	}
	if err != nil {
		if fw != nil {
			c.putOutCompressor(fw, false)
		}
		c.endMessage()
		return err
	}
	w := c.messageWriter(ctx, op)
	w.sink.rsv = conn.Rsv1
	w.sink.fw, w.sink.keep = fw, keep
	if d.outTakeover {
		w.sink.hist = p
	}
	err = w.bw.WriteFinal(bytes.TrimSuffix(bp.Bytes(), []byte(deflate.FlushMarker)))
	putMessageWriter(w)
	return err
}

// takeOutCompressor returns the compressor for a message about to be
// compressed, its output going to dst: the connection's kept one, which
// goes on with its own context; with context takeover, a pooled one
// primed with the end of the send history; otherwise a pooled one with
// no history. The caller holds the data-message slot and ends the
// message's use of it with putOutCompressor.
func (c *Conn) takeOutCompressor(dst io.Writer) *flate.Writer {
	d := c.deflate
	d.sink.w = dst
	switch {
	case d.fw != nil:
		return d.takeCompressor()
	case d.outTakeover:
		return deflate.GetCompressor(d.level, d.outBits, &d.sink, deflate.LastBytes(d.outHist, deflate.SendHistory(d.outBits)))
	}
	return deflate.GetCompressor(d.level, d.outBits, &d.sink, nil)
}

// putOutCompressor ends a message's use of fw. The connection keeps it
// for its next message when keep says so (the message went out whole and
// the connection means to keep one, see deflateState.plan), the
// connection is open and the budget has room; the idle timer then gives
// it back later. Otherwise it goes back to the pool now.
func (c *Conn) putOutCompressor(fw *flate.Writer, keep bool) {
	d := c.deflate
	d.sink.w = nil
	if keep && c.State() != Closed && d.keepCompressor(fw) {
		c.armCompressorRelease()
		return
	}
	deflate.PutCompressor(d.level, d.outBits, fw)
}

var statelessPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// BeginBinary starts a binary message and returns the stream to write it
// to: an io.WriteCloser, and io.ReaderFrom so io.Copy needs no buffer of
// its own. Writes are cut into frames of exactly the fragment size; Close
// sends the last frame and ends the message. Until then, other data
// messages on this connection fail with ErrStreamOpen (ping, pong and
// close frames may still go between the fragments). Under
// WithoutCompression(ctx) the stream is not compressed. A peer that
// closes meanwhile (say with 1009, for a message over its limit) fails
// the stream: see BinaryWriter.
//
// If ctx is already done, BeginBinary returns a nil stream and ctx.Err(),
// and the connection is left as it was. Otherwise ctx governs every write
// of the stream, Close included; BinaryWriter says what happens when it
// ends before the message does.
func (c *Conn) BeginBinary(ctx context.Context) (*BinaryWriter, error) {
	if err := c.beginMessage(ctx, true); err != nil {
		return nil, err
	}
	w := &BinaryWriter{}
	w.init(c, ctx, conn.OpBinary, c.compress(ctx, -1))
	return w, nil
}

// beginMessage takes the data-message slot. A done ctx fails the call
// first, with ctx.Err(). A stream that is open fails it at once, so a
// goroutine that forgot to Close its stream gets an error rather than a
// deadlock.
func (c *Conn) beginMessage(ctx context.Context, stream bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.streamOpen.Load() {
		return ErrStreamOpen
	}
	if err := c.lockErr(c.msem.lock(ctx, c.closing.done)); err != nil {
		return err
	}
	if stream {
		c.streamOpen.Store(true)
	}
	return nil
}

// waitMessage takes the data-message slot, waiting for an open stream to
// end rather than failing (for Broadcast).
func (c *Conn) waitMessage(ctx context.Context) error {
	return c.lockErr(c.msem.lock(ctx, c.closing.done))
}

// endMessage frees the data-message slot. A connection that closed
// meanwhile could not release its kept compressor (closeTransport found
// the slot taken), so it is released now.
func (c *Conn) endMessage() {
	if c.streamOpen.Load() {
		c.streamOpen.Store(false)
	}
	c.msem.unlock()
	if c.deflate != nil && c.State() == Closed {
		c.releaseCompressor()
	}
}
