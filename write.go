package wsio

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/klauspost/compress/flate"
	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/limits"
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
	if err := c.lockErr(c.msem.lock(ctx, c.done)); err != nil {
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
	return c.lockErr(c.msem.lock(ctx, c.done))
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

// Ping sends a ping with payload (at most 125 bytes) and waits for a pong
// with the same payload, ctx's end, or the connection's close. The pong is
// seen by whichever goroutine is reading, so something must be calling
// Next. A peer may answer only the latest of several pings (RFC 6455
// allows it), so give pings distinct payloads when sending many.
//
// If ctx is already done, Ping returns ctx.Err() and sends nothing. If
// ctx ends after part of the ping frame went out, the connection is
// closed (1006) and the error matches both ctx.Err() and ErrClosed; if it
// ends at any other time (before the frame, or while Ping waits for the
// pong), the error matches ctx.Err() and the connection is unaffected.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(payload) > limits.MaxControlPayload {
		return fmt.Errorf("websocket: ping payload of %d bytes exceeds 125", len(payload))
	}
	w := c.pings.add(payload)
	defer c.pings.remove(w)
	if err := c.writeFrame(ctx, true, 0, conn.OpPing, payload); err != nil {
		return err
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.closeError()
	}
}

// writeData sends one frame of a data message; the caller holds the
// data-message slot. When no goroutine is reading, the socket is looked at
// first (peerCheck), so that a close frame the peer sent fails the frame
// with the peer's *CloseError rather than going unnoticed.
func (c *Conn) writeData(ctx context.Context, fin bool, rsv byte, op conn.Opcode, p []byte) error {
	c.peerCheck(len(p))
	return c.writeFrame(ctx, fin, rsv, op, p)
}

// writeFrame sends one frame under the write lock.
func (c *Conn) writeFrame(ctx context.Context, fin bool, rsv byte, op conn.Opcode, p []byte) error {
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	err := c.writeFrameLocked(ctx, fin, rsv, op, p, false)
	c.unlockWrite()
	return err
}

// lockWrite takes the writer. Pongs queued by the reader go out first, so
// they are not overtaken by frames written after their ping was read.
func (c *Conn) lockWrite(ctx context.Context) error {
	if err := c.lockErr(c.wsem.lock(ctx, c.done)); err != nil {
		return err
	}
	if c.pongPending.Load() {
		c.writePendingPongs()
	}
	return nil
}

func (c *Conn) unlockWrite() { c.wsem.unlock() }

// writeFrameLocked writes a frame; the caller holds wsem. Once a close
// frame was sent nothing else may follow it.
func (c *Conn) writeFrameLocked(ctx context.Context, fin bool, rsv byte, op conn.Opcode, p []byte, isClose bool) error {
	if c.werr != nil {
		return c.werr
	}
	if !isClose {
		if err := c.writable(); err != nil {
			return err
		}
	}
	stop := c.watchWrite(ctx)
	n, err := c.writeRaw(fin, rsv, op, p)
	stop()
	return c.writeFailed(ctx, n, err)
}

