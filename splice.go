//go:build !js

package wsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/sock"
)

// spliceTo writes the rest of binary message seq to f, handing each
// frame's payload from the TCP socket to the file (sock.Socket.SpliceTo)
// so the kernel can splice it; ctx (nil or not) governs it as it does
// readBinary. It reports handled=false, having read nothing, when the
// message or connection does not allow it (server role: masked payloads;
// compression; TLS) or the message cannot be read on (the caller's
// fallback reports why).
func (c *Conn) spliceTo(ctx context.Context, seq uint64, f *os.File) (total int64, handled bool, err error) {
	if !c.sock.CanSplice() || !c.client {
		return 0, false, nil
	}
	if ctx == nil {
		c.rsem.lockAlways()
	} else if err := c.rsem.lock(ctx, nil); err != nil {
		return 0, true, err
	}
	defer c.unlockRead()
	if c.binaryState(seq) != nil || c.compressed {
		return 0, false, nil
	}
	if ctx != nil {
		stop := c.watch(ctx, reading)
		defer func() {
			stop()
			err = readCanceled(ctx, err)
		}()
	}
	for {
		switch {
		case c.fs.remaining > 0 && c.rd.buffered() > 0:
			k := int(min(int64(c.rd.buffered()), c.fs.remaining))
			n, werr := f.Write(c.rd.peek()[:k])
			c.rd.consume(n)
			c.fs.remaining -= int64(n)
			total += int64(n)
			if werr != nil {
				return total, true, werr
			}
		case c.fs.remaining > 0:
			n, rerr := c.sock.SpliceTo(f, c.fs.remaining)
			c.fs.remaining -= n
			total += n
			spliceFrames.Add(1)
			if n > 0 {
				c.rd.got()
			}
			if rerr == nil && n == 0 {
				rerr = io.EOF
			}
			if rerr != nil {
				var pe *os.PathError
				if errors.As(rerr, &pe) {
					return total, true, rerr // writing the file failed
				}
				return total, true, cutShort(c.readFailed(rerr))
			}
		case c.fs.hdr.Fin:
			c.binaryEnded()
			return total, true, nil
		default:
			if err := c.nextFragment(); err != nil {
				return total, true, cutShort(err)
			}
		}
	}
}

// relaySpliceFrames and relayCopyFrames count the frames whose payload
// relayFrames moved from socket to socket, and through a buffer; tests
// read them to tell those paths from the others.
var relaySpliceFrames, relayCopyFrames atomic.Int64

// canRelayFrames reports whether a message received on src may go to w by
// relayFrames: w sends uncompressed frames, w is open, and both
// connections are TCP sockets that sock.Socket.Relay can join. Whether the
// message itself is compressed is known only under src's read lock, so
// relayFrames looks at that.
func (w *BinaryWriter) canRelayFrames(src *Conn) bool {
	return src != nil && w.fw == nil && w.sink.rsv == 0 &&
		src.sock.CanRelay() && w.c.sock.CanRelay() && w.check() == nil
}

