//go:build !js

package wsio

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/sock"
)

// writeFrame sends one frame under the write lock. Before a data frame,
// when no goroutine is reading, the socket is looked at first (peerCheck),
// so that a close frame the peer sent fails the frame with the peer's
// *CloseError rather than going unnoticed; the caller of a data frame
// holds the data-message slot.
func (c *Conn) writeFrame(ctx context.Context, fin bool, rsv byte, op conn.Opcode, p []byte) error {
	if !op.IsControl() {
		c.peerCheck(len(p))
	}
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	err := c.writeFrameLocked(ctx, fin, rsv, op, p, 0)
	c.unlockWrite()
	return err
}

// writeScratchFrame is writeFrame for a data frame whose payload nobody
// reads after the call (frameScratch). It is a function of its own, not a
// parameter of writeFrame, because every caller of writeFrame reserves
// room for its parameters in its own frame, on the path a handler's
// stack must fit.
func (c *Conn) writeScratchFrame(ctx context.Context, fin bool, rsv byte, op conn.Opcode, p []byte) error {
	c.peerCheck(len(p))
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	err := c.writeFrameLocked(ctx, fin, rsv, op, p, frameScratch)
	c.unlockWrite()
	return err
}

// lockWrite takes the writer. Pongs queued by the reader go out first, so
// they are not overtaken by frames written after their ping was read.
func (c *Conn) lockWrite(ctx context.Context) error {
	if err := c.lockErr(c.wsem.lock(ctx, c.closing.done)); err != nil {
		return err
	}
	if c.pongPending.Load() {
		c.writePendingPongs()
	}
	return nil
}

func (c *Conn) unlockWrite() { c.wsem.unlock() }

// frameHow is what writeFrameLocked may assume of a frame: a set of the
// flags below, or none.
type frameHow uint8

const (
	// frameClosing: the frame goes out whether or not the connection is
	// writable (the close frame itself; a pong whose caller checked that
	// no close frame went before it).
	frameClosing frameHow = 1 << iota
	// frameScratch: nobody reads the payload after the call, so a client
	// masks it in place.
	frameScratch
)

// writeFrameLocked writes a frame; the caller holds wsem. Once a close
// frame was sent nothing else may follow it.
func (c *Conn) writeFrameLocked(ctx context.Context, fin bool, rsv byte, op conn.Opcode, p []byte, how frameHow) error {
	if c.werr != nil {
		return c.werr
	}
	if how&frameClosing == 0 {
		if err := c.writable(); err != nil {
			return err
		}
	}
	stop := c.watch(ctx, writing)
	var n int
	var err error
	if c.sock != nil && sock.Writev && (!c.client || how&frameScratch != 0) {
		// A frame on a socket whose payload needs no masking, or may be
		// masked in place: the header goes out with the payload in one
		// writev, neither copied.
		var hn int
		if c.client {
			hn = c.maskScratch(fin, rsv, op, p)
		} else {
			hn = conn.PutHeader(c.whdr[:], fin, rsv, op, int64(len(p)), nil)
		}
		n, err = c.sock.Write(c.whdr[:hn], p)
	} else {
		n, err = c.writeStream(fin, rsv, op, p)
	}
	stop()
	return c.writeFailed(ctx, n, err)
}

// maskScratch masks client frame payload p in place with a new key and
// encodes the frame's header in c.whdr, returning its length. The caller
// holds wsem. It is a call of its own so that writeFrameLocked's frame,
// under every write, does not hold the key.
//
//go:noinline
func (c *Conn) maskScratch(fin bool, rsv byte, op conn.Opcode, p []byte) int {
	key := newMaskKey()
	conn.Mask(key, 0, p)
	return conn.PutHeader(c.whdr[:], fin, rsv, op, int64(len(p)), &key)
}

// writeFailed turns the result of writing one frame into the error to
// return: nil; a deadline or cancellation that struck before any byte
// went out, after which the stream is intact and the call may be retried;
// or a broken connection. A deadline error while ctx is done is taken
// as ctx's doing (watch forces one when ctx ends), so the error then
// wraps ctx.Err(), not the deadline.
func (c *Conn) writeFailed(ctx context.Context, n int, err error) error {
	if err == nil {
		return nil
	}
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	if n == 0 && timeout && c.State() != Closed {
		if ctx.Err() != nil {
			return fmt.Errorf("websocket: write canceled: %w", ctx.Err())
		}
		return err
	}
	if timeout && ctx.Err() != nil {
		err = fmt.Errorf("canceled mid-frame: %w", ctx.Err())
	}
	return c.writeBroken(err)
}

