//go:build !js

package wsio

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/wsio/wsio/binstream"
	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/internal/sock"
)

// BinaryWriter is an open binary message, returned by BeginBinary: an
// io.WriteCloser (and io.ReaderFrom) whose bytes are cut into frames of
// the fragment size. When permessage-deflate is on, the bytes are
// compressed as they are written and the fragment size applies to the
// compressed frames. Close sends the final frame.
//
// The ctx given to BeginBinary governs every call. Once it is done,
// Write, ReadFrom and Close write nothing more and return an error
// matching ctx.Err(), and the message is over. What that leaves depends
// on whether any frame of it had gone out, since RFC 6455 lets nothing
// but the rest of a begun message (and control frames) follow it:
//
//   - No frame had gone out (a stream shorter than a fragment is sent
//     whole by Close): the peer has seen nothing of the message. The
//     error is ctx.Err() itself, Close frees the connection for the next
//     message, and the connection stays open and usable, its compression
//     context as it was before the message.
//   - A frame had gone out: the message cannot be finished, so the
//     connection is closed at once (1006) and the error is a *CloseError
//     that matches both ctx.Err() and ErrClosed.
//
// A ctx that ends in the middle of a frame's bytes breaks the connection
// the same way. Any other failure to write a frame after the first one
// also closes the connection. Close must still be called after an error:
// it returns the error and frees the connection's message slot.
//
// Canceling ctx is also how to abandon a message: Close ends it as
// complete, so a relay whose source failed (io.Copy from a Message
// returned an error) cancels ctx before Close, or the peer takes the part
// it got for the whole message.
//
// When the peer closes the connection while the message is being written
// (for example with 1009, because the message is over its limit), the
// stream fails with the peer's *CloseError: the next frame it would send
// (from a Write or ReadFrom that fills a fragment, or from Close) is not
// sent, that call returns the error, every later call returns it too, and
// so does the connection's Close. This holds with no goroutine reading, on
// a plain TCP or Unix socket: the stream looks at what has arrived before
// each fragment of 128 KiB or more (every full fragment, with the default
// fragment size), and on a connection that has never been read before
// smaller ones too, at most about once a millisecond (see Conn).
// So a sender that never reads learns of the close within a fragment or
// so of its arrival, not after sending the rest of the message into the
// void. Over TLS, a goroutine must read the connection (Next) for the
// stream to learn of it.
//
// A BinaryWriter is for one goroutine at a time; the connection under it
// is safe for concurrent use.
type BinaryWriter struct {
	c    *Conn
	bw   binstream.Writer
	sink streamSink

	fw     *flate.Writer // nil when the message is not compressed, or after Close
	hold   [4]byte       // compressed bytes held back: the flush marker to strip
	held   int
	err    error // the error that ended the message early
	closed bool  // Close was called
}

// init starts a message of kind op, compressed or not. The caller holds
// the data-message slot.
func (w *BinaryWriter) init(c *Conn, ctx context.Context, op conn.Opcode, compress bool) {
	keep := false
	if compress {
		keep, _ = c.deflate.plan()
	}
	w.start(c, ctx, op, compress, keep)
}

// start is init with the compressor's fate decided: keep tells whether
// the connection keeps it after the message (see deflateState.plan).
func (w *BinaryWriter) start(c *Conn, ctx context.Context, op conn.Opcode, compress, keep bool) {
	w.c = c
	w.sink = streamSink{c: c, ctx: ctx, frameKind: frameKind{op: op}, keep: keep}
	w.fw, w.held, w.err, w.closed = nil, 0, nil, false
	if compress {
		w.sink.rsv = conn.Rsv1
		w.fw = c.takeOutCompressor((*compressedSink)(w))
	}
	w.bw.Reset(&w.sink, c.opts.FragmentSize)
}

// check returns the error that stops the message before anything more
// is written: the one that ended it already, or, while it is open, its
// ctx's (which ends it).
func (w *BinaryWriter) check() error {
	if w.err == nil && !w.closed {
		if err := w.sink.ctx.Err(); err != nil {
			w.err = w.sink.failed(err)
		}
	}
	return w.err
}