// relayFrames relays the rest of binary message m to w (see relayFrom),
// frame by frame, each frame's payload passing from socket to socket as
// it arrives: inside the kernel (splice) when it arrives unmasked (src is
// a client) and leaves unmasked (w's connection is a server); else
// through a buffer, where one pass turns src's masking into w's
// (remasker).
//
// The fragment that opens w's message, or the rest of a fragment w holds,
// is filled through the fragment buffer first, so every frame after it is
// a continuation with nothing pending before it. Then, for each frame of
// m, in pieces of at most the fragment size, relayFrame writes one
// non-final frame: its header and the bytes src has buffered, then the
// rest from src's socket. The message still ends with w.Close.
// m's limits are charged as a read charges them: an uncompressed frame's
// declared length as its header is read (nextFragment).
//
// Either side's ctx governs the whole relay: the end of either forces the
// deadlines of both sockets, so a splice waiting on either returns. The
// first error of either side is returned (see relayFrame). done=false,
// with the count relayed so far, hands the rest to the general path: the
// message is compressed, or cannot be read on (that path reports why).
func (w *BinaryWriter) relayFrames(m Message) (total int64, done bool, err error) {
	if _, err := w.bw.Write(nil); err != nil {
		return 0, true, err // the stream has ended (a failed frame, Close)
	}
	if pending := w.bw.Written() - w.sink.out; !w.sink.sent || pending > 0 {
		need := int64(max(w.c.opts.FragmentSize, 1)) - pending
		n, err := w.bw.ReadFrom(&io.LimitedReader{R: messageReader{&m}, N: need})
		if err != nil || n < need { // n < need: m ended
			return n, true, err
		}
		total = n
	}
	src, srcCtx := m.c, m.ctx
	if srcCtx == nil {
		src.rsem.lockAlways()
	} else if err := src.rsem.lock(srcCtx, nil); err != nil {
		return total, true, err
	}
	defer src.unlockRead()
	if src.binaryState(m.seq) != nil || src.compressed {
		return total, false, nil
	}
	var p *sock.Pipe
	var buf []byte
	if src.client && !w.c.client {
		if p, err = sock.NewPipe(); err != nil {
			return total, false, nil
		}
		defer p.Close()
	} else {
		bp := bigWritePool.Get().(*[]byte)
		defer bigWritePool.Put(bp)
		buf = *bp
	}
	ctx, release := eitherDone(srcCtx, w.sink.ctx)
	defer release()
	stop := src.watch(ctx, reading)
	defer stop()
	for {
		switch {
		case src.fs.remaining > 0:
			n, err := w.relayFrame(src, p, buf, ctx, srcCtx)
			total += n
			if err != nil {
				return total, true, err
			}
		case src.fs.hdr.Fin:
			src.binaryEnded()
			return total, true, nil
		default:
			if err := src.nextFragment(); err != nil {
				return total, true, w.sourceFailed(srcCtx, cutShort(err))
			}
		}
	}
}

// relayFrame writes one frame of relayFrames' relay from src, at most a
// fragment of what is left of src's current frame, and returns how many
// payload bytes went out. The frame's header goes out with MSG_MORE
// together with the bytes src has buffered; the rest goes through pipe p
// (sock.Socket.Relay) when p is not nil, else through buf (relayCopy).
// The caller holds src's read lock, with src's read watch on ctx (either
// side's); the frame holds w's write lock, with w's write watch on ctx,
// as any frame of w's does.
//
// A frame cut short leaves w's connection mid-frame, so it is broken
// (1006, as a write cut short is): w's error is a *CloseError from then
// on. When src failed (ended, broke, or passed a deadline), that is also
// m's failure, a read cut short (cutShort) as Read would report it, and
// the error returned, unless the end of w's ctx forced it. When only w's
// side failed, m can be read on after what left src's socket, and w's
// error is returned.
func (w *BinaryWriter) relayFrame(src *Conn, p *sock.Pipe, buf []byte, ctx, srcCtx context.Context) (int64, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	s, dst := &w.sink, w.c
	n := min(src.fs.remaining, int64(max(dst.opts.FragmentSize, 1)))
	dst.peerCheck(int(min(n, pollFrame)))
	if err := dst.lockWrite(s.ctx); err != nil {
		w.err = s.failed(err)
		return 0, w.err
	}
	defer dst.unlockWrite()
	if err := dst.writable(); err != nil {
		w.err = s.failed(err)
		return 0, w.err
	}
	wb := writePool.Get().(*writeBuf)
	defer writePool.Put(wb)
	// The buffered bytes go before any from the socket: when more are
	// buffered than fit beside the header, the frame carries them alone.
	b := min(int64(src.rd.buffered()), int64(len(wb.buf)-conn.MaxHeaderSize))
	if b < int64(src.rd.buffered()) {
		n = min(n, b)
	}
	b = min(b, n)
	var x remasker
	var mask *[4]byte
	if src.fs.hdr.Masked {
		x.in, x.inPos = src.fs.hdr.Mask, src.fs.maskPos
	}
	if dst.client {
		x.out = newMaskKey()
		mask = &x.out
	}
	hn := conn.PutHeader(wb.buf[:], false, 0, conn.OpContinuation, n, mask)
	copy(wb.buf[hn:], src.rd.peek()[:b])
	if p == nil {
		x.apply(wb.buf[hn : hn+int(b)])
	}

	stop := dst.watch(ctx, writing)
	k, err := dst.sock.WriteMore(wb.buf[:hn+int(b)], n > b)
	var sent, moved int64 // payload bytes gone out from src's buffer and socket
	var serr error
	if err == nil {
		sent = b
		src.rd.consume(int(b))
		src.fs.remaining -= b
		if n > b {
			var taken int64
			if p != nil {
				moved, taken, serr, err = dst.sock.Relay(src.sock, p, n-b)
				relaySpliceFrames.Add(1)
			} else {
				moved, taken, serr, err = relayCopy(src.sock, dst.sock, buf, n-b, &x)
				relayCopyFrames.Add(1)
			}
			src.fs.remaining -= taken
			if taken > 0 {
				src.rd.got()
			}
		}
		src.fs.maskPos = x.inPos
	}
	stop()
	switch {
	case err == nil && serr == nil:
		s.out += n
		return n, nil
	case serr == nil: // w's side failed
		w.err = s.failed(dst.writeFailed(s.ctx, k+int(moved), err))
		if srcCtx != nil {
			return sent + moved, readCanceled(srcCtx, w.err)
		}
		return sent + moved, w.err
	}
	// src failed after the header went out.
	cause := fmt.Errorf("the relayed message ended mid-frame: %w", serr)
	if errors.Is(serr, os.ErrDeadlineExceeded) {
		if s.ctx.Err() != nil {
			cause = fmt.Errorf("canceled mid-frame: %w", s.ctx.Err())
		} else if srcCtx != nil && srcCtx.Err() != nil {
			cause = fmt.Errorf("canceled mid-frame: %w", srcCtx.Err())
		}
	}
	w.err = s.failed(dst.writeBroken(cause))
	return sent + moved, w.sourceFailed(srcCtx, cutShort(src.readFailed(serr)))
}

