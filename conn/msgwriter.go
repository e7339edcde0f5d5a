package conn

import (
	"context"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/wsio/wsio/binstream"
)

// MessageWriter is an open binary message, returned by BeginBinary: an
// io.WriteCloser (and io.ReaderFrom) whose bytes are cut into frames of
// the fragment size. When permessage-deflate is on, the bytes are
// compressed as they are written and the fragment size applies to the
// compressed frames. Close sends the final frame.
//
// When the peer closes the connection while the message is being written
// (for example with 1009, because the message is over its limit), the
// stream fails with the peer's *CloseError: the next frame it would send
// (from a Write or ReadFrom that fills a fragment, or from Close) is not
// sent, that call returns the error, every later call returns it too, and
// so does the connection's Close. This holds with no goroutine reading, on
// a plain TCP or Unix socket: the stream looks at what has arrived before
// each fragment of 128 KiB or more (every full fragment, with the default
// fragment size of 512 KiB), and on a connection that has never been read
// before smaller ones too, at most about once a millisecond (see Conn).
// So a sender that never reads learns of the close within a fragment or
// so of its arrival, not after sending the rest of the message into the
// void. Over TLS, a goroutine must read the connection (Next) for the
// stream to learn of it.
//
// A MessageWriter is for one goroutine at a time; the connection under it
// is safe for concurrent use.
type MessageWriter struct {
	c    *Conn
	bw   binstream.Writer
	sink streamSink

	fw   *flate.Writer // nil when the message is not compressed
	keep bool          // the connection keeps fw after the message
	hold [4]byte       // compressed bytes held back: the flush marker to strip
	held int
	err  error
}

// init starts a message of kind op, compressed or not. The caller holds
// the data-message slot.
func (w *MessageWriter) init(c *Conn, ctx context.Context, op Opcode, compress bool) {
	keep := false
	if compress {
		keep, _ = c.deflate.plan()
	}
	w.start(c, ctx, op, compress, keep)
}

// start is init with the compressor's fate decided: keep tells whether
// the connection keeps it after the message (see deflateState.plan).
func (w *MessageWriter) start(c *Conn, ctx context.Context, op Opcode, compress, keep bool) {
	w.c = c
	w.sink = streamSink{c: c, ctx: ctx, op: op}
	w.fw, w.keep, w.held, w.err = nil, keep, 0, nil
	if compress {
		d := c.deflate
		w.sink.rsv = rsv1
		d.sink.w = (*compressedSink)(w)
		switch {
		case d.fw != nil:
			w.fw = d.takeCompressor() // kept from the last message: it goes on with its context
		case d.outTakeover:
			w.fw = getCompressor(d.level, d.outBits, &d.sink, lastBytes(d.outHist, sendHistory(d.outBits)))
		default:
			w.fw = getCompressor(d.level, d.outBits, &d.sink, nil)
		}
	}
	w.bw.Reset(&w.sink, c.opts.FragmentSize)
}

// Write sends p as the next bytes of the message.
func (w *MessageWriter) Write(p []byte) (int, error) {
	if w.fw == nil {
		return w.bw.Write(p)
	}
	if w.err != nil {
		return 0, w.err
	}
	if d := w.c.deflate; d.outTakeover {
		d.outHist = appendHistory(d.outHist, p, sendHistory(d.outBits))
	}
	n, err := w.fw.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// ReadFrom sends everything r yields until io.EOF; it does not end the
// message.
func (w *MessageWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.fw == nil {
		return w.bw.ReadFrom(r)
	}
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close sends the final frame and ends the message. Calling it again
// returns nil, or the error that ended the message.
func (w *MessageWriter) Close() error {
	if w.fw != nil {
		fw := w.fw
		w.fw = nil
		err := w.err
		if err == nil {
			err = fw.Flush()
		}
		d := w.c.deflate
		if err == nil && w.keep && w.c.State() != Closed && d.keepCompressor(fw) {
			w.c.armCompressorRelease()
		} else {
			putCompressor(d.level, d.outBits, fw)
		}
		d.sink.w = nil
		// A flush ends with the marker 00 00 FF FF, which RFC 7692 has the
		// sender remove; anything else held back is data.
		if err == nil && string(w.hold[:w.held]) != "\x00\x00\xff\xff" {
			_, err = w.bw.Write(w.hold[:w.held])
		}
		w.held = 0
		if err != nil {
			w.bw.Abort(err)
			return err
		}
	}
	return w.bw.Close()
}

// compressedSink receives the compressor's output and passes it on to the
// frame writer, always holding back the last 4 bytes.
type compressedSink MessageWriter

func (s *compressedSink) Write(b []byte) (int, error) {
	w := (*MessageWriter)(s)
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

// streamSink writes a message's frames to the connection.
type streamSink struct {
	c   *Conn
	ctx context.Context
	op  Opcode // OpText or OpBinary
	rsv byte   // reserved bits of the first frame
}

func (s *streamSink) WriteFrame(p []byte, first, fin bool) error {
	if first {
		return s.c.writeData(s.ctx, fin, s.rsv, s.op, p)
	}
	return s.c.writeData(s.ctx, fin, 0, OpContinuation, p)
}

func (s *streamSink) Done() { s.c.endMessage() }

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

// armCompressorRelease schedules the kept compressor's return to the pool.
// The caller holds the data-message slot.
func (c *Conn) armCompressorRelease() { c.deflate.idle.Reset(compressorIdle) }

// useDeflate installs what the handshake negotiated. The release timer is
// made here, once, so it is never written while others may read it.
func (c *Conn) useDeflate(st *deflateState) {
	if st == nil {
		return
	}
	st.idle = time.AfterFunc(time.Hour, c.releaseCompressor)
	st.idle.Stop()
	c.deflate = st
}

// releaseCompressor gives the kept compressor back to the pool, unless a
// message is being written (then that message re-arms the timer).
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
// plain TCP connection on Linux. TLS, compression and client masking need
// the bytes in user space.
func (s *streamSink) FileFrames() bool {
	_, tcp := s.c.nc.(*net.TCPConn)
	return tcp && !s.c.client && s.rsv == 0 && runtime.GOOS == "linux"
}

// WriteFrameFromFile writes one frame's header, then lets the kernel send
// its payload from f. A payload cut short breaks the connection.
func (s *streamSink) WriteFrameFromFile(f binstream.File, n int64, first, fin bool) (int64, error) {
	c := s.c
	op := OpContinuation
	if first {
		op = s.op
	}
	c.peerCheck(int(min(n, pollFrame)))
	if err := c.lockWrite(s.ctx); err != nil {
		return 0, err
	}
	defer c.unlockWrite()
	if err := c.writable(); err != nil {
		return 0, err
	}
	stop := c.watchWrite(s.ctx)
	defer stop()
	var hdr [MaxHeaderSize]byte
	hn := PutHeader(hdr[:], fin, 0, op, n, nil)
	tc := c.nc.(*net.TCPConn)
	var err error
	if n > 0 {
		err = writeHeaderMore(tc, hdr[:hn])
	} else {
		_, err = tc.Write(hdr[:hn]) // nothing follows to send it with
	}
	if err != nil {
		return 0, c.writeBroken(err)
	}
	sent, err := sendFileTo(tc, f, n)
	if err != nil {
		return sent, c.writeBroken(err)
	}
	sendfileFrames.Add(1)
	return sent, nil
}
