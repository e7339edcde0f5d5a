//go:build !js

package wsio

import (
	"bytes"
	"context"
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
	defer c.endMessage()
	return c.writeData(ctx, true, 0, conn.OpText, p)
}

// SendBinary sends p as one binary message, cut into frames of the
// fragment size. It fails with ErrStreamOpen while a binary stream from
// BeginBinary is open. Control frames may go between its fragments.
//
// If ctx is already done, SendBinary returns ctx.Err() and sends nothing.
// If ctx ends before any of the message went out (while the call waits
// for its turn or for the peer), the error matches ctx.Err() and the
// connection is unaffected; if it ends after part of the message went
// out, the connection is closed (1006) and the error matches both
// ctx.Err() and ErrClosed (see Conn).
//
// BeginBinary is open. Control frames may go between its fragments. Once
// the peer's close frame has been seen (by a reader, or by SendBinary
// itself looking at the socket before a large frame: see Conn), the next
// frame fails with the peer's *CloseError.
func (c *Conn) SendBinary(ctx context.Context, p []byte) error {
	if err := c.beginMessage(ctx, false); err != nil {
		return err
	}
	if c.compress(ctx, len(p)) {
		return c.sendCompressed(ctx, conn.OpBinary, p)
	}
	defer c.endMessage()
	return c.sendFragmented(ctx, p)
}

// sendCompressed sends p compressed; the caller holds the data-message
// slot, which it gives back. Messages up to statelessMax are compressed
// whole before they are sent (sendWhole), on a goroutine of their own
// unless the connection is busy (see onOwnStack); larger ones are
// streamed.
//
// A connection that keeps a compressor (busy, see deflateState.plan) goes
// on with it: it continues its own stream, without re-reading history. A
// busy one with context takeover that may not keep one uses the stateless
// encoder, which hashes its dictionary (deflate.SendHistory) more cheaply than a
// borrowed compressor primes itself with it. Any other message borrows a
// pooled compressor: the stateless encoder keeps its 16 KiB table on the
// goroutine's stack.
func (c *Conn) sendCompressed(ctx context.Context, op conn.Opcode, p []byte) error {
	keep, busy := c.deflate.plan()
	if len(p) <= statelessMax {
		if busy || keep {
			return c.sendWhole(ctx, op, p, keep, busy)
		}
		var err error
		onOwnStack(func() { err = c.sendWhole(ctx, op, p, false, false) })
		return err
	}
	w := new(BinaryWriter) // a large message: the allocation is small beside it
	w.start(c, ctx, op, true, keep)
	if _, err := w.Write(p); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// statelessMax is the largest message compressed whole into a buffer
// before any of it is sent (sendWhole); larger ones are streamed.
const statelessMax = 64 << 10

// sendWhole compresses p into a pooled buffer, then sends it as one
// message; the caller holds the data-message slot, which it gives back.
// The compressor has returned before any frame is written, so the
// goroutine's stack never holds the compressor's frames and the write's
// at once: stacked, they outgrow the stack an uncompressed connection
// needs, and it stays doubled while the connection idles.
func (c *Conn) sendWhole(ctx context.Context, op conn.Opcode, p []byte, keep, busy bool) error {
	defer c.endMessage()
	d := c.deflate
	bp := statelessPool.Get().(*bytes.Buffer)
	defer statelessPool.Put(bp)
	bp.Reset()
	var err error
	switch {
	case busy && !keep && d.outTakeover && d.level == 1 && d.outBits == 15:
		err = flate.StatelessDeflate(bp, p, false, deflate.LastBytes(d.outHist, deflate.SendHistory(d.outBits)))
	default:
		err = c.deflateInto(bp, p, keep)
	}
	if err != nil {
		return err
	}
	z := bytes.TrimSuffix(bp.Bytes(), []byte(deflate.FlushMarker))
	first := true
	for {
		n := min(len(z), c.opts.FragmentSize)
		fin := n == len(z)
		o, rsv := conn.OpContinuation, byte(0)
		if first {
			o, rsv = op, conn.Rsv1
		}
		if err := c.writeData(ctx, fin, rsv, o, z[:n]); err != nil {
			// A compressor kept after compressing p remembers it, which
			// the peer never got whole, so it goes. The history takes p
			// only below, once its first frame is out.
			d.dropCompressor()
			if !first {
				return c.messageBroken(err)
			}
			return err
		}
		if first && d.outTakeover {
			d.outHist = deflate.AppendHistory(d.outHist, p, deflate.SendHistory(d.outBits))
		}
		if fin {
			return nil
		}
		z, first = z[n:], false
	}
}

// deflateInto compresses p with a sync flush into dst, through the
// connection's kept compressor or a borrowed one, which it keeps after if
// keep says so and the budget allows.
func (c *Conn) deflateInto(dst *bytes.Buffer, p []byte, keep bool) error {
	d := c.deflate
	d.sink.w = dst
	defer func() { d.sink.w = nil }()
	var fw *flate.Writer
	switch {
	case d.fw != nil:
		fw = d.takeCompressor()
	case d.outTakeover:
		fw = deflate.GetCompressor(d.level, d.outBits, &d.sink, deflate.LastBytes(d.outHist, deflate.SendHistory(d.outBits)))
	default:
		fw = deflate.GetCompressor(d.level, d.outBits, &d.sink, nil)
	}
	_, err := fw.Write(p)
	if err == nil {
		err = fw.Flush()
	}
	if err == nil && keep && c.State() != Closed && d.keepCompressor(fw) {
		c.armCompressorRelease()
	} else {
		deflate.PutCompressor(d.level, d.outBits, fw)
	}
	return err
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
	c.streamOpen.Store(false)
	c.msem.unlock()
	if c.deflate != nil && c.State() == Closed {
		c.releaseCompressor()
	}
}

var (
	writePool    = sync.Pool{New: func() any { return new(writeBuf) }}
	bigWritePool = sync.Pool{New: func() any { b := make([]byte, bigWrite); return &b }}
)

// sendFragmented sends p as a binary message cut into fragment-size frames;
// the caller holds the data-message slot.
func (c *Conn) sendFragmented(ctx context.Context, p []byte) error {
	op := conn.OpBinary
	for {
		n := min(len(p), c.opts.FragmentSize)
		fin := n == len(p)
		if err := c.writeData(ctx, fin, 0, op, p[:n]); err != nil {
			if op == conn.OpContinuation {
				return c.messageBroken(err)
			}
			return err
		}
		if fin {
			return nil
		}
		p = p[n:]
		op = conn.OpContinuation
	}
}
