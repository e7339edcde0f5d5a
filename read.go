//go:build !js

package wsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/limits"
)

var copyPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// frame state of the data frame being read; guarded by rsem.
type frameState struct {
	hdr       conn.Header
	remaining int64
	maskPos   int
}

// next reads on to the next data message into *m: it finishes the
// current one (returning a text message it completes), handles control
// frames, and starts the next message from its first frame. The message
// comes back through m rather than as a result so that no copy of it
// takes room in the frames of next and Next, under which an idle
// connection's reader runs. The caller holds the read lock.
func (c *Conn) next(m *Message) error {
	for {
		if c.State() == Closed {
			return c.closeError()
		}
		if c.msgOp != 0 {
			if done, err := c.finishFor(m); done {
				return err
			}
		}
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.Op.IsControl() {
			continue // handled by readHeader
		}
		if err := c.startMessage(h); err != nil {
			return err
		}
		if h.Op == conn.OpBinary {
			*m = Message{Kind: Binary, c: c, seq: c.msgSeq}
			return nil
		}
		// The text's buffer is allocated here rather than under
		// startMessage: the allocator's paths are deep, and this frame
		// is near the top of an idle reader's stack.
		c.text.Prepare()
	}
}

// finishFor finishes the current message for next (finishMessage). It
// reports whether next is done: with an error, or with the text message
// it completed, which it stores in *m.
//
//go:noinline
func (c *Conn) finishFor(m *Message) (bool, error) {
	if c.msgOp == conn.OpText {
		// As finishMessage does it, one call shallower for the reader.
		s, err := c.readText()
		if err == nil {
			*m = Message{Kind: Text, Text: s}
		}
		return true, err
	}
	_, err := c.finishMessage(false)
	return err != nil, err
}

// startMessage starts a data message from the header of its first frame,
// the one way a message starts (Next and the closing handshake's wait
// alike), so the limits hold on every path: a text message is assembled
// under BufferCap, a binary one is charged to MaxBinaryMessage, and an
// uncompressed message's declared length is charged at once, so one over
// its limit fails the connection (1009) before any of its payload is
// read. Starting a binary message makes the Message the last Next
// returned stale, unless the closing handshake cut that one short
// (binCut), whose reads must go on reporting so. A continuation frame
// with no message to continue fails the connection (1002). The caller
// holds the read lock, with no message in progress.
func (c *Conn) startMessage(h conn.Header) error {
	switch h.Op {
	case conn.OpText:
		c.text.Begin(c.opts.BufferCap)
	case conn.OpBinary:
		c.binBudget = limits.Budget{Cap: -1}
		if c.opts.MaxBinaryMessage > 0 {
			c.binBudget.Cap = c.opts.MaxBinaryMessage
		}
		c.binDone = false
		if !c.binCut {
			c.msgSeq++
		}
	default:
		return c.failProtocol("continuation frame with no message to continue")
	}
	c.msgOp = h.Op
	c.compressed = h.Rsv&conn.Rsv1 != 0
	// Field by field, so that no copy of the structs takes room in this
	// frame, which is under Next's.
	c.fs.hdr, c.fs.remaining, c.fs.maskPos = h, h.Length, 0
	c.src.c, c.src.tail, c.src.err, c.src.whole = c, 0, nil, nil
	if c.compressed {
		return nil // charged as it is inflated
	}
	return c.charge(h.Length)
}

// finishMessage ends the current data message: a text message is read
// whole and returned, the rest of a binary message is read and dropped.
// cut marks a binary message dropped by the closing handshake rather
// than by the next read, so the caller's Message reports it cut short
// instead of read to its end. The caller holds the read lock.
func (c *Conn) finishMessage(cut bool) (Message, error) {
	if c.msgOp == conn.OpText {
		s, err := c.readText()
		if err != nil {
			return Message{}, err
		}
		return Message{Kind: Text, Text: s}, nil
	}
	if c.msgOp == conn.OpBinary && !c.binDone {
		c.binCut = c.binCut || cut
		if err := c.discardBinary(); err != nil {
			return Message{}, err
		}
	}
	c.msgOp = 0
	return Message{}, nil
}

// charge counts n more payload bytes of the current message against its
// limit (BufferCap for text, MaxBinaryMessage for binary) and fails the
// connection with 1009 when they pass it.
func (c *Conn) charge(n int64) error {
	var err error
	if c.msgOp == conn.OpText {
		err = c.text.Reserve(n)
	} else {
		err = c.binBudget.Take(n)
	}
	if err != nil {
		return c.overLimit(err)
	}
	return nil
}