// sourceFailed is the error for a relay that src's side stopped (err,
// already cut short). A passed deadline that the end of w's ctx forced
// (m's ctx still live) is w's failure, so it is w's error that says so;
// m can be read on. Anything else is err as a read of m reports it under
// srcCtx.
func (w *BinaryWriter) sourceFailed(srcCtx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && (srcCtx == nil || srcCtx.Err() == nil) && w.sink.ctx.Err() != nil {
		if werr := w.check(); werr != nil {
			return werr
		}
	}
	if srcCtx != nil {
		return readCanceled(srcCtx, err)
	}
	return err
}

// eitherDone returns a context that is done when a or b is (a may be
// nil), and the function that releases it.
func eitherDone(a, b context.Context) (context.Context, func()) {
	if a == nil || a.Done() == nil {
		return b, nop
	}
	if b.Done() == nil {
		return a, nop
	}
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// relayCopy moves the next n bytes of src to dst through buf, re-masking
// them (x) on the way: the copying twin of sock.Socket.Relay, with the
// same results. Each read waits until src has bytes (src's read deadline
// applies) and takes at most what buf holds; each write waits while dst
// is full (dst's write deadline applies).
func relayCopy(src, dst *sock.Socket, buf []byte, n int64, x *remasker) (moved, taken int64, srcErr, dstErr error) {
	for moved < n {
		k, err := src.ReadInto(buf[:min(n-moved, int64(len(buf)))], true)
		if k == 0 {
			if err == nil {
				err = io.ErrNoProgress // not expected: a waiting read returns bytes or an error
			}
			return moved, taken, err, nil
		}
		taken += int64(k)
		x.apply(buf[:k])
		d, werr := dst.Write(nil, buf[:k])
		moved += int64(d)
		if werr != nil {
			return moved, taken, nil, werr
		}
		if err != nil {
			return moved, taken, err, nil
		}
	}
	return moved, taken, nil, nil
}

// remasker turns relayed payload bytes masked with key in (from phase
// inPos of its cycle; a zero key when they arrived unmasked) into bytes
// masked with key out (from phase outPos; zero when they leave unmasked),
// in one pass over them.
type remasker struct {
	in, out       [4]byte
	inPos, outPos int
}

// apply re-masks p, the next bytes of the payload, in place.
func (x *remasker) apply(p []byte) {
	var k [4]byte
	for j := range k {
		k[j] = x.in[(x.inPos+j)&3] ^ x.out[(x.outPos+j)&3]
	}
	conn.Mask(k, 0, p)
	x.inPos = (x.inPos + len(p)) & 3
	x.outPos = (x.outPos + len(p)) & 3
}