// Write sends p as the next bytes of the message. If the stream's ctx is
// done it writes nothing and returns an error matching ctx.Err() (see
// BinaryWriter).
func (w *BinaryWriter) Write(p []byte) (int, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	if w.fw == nil {
		return w.bw.Write(p)
	}
	if w.c.deflate.outTakeover {
		w.sink.remember(p)
	}
	n, err := w.fw.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// ReadFrom sends everything r yields until io.EOF; it does not end the
// message. If the stream's ctx is done it reads and writes nothing and
// returns an error matching ctx.Err() (see BinaryWriter).
func (w *BinaryWriter) ReadFrom(r io.Reader) (int64, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	if w.fw == nil {
		return w.bw.ReadFrom(r)
	}
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	return readFromInto(w, r, *bp)
}

// relayedMessages counts the messages relayFrom read straight into a
// writer's fragment buffer; tests read it to tell that path from the
// general one.
var relayedMessages atomic.Int64

// relayFrom is ReadFrom with a received binary message as the source
// (Message.WriteTo). Uncompressed, the fragment buffer is the read
// buffer: m's reads land in it, are unmasked in place, and go out as
// frames from it. Compressed, the bytes go through ReadFrom's buffer to
// the compressor, as any other reader's do.
//
// Uncompressed, both over plain TCP on Linux, the payload past the first
// fragment goes from socket to socket frame by frame as it arrives
// (relayFrames): inside the kernel from a client's connection (unmasked
// frames in) to a server's (unmasked frames out), else through one
// buffer, unmasked and re-masked in one pass.
func (w *BinaryWriter) relayFrom(m Message) (int64, error) {
	if w.check() == nil && w.fw == nil {
		relayedMessages.Add(1)
	}
	var n int64
	if w.canRelayFrames(m.c) {
		k, done, err := w.relayFrames(m)
		if done {
			return k, err
		}
		n = k
	}
	// m's reads end with w's ctx as well as its own, as every call of the
	// writer's does: a stalled source does not hold a writer whose ctx
	// has ended.
	ctx, release := eitherDone(m.ctx, w.sink.ctx)
	defer release()
	if ctx.Done() != nil {
		m.ctx = ctx
	}
	k, err := w.ReadFrom(messageReader{&m})
	return n + k, err
}

// messageReader is a received message as a plain io.Reader, so that a
// reader of it cannot turn back to Message.WriteTo.
type messageReader struct{ m *Message }

func (r messageReader) Read(p []byte) (int, error) { return r.m.Read(p) }

// Close sends the final frame and ends the message. If the stream's ctx
// is done it sends nothing and returns an error matching ctx.Err() (see
// BinaryWriter). Calling it again returns nil, or the error that ended
// the message.
func (w *BinaryWriter) Close() error {
	if w.closed {
		return w.bw.Close()
	}
	err := w.check()
	w.closed = true
	if w.fw != nil {
		fw := w.fw
		w.fw = nil
		w.sink.fw = fw // the sink disposes of it as the message ends (Done)
		if err == nil {
			err = fw.Flush()
		}
		// A flush ends with the marker 00 00 FF FF, which RFC 7692 has the
		// sender remove; anything else held back is data.
		if err == nil && string(w.hold[:w.held]) != deflate.FlushMarker {
			_, err = w.bw.Write(w.hold[:w.held])
		}
		w.held = 0
	}
	if err != nil {
		w.err = err
		w.bw.Abort(err)
		return err
	}
	return w.bw.Close()
}

// compressedSink receives the compressor's output and passes it on to the
// frame writer, always holding back the last 4 bytes.
type compressedSink BinaryWriter

func (s *compressedSink) Write(b []byte) (int, error) {
	w := (*BinaryWriter)(s)
	n := len(b)
	if w.held+len(b) <= len(w.hold) {
		w.held += copy(w.hold[w.held:], b)
		return n, nil
	}
	out := w.held + len(b) - len(w.hold) // bytes sure not to be the marker
	if k := min(w.held, out); k > 0 {
		if _, err := w.bw.Write(w.hold[:k]); err != nil {
			return 0, err
		}
		w.held = copy(w.hold[:], w.hold[k:w.held])
		out -= k
	}
	if out > 0 {
		if _, err := w.bw.Write(b[:out]); err != nil {
			return 0, err
		}
	}
	w.held += copy(w.hold[w.held:], b[out:])
	return n, nil
}

// frameKind is what a message's first frame carries besides its payload:
// the message's opcode (OpText or OpBinary) and reserved bits (RSV1 when
// the message is compressed). The frames after it are continuations, with
// no reserved bits (RFC 7692, 6.1).
type frameKind struct {
	op  conn.Opcode
	rsv byte
}

// frame returns the opcode and reserved bits of the message's first frame
// (first) or of a later one.
func (k frameKind) frame(first bool) (conn.Opcode, byte) {
	if first {
		return k.op, k.rsv
	}
	return conn.OpContinuation, 0
}

// streamSink writes a message's frames to the connection.
type streamSink struct {
	c   *Conn
	ctx context.Context
	frameKind
	sent bool  // the first frame went out
	fin  bool  // the final frame went out
	out  int64 // payload bytes of the frames that went out
	// hist is what the message added to the compression history before
	// its first frame went out; it joins the connection's history then,
	// so a message that never goes out leaves that history as it was.
	hist []byte
	// fw is the message's compressor once it has compressed the whole
	// message (BinaryWriter.Close, sendDeflated): Done keeps it for the
	// next message (keep, see deflateState.plan) only when the final
	// frame went out, since it remembers the whole message.
	fw   *flate.Writer
	keep bool
}

func (s *streamSink) WriteFrame(p []byte, first, fin bool) error {
	op, rsv := s.frame(first)
	return s.wrote(p, fin, s.c.writeFrame(s.ctx, fin, rsv, op, p))
}

// WriteScratchFrame is WriteFrame for the writer's own buffer, which
// nobody reads afterwards: a client masks it in place (frameScratch).
func (s *streamSink) WriteScratchFrame(p []byte, first, fin bool) error {
	op, rsv := s.frame(first)
	return s.wrote(p, fin, s.c.writeScratchFrame(s.ctx, fin, rsv, op, p))
}

// wrote records the outcome err of writing frame p of the message.
func (s *streamSink) wrote(p []byte, fin bool, err error) error {
	if err != nil {
		return s.failed(err)
	}
	s.wentOut()
	s.fin = fin
	s.out += int64(len(p))
	return nil
}

// wentOut notes that a frame of the message was written.
func (s *streamSink) wentOut() {
	if s.sent {
		return
	}
	s.sent = true
	if s.hist != nil {
		d := s.c.deflate
		d.outHist = deflate.AppendHistory(d.outHist, s.hist, deflate.SendHistory(d.outBits))
		s.hist = nil
	}
}

// remember adds p, about to be compressed, to the send history: the
// connection's once the first frame went out, the message's own before.
func (s *streamSink) remember(p []byte) {
	d := s.c.deflate
	if s.sent {
		d.outHist = deflate.AppendHistory(d.outHist, p, deflate.SendHistory(d.outBits))
	} else {
		s.hist = deflate.AppendHistory(s.hist, p, deflate.SendHistory(d.outBits))
	}
}

// failed is the error that ends the message when a frame could not be
// written (err). Before the message's first frame went out that is err
// itself, which leaves the connection usable unless err broke it; after
// it, the message cannot be finished, so the connection is closed (see
// messageBroken).
func (s *streamSink) failed(err error) error {
	if s.sent {
		return s.c.messageBroken(err)
	}
	return err
}

// Done ends the message: it keeps or returns the compressor, then frees
// the data-message slot that guards it.
func (s *streamSink) Done() {
	if fw := s.fw; fw != nil {
		s.fw = nil
		s.c.putOutCompressor(fw, s.fin && s.keep)
	}
	s.c.endMessage()
}

type noCompressionKey struct{}

// WithoutCompression returns a context under which messages sent with it
// are not compressed, whatever was negotiated: a per-message opt-out for
// data that does not compress (already compressed files, random bytes).
func WithoutCompression(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCompressionKey{}, true)
}