// overLimit fails the connection for the current message, which err
// says passed its limit (see charge). It is out of line, with one
// argument, so that charge's frame, under Next's when a message starts,
// stays small.
//
//go:noinline
func (c *Conn) overLimit(err error) error {
	if c.msgOp == conn.OpText {
		return c.tooBig("text message too big", "the buffer cap", c.opts.BufferCap, err)
	}
	return c.tooBig("binary message too big", "the limit", c.binBudget.Cap, err)
}

// tooBig fails the connection with 1009 for a message over limit, which
// is max bytes.
func (c *Conn) tooBig(what, limit string, max int64, cause error) error {
	return c.fail(StatusMessageTooBig, what, &fault{
		msg:  fmt.Sprintf("%s: over %s of %d bytes", what, limit, max),
		kind: ErrMessageTooBig, cause: cause,
	})
}

// nextFragment reads frames up to the next continuation frame of the
// current message, handling control frames on the way, and charges its
// declared length to the message's budget when it is not compressed.
func (c *Conn) nextFragment() error {
	for {
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if h.Op.IsControl() {
			continue
		}
		if h.Op != conn.OpContinuation {
			return c.failProtocol("new " + h.Op.String() + " message inside a fragmented message")
		}
		if !c.compressed {
			if err := c.charge(h.Length); err != nil {
				return err
			}
		}
		c.fs = frameState{hdr: h, remaining: h.Length}
		return nil
	}
}

// readRaw reads the current message's payload as it came on the wire
// (unmasked, still compressed if it was), crossing into its continuation
// frames. It returns io.EOF after the final frame.
func (c *Conn) readRaw(p []byte) (int, error) {
	for c.fs.remaining == 0 {
		if c.fs.hdr.Fin {
			return 0, io.EOF
		}
		if err := c.nextFragment(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > c.fs.remaining {
		p = p[:c.fs.remaining]
	}
	n, err := c.readPayload(p)
	if n > 0 {
		c.fs.remaining -= int64(n)
		return n, nil
	}
	if err != nil {
		return 0, c.readFailed(err)
	}
	return 0, nil
}

// readPayload reads bytes of the current frame's payload into p (which the
// caller limits to what is left of it), unmasked.
func (c *Conn) readPayload(p []byte) (n int, err error) {
	if !c.fs.hdr.Masked {
		return c.rd.read(p)
	}
	n, c.fs.maskPos, err = c.rd.readMasked(p, c.fs.hdr.Mask, c.fs.maskPos)
	return n, err
}

// readText reads the rest of the current text message and returns it
// whole. Uncompressed text is read straight into the assembler and
// validated as it arrives, so invalid UTF-8 fails fast; the state lives in
// the connection, so a deadline error can be resumed.
func (c *Conn) readText() (string, error) {
	if c.compressed {
		return c.readCompressedText()
	}
	for {
		for c.fs.remaining > 0 {
			dst := c.text.Next(int(min(c.fs.remaining, 64<<10)))
			var n int
			var err error
			if c.rd.buffered() > 0 {
				// Buffered payload is taken here rather than through
				// readPayload: quicker, and shallower for the reader.
				n, c.fs.maskPos = c.rd.take(dst, c.fs.hdr.Masked, c.fs.hdr.Mask, c.fs.maskPos)
			} else {
				n, err = c.readPayload(dst)
			}
			if n > 0 {
				c.fs.remaining -= int64(n)
				if cerr := c.text.Commit(n); cerr != nil {
					return "", c.failUTF8(cerr)
				}
			}
			if err != nil {
				return "", c.readFailed(err)
			}
		}
		if c.fs.hdr.Fin {
			break
		}
		if err := c.nextFragment(); err != nil {
			return "", err
		}
	}
	return c.finishText()
}

// finishText ends the current text message, read whole into the
// assembler, and returns it once its UTF-8 is found complete; like
// binaryEnded, it gives back an emptied pooled read buffer.
func (c *Conn) finishText() (string, error) {
	c.msgOp = 0
	c.rd.idle()
	s, err := c.text.Finish()
	if err != nil {
		return "", c.failUTF8(err)
	}
	return s, nil
}

func (c *Conn) failUTF8(err error) error {
	return c.fail(StatusInvalidPayload, "invalid UTF-8 in text message", &fault{msg: "invalid UTF-8 in text message", kind: ErrInvalidUTF8, cause: err})
}

// readBinary reads from binary message seq under ctx, which is nil when
// the message's context can never end.
func (c *Conn) readBinary(ctx context.Context, seq uint64, p []byte) (int, error) {
	if c == nil {
		return 0, io.EOF // not a binary message
	}
	if ctx != nil {
		return c.readBinaryCtx(ctx, seq, p)
	}
	// Nothing to watch.
	c.rsem.lockAlways()
	defer c.unlockRead()
	if !c.binaryLive(seq) {
		return 0, c.binaryState(seq)
	}
	c.rd.drained = false
	var n int
	var err error
	switch {
	case c.readsDirect(p):
		n, err = c.readDirect(p)
	case c.bytesDue(p):
		n, err = c.readAwaited(p)
	default:
		n, err = c.readBinaryLocked(p)
	}
	if c.rd.drained && err == nil {
		n = c.readOn(p, n)
	}
	return n, err
}

// readBinaryCtx is readBinary under a ctx that can end.
func (c *Conn) readBinaryCtx(ctx context.Context, seq uint64, p []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := c.rsem.lock(ctx, nil); err != nil {
		return 0, err
	}
	defer c.unlockRead()
	if err := c.binaryState(seq); err != nil {
		return 0, err
	}
	c.rd.drained = false
	var n int
	var err error
	if c.readMayBlock() {
		stop := c.watch(ctx, reading)
		switch {
		case c.readsDirect(p):
			n, err = c.readDirect(p)
		case c.bytesDue(p):
			n, err = c.readAwaited(p)
		default:
			n, err = c.readBinaryLocked(p)
		}
		stop()
		err = readCanceled(ctx, err)
	} else {
		n, err = c.readBinaryLocked(p)
	}
	if c.rd.drained && err == nil {
		n = c.readOn(p, n)
	}
	return n, err
}

// readsDirect reports whether a read of the current binary message into p
// goes straight from the socket into p (readDirect): the message is not
// compressed, its frame's payload goes on, nothing is buffered, and p is
// large enough to be read into directly.
func (c *Conn) readsDirect(p []byte) bool {
	return !c.compressed && c.fs.remaining > 0 && c.rd.buffered() == 0 && len(p) >= directRead && c.rd.sock != nil
}

// readDirect reads payload of the current frame straight from the socket
// into p (see readsDirect), waiting for it when none has arrived, and
// unmasks it; it fails as readBinaryLocked does when the read fails. It
// is what readBinaryLocked would do there, but waits two frames under
// readBinary and under the socket's RawConn callback rather than under
// net.Conn.Read: a reader waiting in the middle of a message (a slow
// peer's) keeps a stack not much deeper than one waiting in Next.
//
//go:noinline
func (c *Conn) readDirect(p []byte) (int, error) {
	if int64(len(p)) > c.fs.remaining {
		p = p[:c.fs.remaining]
	}
	n, err := c.rd.sock.ReadInto(p, true)
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress // not expected: a waiting read returns bytes or an error
		}
		return 0, cutShort(c.readFailed(err))
	}
	c.rd.got()
	if c.fs.hdr.Masked {
		c.fs.maskPos = conn.Mask(c.fs.hdr.Mask, c.fs.maskPos, p[:n])
	}
	c.fs.remaining -= int64(n)
	return n, nil
}