// messageBroken ends the connection after a data message was cut short:
// its first frame went out, a later one could not (err), and RFC 6455
// (5.4) lets nothing but the rest of that message, and control frames,
// follow. The error returned is a *CloseError (1006) whose cause wraps
// err, unless the connection had already ended otherwise.
func (c *Conn) messageBroken(err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	c.abort(fmt.Errorf("message cut short: %w", err))
	return c.closeError()
}

// writable reports why no frame may be written now, if so: a broken
// stream, or a close frame already sent. The caller holds wsem.
func (c *Conn) writable() error {
	if c.werr != nil {
		return c.werr
	}
	if c.closing.has(closeClaimed) || c.State() == Closed {
		if e := c.closeError(); e != nil {
			return e
		}
		return ErrClosed
	}
	return nil
}

// writeBroken records a write that failed part way through a frame: the
// stream is corrupt, so the connection is torn down. A peer that closed
// and then gave up on us (the write failed with a reset or a broken pipe)
// may have left its close frame in our receive buffer: it is read first
// (pollPeer), and is then how the connection ended. The caller holds wsem.
func (c *Conn) writeBroken(err error) error {
	if c.State() != Closed {
		c.pollPeer(true)
		c.abort(fmt.Errorf("write failed: %w", err))
	}
	c.werr = c.closeError() // a *CloseError: it matches ErrClosed and unwraps to the cause
	return c.werr
}

// smallFrame is the largest payload copied next to its header so the
// frame goes out in one write.
const smallFrame = 32<<10 - conn.MaxHeaderSize

// writeBuf is a pooled frame buffer: frames up to smallFrame are encoded
// in it whole; a larger server frame is written as its header from buf
// and the caller's payload in one writev, and a larger client frame is
// masked through a bigWrite buffer, taken only then.
type writeBuf struct {
	buf [32 << 10]byte
	vec net.Buffers
	arr [2][]byte
}

// bigWrite is the size of the buffer a client masks a frame larger than
// smallFrame through: the frame goes out in writes of up to bigWrite
// bytes, the first one starting with its header.
const bigWrite = 256 << 10

var (
	writePool    = sync.Pool{New: func() any { return new(writeBuf) }}
	bigWritePool = sync.Pool{New: func() any { b := make([]byte, bigWrite); return &b }}
)

// writeStream encodes and writes one frame, masking it on a client, for a
// client frame or a frame on a stream that is not a plain socket; it
// returns how many bytes reached the stream.
func (c *Conn) writeStream(fin bool, rsv byte, op conn.Opcode, p []byte) (int, error) {
	var mask *[4]byte
	var key [4]byte
	if c.client {
		key = newMaskKey()
		mask = &key
	}
	wb := writePool.Get().(*writeBuf)
	defer writePool.Put(wb)
	buf := wb.buf[:]
	hn := conn.PutHeader(buf, fin, rsv, op, int64(len(p)), mask)
	if len(p) > smallFrame {
		if !c.client {
			// Header and payload in one system call where the stream
			// supports it (TCP: writev), else two writes.
			wb.arr = [2][]byte{buf[:hn], p}
			wb.vec = wb.arr[:]
			var n int64
			var err error
			if s, ok := c.rwc.(*h2Stream); ok {
				n, err = s.writeBuffers(wb.vec) // one flush, so no DATA frame holds the header alone
			} else {
				n, err = wb.vec.WriteTo(c.rwc)
			}
			wb.arr, wb.vec = [2][]byte{}, nil
			return int(n), err
		}
		bp := bigWritePool.Get().(*[]byte)
		defer bigWritePool.Put(bp)
		buf = *bp
		copy(buf, wb.buf[:hn])
	}
	off, pos, total := hn, 0, 0
	for {
		k := min(len(buf)-off, len(p))
		if c.client {
			pos = conn.MaskCopy(key, pos, buf[off:], p[:k])
		} else {
			copy(buf[off:], p[:k])
		}
		n, err := c.rwc.Write(buf[:off+k])
		total += n
		if err != nil {
			return total, err
		}
		p = p[k:]
		if len(p) == 0 {
			return total, nil
		}
		off = 0
	}
}

// Mask keys come from a ChaCha8 generator (cryptographically strong)
// seeded from crypto/rand, pooled so no key costs a system call or a lock.
var rngPool = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	return rand.NewChaCha8(seed)
}}

func newMaskKey() [4]byte {
	r := rngPool.Get().(*rand.ChaCha8)
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], uint32(r.Uint64()))
	rngPool.Put(r)
	return k
}