// compress reports whether a message of n bytes (n < 0: a stream of
// unknown size) sent under ctx is to be compressed.
func (c *Conn) compress(ctx context.Context, n int) bool {
	d := c.deflate
	if d == nil || (n >= 0 && n < d.threshold) {
		return false
	}
	return ctx.Value(noCompressionKey{}) == nil
}

// armCompressorRelease notes that a message kept the compressor, and
// arms the release timer unless it is pending already (it then sees
// keptAt when it fires). The caller holds the data-message slot.
func (c *Conn) armCompressorRelease() {
	d := c.deflate
	d.keptAt = clock()
	if !d.idleArmed {
		d.idleArmed = true
		d.idle.Reset(compressorIdle)
	}
}

// useDeflate installs what the handshake negotiated. The release timer is
// made here, once, so it is never written while others may read it.
func (c *Conn) useDeflate(st *deflateState) {
	if st == nil {
		return
	}
	st.idle = sock.NewTimer(c.releaseIdleCompressor)
	c.deflate = st
}

// releaseIdleCompressor is the release timer: it gives the kept
// compressor back to the pool once no message has kept it for
// compressorIdle, and otherwise looks again when that time will have
// passed. While a message
// holds the data-message slot it looks again later, without touching the
// state the slot guards.
func (c *Conn) releaseIdleCompressor() {
	d := c.deflate
	if !c.msem.tryLock() {
		d.idle.Reset(compressorIdle)
		return
	}
	if left := d.keptAt + int64(compressorIdle) - clock(); left > 0 && d.fw != nil {
		d.idle.Reset(time.Duration(left))
	} else {
		d.idleArmed = false
		d.dropCompressor()
		d.sink.w = nil
	}
	c.msem.unlock()
}