// writeFailed turns the result of writing one frame into the error to
// return: nil; a deadline or cancellation that struck before any byte
// went out, after which the stream is intact and the call may be retried;
// or a broken connection. A deadline error while ctx is done is taken
// as ctx's doing (watchWrite forces one when ctx ends), so the error then
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
	c.mu.Lock()
	sent := c.closeSent
	c.mu.Unlock()
	if sent || c.State() == Closed {
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
// masked through big, a bigger buffer taken only then.
type writeBuf struct {
	buf [32 << 10]byte
	vec net.Buffers
	arr [2][]byte
}

var (
	writePool    = sync.Pool{New: func() any { return new(writeBuf) }}
	bigWritePool = sync.Pool{New: func() any { b := make([]byte, bigWrite); return &b }}
)

// bigWrite is the buffer a client masks large frames through: a 64 KiB
// message goes out in one write, a 512 KiB fragment in two.
const bigWrite = 256 << 10

// writeRaw encodes and writes one frame, masking it on a client. It
// returns how many bytes reached the stream.
func (c *Conn) writeRaw(fin bool, rsv byte, op conn.Opcode, p []byte) (int, error) {
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
			n, err := wb.vec.WriteTo(c.rwc)
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

// Pending pongs wait in a small FIFO, allocated only while it is not empty.
// When pings arrive faster than pongs can be written, the oldest are
// dropped: RFC 6455 (5.5.3) lets an endpoint answer only the latest ping,
// so a ping flood costs bounded memory.
const maxPendingPongs = 16

type pongQueue struct {
	payload     [maxPendingPongs][limits.MaxControlPayload]byte
	size        [maxPendingPongs]uint8
	head, count int
}

var pongQueuePool = sync.Pool{New: func() any { return new(pongQueue) }}

// queuePong queues a pong for payload p. It is written by whichever
// goroutine next takes the writer, or by a short-lived flusher goroutine;
// never by the reader, so a peer that stops reading cannot stall the
// reading of its own frames.
func (c *Conn) queuePong(p []byte) {
	c.pongMu.Lock()
	q := c.pongQ
	if q == nil {
		q = pongQueuePool.Get().(*pongQueue)
		c.pongQ = q
	}
	if q.count == maxPendingPongs {
		q.head = (q.head + 1) % maxPendingPongs
		q.count--
	}
	i := (q.head + q.count) % maxPendingPongs
	q.size[i] = uint8(copy(q.payload[i][:], p))
	q.count++
	c.pongPending.Store(true)
	c.pongMu.Unlock()
	if c.pongBusy.CompareAndSwap(false, true) {
		go c.pongLoop()
	}
}

// pongLoop writes pending pongs when the writer is free, and ends when none
// is pending (or the connection closed).
func (c *Conn) pongLoop() {
	for {
		if err := c.lockWrite(context.Background()); err != nil {
			c.pongBusy.Store(false)
			return
		}
		c.unlockWrite()
		c.pongBusy.Store(false)
		if !c.pongPending.Load() || !c.pongBusy.CompareAndSwap(false, true) {
			return
		}
	}
}

// writePendingPongs writes the queued pongs in order; the caller holds
// wsem. It has no deadline of its own: like any write it waits while the
// peer does not read, and ends when the connection closes.
func (c *Conn) writePendingPongs() {
	var b [limits.MaxControlPayload]byte
	for {
		c.pongMu.Lock()
		q := c.pongQ
		if q == nil || q.count == 0 {
			if q != nil {
				c.pongQ = nil
				*q = pongQueue{}
				pongQueuePool.Put(q)
			}
			c.pongPending.Store(false)
			c.pongMu.Unlock()
			return
		}
		n := copy(b[:], q.payload[q.head][:q.size[q.head]])
		q.head = (q.head + 1) % maxPendingPongs
		q.count--
		c.pongMu.Unlock()
		// Pongs may still precede our close frame, but never follow it.
		if c.closeWritten || c.writeFrameLocked(context.Background(), true, 0, conn.OpPong, b[:n], true) != nil {
			return
		}
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

// pingWaiters are the Ping calls waiting for their pong.
type pingWaiters struct {
	mu   sync.Mutex
	list []*pingWaiter
}

type pingWaiter struct {
	payload string
	ch      chan struct{}
}

func (p *pingWaiters) add(payload []byte) *pingWaiter {
	w := &pingWaiter{payload: string(payload), ch: make(chan struct{})}
	p.mu.Lock()
	p.list = append(p.list, w)
	p.mu.Unlock()
	return w
}

func (p *pingWaiters) remove(w *pingWaiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.list {
		if x == w {
			p.list = append(p.list[:i], p.list[i+1:]...)
			return
		}
	}
}

func (p *pingWaiters) notify(payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.list[:0]
	for _, w := range p.list {
		if w.payload == string(payload) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	clear(p.list[len(kept):])
	p.list = kept
}

// keepalive pings on a timer and closes the connection when a pong is
// late. It costs two timers, no goroutine.
type keepalive struct {
	c        *Conn
	interval time.Duration
	timeout  time.Duration
	mu       sync.Mutex
	tick     *time.Timer
	expiry   *time.Timer
	waiting  bool
	stopped  bool
	heard    atomic.Bool // bytes arrived since the last ping (set by the reader)
}

func (c *Conn) startKeepalive() {
	k := &keepalive{c: c, interval: c.opts.KeepaliveInterval, timeout: c.opts.KeepaliveTimeout}
	c.ka = k
	c.rd.heard = &k.heard
	k.mu.Lock()
	k.tick = time.AfterFunc(firstPing(k.interval), k.ping)
	k.mu.Unlock()
}

// firstPing is when a new connection sends its first keepalive ping: up
// to a tenth of the interval early, at random, so that thousands of
// connections dialed within a second do not all wake at once, every
// interval, for as long as they live.
func firstPing(interval time.Duration) time.Duration {
	if spread := interval / 10; spread > 0 {
		return interval - rand.N(spread)
	}
	return interval
}

func (k *keepalive) ping() {
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	k.waiting = true
	k.heard.Store(false)
	if k.expiry == nil {
		k.expiry = time.AfterFunc(k.timeout, k.expire)
	} else {
		k.expiry.Reset(k.timeout)
	}
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	_ = k.c.writeFrame(ctx, true, 0, conn.OpPing, nil)
}

func (k *keepalive) pong() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.waiting || k.stopped {
		return
	}
	k.waiting = false
	k.expiry.Stop()
	k.tick.Reset(k.interval)
}

func (k *keepalive) expire() {
	if !k.overdue() {
		return
	}
	// Nobody may be reading (a handler that only sends): the pong may be
	// waiting in the socket. Look, as a read would; pollPeer leaves the
	// socket to a goroutine that holds the read lock, and one that reads
	// sets heard.
	k.c.pollPeer(false)
	if k.overdue() {
		k.c.abort(fmt.Errorf("%w: no pong within %v", ErrKeepalive, k.timeout))
	}
}

// overdue reports whether the pong is late. Bytes that arrived after the
// ping count as a sign of life (the pong may be queued behind a long
// message): then the next ping is scheduled instead.
func (k *keepalive) overdue() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	late := k.waiting && !k.stopped
	if late && k.heard.Load() {
		late = false
		k.waiting = false
		k.tick.Reset(k.interval)
	}
	return late
}

func (k *keepalive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.tick.Stop()
	if k.expiry != nil {
		k.expiry.Stop()
	}
}

// Prepared is a message framed once and sent to many connections, as
// Broadcast does. It holds the unmasked frames, so it serves servers; a
// client connection frames it anew with its own masks. For connections
// that negotiated permessage-deflate without server context takeover (and
// the default 15-bit window), it also holds the message compressed once,
// per level, made when first needed.
type Prepared struct {
	kind    Kind
	payload []byte
	frames  []byte
	size    int

	mu       sync.Mutex
	deflated [10][]byte // compressed frames by level
}

// Prepare frames data as a message of the given kind, cut into frames of
// fragmentSize bytes (0 means the default).
func Prepare(kind Kind, data []byte, fragmentSize int) (*Prepared, error) {
	if kind != Text && kind != Binary {
		return nil, errors.New("websocket: Prepare: unknown message kind")
	}
	if kind == Text && !textframe.ValidString(unsafe.String(unsafe.SliceData(data), len(data))) {
		return nil, &fault{msg: prefix + "Prepare: the text is not valid UTF-8", kind: ErrInvalidUTF8}
	}
	m := &Prepared{kind: kind, payload: data, size: or(fragmentSize, limits.DefaultFragmentSize)}
	m.frames = m.frame(data, 0)
	return m, nil
}

// frame cuts p into the message's frames, with rsv on the first.
func (m *Prepared) frame(p []byte, rsv byte) []byte {
	op := conn.OpText
	if m.kind == Binary {
		op = conn.OpBinary
	}
	frames := make([]byte, 0, len(p)+conn.MaxHeaderSize*(1+len(p)/m.size))
	for {
		n := min(len(p), m.size)
		var hdr [conn.MaxHeaderSize]byte
		hn := conn.PutHeader(hdr[:], n == len(p), rsv, op, int64(n), nil)
		frames = append(frames, hdr[:hn]...)
		frames = append(frames, p[:n]...)
		p = p[n:]
		op, rsv = conn.OpContinuation, 0
		if len(p) == 0 {
			return frames
		}
	}
}

// deflatedFrames returns the message compressed without context at level.
func (m *Prepared) deflatedFrames(level int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.deflated[level] == nil {
		var buf bytes.Buffer
		w := deflate.GetCompressor(level, 15, &buf, nil)
		_, _ = w.Write(m.payload)
		_ = w.Flush()
		deflate.PutCompressor(level, 15, w)
		z := bytes.TrimSuffix(buf.Bytes(), []byte(deflate.FlushMarker))
		m.deflated[level] = m.frame(z, conn.Rsv1)
	}
	return m.deflated[level]
}

// SendPrepared sends a prepared message, waiting for an open binary stream
// to end first instead of failing. Connections that compress with context
// takeover, and clients, compress and frame it themselves.
//
// If ctx is already done, SendPrepared returns ctx.Err() and sends
// nothing. If ctx ends before any of the message went out, the error
// matches ctx.Err() and the connection is unaffected; if it ends after
// part of the message went out, the connection is closed (1006) and the
// error matches both ctx.Err() and ErrClosed (see Conn).
func (c *Conn) SendPrepared(ctx context.Context, m *Prepared) error {
	if err := c.waitMessage(ctx); err != nil {
		return err
	}
	op := conn.OpText
	if m.kind == Binary {
		op = conn.OpBinary
	}
	frames := m.frames
	if c.compress(ctx, len(m.payload)) {
		if d := c.deflate; c.client || d.outTakeover || d.outBits != 15 {
			return c.sendCompressed(ctx, op, m.payload) // gives the slot back
		}
		frames = m.deflatedFrames(c.deflate.level)
	} else if c.client {
		defer c.endMessage()
		if m.kind == Text {
			return c.writeData(ctx, true, 0, conn.OpText, m.payload)
		}
		return c.sendFragmented(ctx, m.payload)
	}
	defer c.endMessage()
	c.peerCheck(len(frames))
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	defer c.unlockWrite()
	if err := c.writable(); err != nil {
		return err
	}
	stop := c.watchWrite(ctx)
	n, err := c.rwc.Write(frames)
	stop()
	return c.writeFailed(ctx, n, err)
}

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