// bytesDue reports whether a read of the current binary message into p
// must wait for bytes that have not arrived, and take them into the
// buffer: the message is not compressed, nothing is buffered, and either
// its next bytes are a continuation frame's header or p is too small to
// be read into directly (see readsDirect).
func (c *Conn) bytesDue(p []byte) bool {
	return !c.compressed && c.rd.buffered() == 0 && c.rd.sock != nil &&
		(c.fs.remaining == 0 && !c.fs.hdr.Fin || c.fs.remaining > 0 && len(p) < directRead)
}

// readAwaited waits for the next bytes of the current binary message (see
// bytesDue) as Next waits for a message's (awaitBytes), then reads on as
// readBinaryLocked does, from the buffer. Waiting here rather than under
// readBinaryLocked's frame parser keeps a reader waiting inside a message
// (a slow peer's) nearly as shallow as one waiting in Next.
//
//go:noinline
func (c *Conn) readAwaited(p []byte) (int, error) {
	if err := c.awaitBytes(); err != nil {
		return 0, cutShort(err)
	}
	return c.readBinaryLocked(p)
}

// readOn goes on from a read of a binary message that returned n bytes,
// the last of them the last buffered ones, into p[n:]: when the current
// frame's payload goes on past them (uncompressed) and at least
// directRead bytes of p are left, it reads on from the socket once,
// without waiting, and returns n plus what came (unmasked). The end of
// the stream or an error there is left for the next read to meet.
//
// The buffered bytes are what the frame's header read took in with the
// header. A read that returned them alone would end a header's length
// into the payload's pages, and every later read of the frame into the
// start of a page-aligned destination would then copy from a source a
// few bytes out of step with it modulo 4 KiB, which makes the kernel's
// copy to user memory several times slower on some CPUs. Going on keeps
// the reads in step with the payload, as reads of a bare payload are.
//
// It runs above readBinaryLocked rather than inside it so that the
// frames of the read path that waits in the poller stay as small as
// they are: an idle handler's stack depends on them.
//
//go:noinline
func (c *Conn) readOn(p []byte, n int) int {
	rest := p[n:]
	if c.compressed || len(rest) < directRead || c.fs.remaining == 0 || c.rd.buffered() > 0 || c.rd.sock == nil {
		return n
	}
	if int64(len(rest)) > c.fs.remaining {
		rest = rest[:c.fs.remaining]
	}
	k, _ := c.rd.sock.ReadInto(rest, false)
	if k == 0 {
		return n
	}
	c.rd.got()
	if c.fs.hdr.Masked {
		c.fs.maskPos = conn.Mask(c.fs.hdr.Mask, c.fs.maskPos, rest[:k])
	}
	c.fs.remaining -= int64(k)
	return n + k
}