// releaseCompressor gives the kept compressor back to the pool now, unless
// a message is being written (then that message ends it: see endMessage).
func (c *Conn) releaseCompressor() {
	if !c.msem.tryLock() {
		return
	}
	c.deflate.dropCompressor()
	c.deflate.sink.w = nil
	c.msem.unlock()
}

// sendfileFrames counts frames whose payload went through sendfile; tests
// read it to tell the zero-copy path from the fallback.
var sendfileFrames atomic.Int64

// FileFrames reports whether frame payloads can go from a file straight to
// the socket: on a server (unmasked frames) writing uncompressed to a
// plain TCP connection on Linux (sock.Socket.CanSendFile). TLS,
// compression and client masking need the bytes in user space.
func (s *streamSink) FileFrames() bool {
	return s.c.sock.CanSendFile() && !s.c.client && s.rsv == 0
}

// WriteFrameFromFile writes one frame's header, then lets the kernel send
// its payload from f. A payload cut short breaks the connection.
func (s *streamSink) WriteFrameFromFile(f binstream.File, n int64, first, fin bool) (int64, error) {
	op, _ := s.frame(first) // FileFrames: no reserved bits
	s.c.peerCheck(int(min(n, pollFrame)))
	sent, err := s.writeFileFrame(f, n, op, fin)
	if err != nil {
		return sent, s.failed(err)
	}
	s.wentOut()
	s.fin = fin
	s.out += sent
	return sent, nil
}

// writeFileFrame is WriteFrameFromFile's frame under the write lock.
func (s *streamSink) writeFileFrame(f binstream.File, n int64, op conn.Opcode, fin bool) (int64, error) {
	c := s.c
	if err := c.lockWrite(s.ctx); err != nil {
		return 0, err
	}
	defer c.unlockWrite()
	if err := c.writable(); err != nil {
		return 0, err
	}
	stop := c.watch(s.ctx, writing)
	var hdr [conn.MaxHeaderSize]byte
	hn := conn.PutHeader(hdr[:], fin, 0, op, n, nil)
	k, err := c.sock.WriteMore(hdr[:hn], n > 0) // with n == 0 nothing follows to send it with
	var sent int64
	if err == nil {
		sent, err = c.sock.SendFile(f, n)
	}
	stop()
	if err != nil {
		// Once the header went out, any failure leaves a broken frame.
		return sent, c.writeFailed(s.ctx, k, err)
	}
	sendfileFrames.Add(1)
	return sent, nil
}