// readMayBlock reports whether reading on in the current binary message
// may wait for the stream: not when an uncompressed message's next bytes
// are buffered, or when all that is left of it is its end. Then a read
// needs no watch on its ctx.
func (c *Conn) readMayBlock() bool {
	switch {
	case c.compressed:
		return true
	case c.fs.remaining > 0:
		return c.rd.buffered() == 0
	}
	return !c.fs.hdr.Fin
}

// binaryState says whether binary message seq can be read on: nil when
// it can, ErrStaleMessage when Next was called after it, a cut-short
// error when the connection ended before its end (or Close discarded its
// rest), io.EOF when it was read to its end. The caller holds the read
// lock.
func (c *Conn) binaryState(seq uint64) error {
	switch {
	case c.binaryLive(seq):
		return nil
	case seq != c.msgSeq:
		return ErrStaleMessage
	case c.binCut:
		// The close handshake discarded what was left of it.
		return cutShort(c.closeOr())
	case c.binDone:
		return io.EOF
	}
	return cutShort(c.closeOr()) // the connection ended before the message did
}

// binaryLive reports whether binary message seq can be read on (see
// binaryState).
func (c *Conn) binaryLive(seq uint64) bool {
	return seq == c.msgSeq && !c.binCut && !c.binDone && c.State() != Closed
}

// closeOr returns the close error, or ErrClosed if none is recorded.
func (c *Conn) closeOr() error {
	if e := c.closeError(); e != nil {
		return e
	}
	return ErrClosed
}

func (c *Conn) readBinaryLocked(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !c.compressed && c.fs.remaining > 0 && c.rd.buffered() > 0 {
		// The common case, payload of an uncompressed frame already
		// buffered, taken here rather than through readRaw: quicker, and
		// shallower for the goroutine that reads.
		if int64(len(p)) > c.fs.remaining {
			p = p[:c.fs.remaining]
		}
		var n int
		n, c.fs.maskPos = c.rd.take(p, c.fs.hdr.Masked, c.fs.hdr.Mask, c.fs.maskPos)
		c.fs.remaining -= int64(n)
		return n, nil
	}
	var n int
	var err error
	if c.compressed {
		n, err = c.inflater().Read(p)
		if n > 0 {
			c.recordInflated(p[:n])
			if e := c.charge(int64(n)); e != nil {
				return 0, cutShort(e)
			}
		}
		if err == io.EOF {
			err = c.endInflate()
			if err == nil {
				err = io.EOF
			}
		} else if err != nil {
			err = c.inflateFailed(err)
		}
	} else {
		n, err = c.readRaw(p)
	}
	if err == io.EOF {
		c.binaryEnded()
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	if err != nil {
		return n, cutShort(err)
	}
	return n, nil
}

// binaryEnded records that the binary message being read was read to its
// end: its reader returns io.EOF from here on, and the connection is
// between messages, so a pooled read buffer with nothing left in it goes
// back (a connection nobody reads next holds none).
func (c *Conn) binaryEnded() {
	c.binDone = true
	c.msgOp = 0
	c.rd.idle()
}

// spliceFrames counts payloads moved by (*os.File).ReadFrom straight from
// the socket; tests read it.
var spliceFrames atomic.Int64

// cutShort marks an error that ended a binary message early so it matches
// io.ErrUnexpectedEOF. A deadline error the connection survived passes
// unchanged: the message can be read on. One that ended the connection
// (inside a compressed message) did cut the message short.
func cutShort(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, ErrClosed) {
		return err
	}
	return &fault{msg: prefix + "binary message cut short: " + strings.TrimPrefix(err.Error(), prefix), kind: io.ErrUnexpectedEOF, cause: err}
}

// discardBinary reads the rest of the current binary message and drops
// it. A compressed one is inflated all the same: with context takeover the
// peer's next message may refer back into it.
func (c *Conn) discardBinary() error {
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	for {
		_, err := c.readBinaryLocked(*bp)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// wholeMax is the largest payload taken whole: the size of the pooled
// read buffer, which a small message arrives in.
const wholeMax = pooledReadSize

var wholePool = sync.Pool{New: func() any { return new(wholeMsg) }}
