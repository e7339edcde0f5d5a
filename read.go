package wsio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/limits"
)

// Kind says whether a message is text or binary.
type Kind uint8

// The two kinds of data message.
const (
	Text   Kind = 1
	Binary Kind = 2
)

// String returns "text" or "binary".
func (k Kind) String() string {
	switch k {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return "unknown"
}

// Message is one received data message. A text message carries its whole
// content in Text. A binary message is a stream: Message is an io.Reader
// (and io.WriterTo) that reads the payload across all its frames and
// returns io.EOF at the end of the message; it is never buffered whole.
//
// A binary message stays readable until the next call to Next (one whose
// ctx is not already done), which discards whatever was left unread: from
// that call on, every read of the message fails with ErrStaleMessage,
// whatever came after it (another message, nothing yet, the end of the
// connection), and never yields bytes of a later message. A message cut
// short by the peer closing, the connection breaking, or Close discarding
// its rest fails with an error matching io.ErrUnexpectedEOF and ErrClosed,
// never io.EOF. Reading a text message's stream returns io.EOF at once.
//
// The context passed to the Next call that returned a binary message
// governs its reads, as an http.Request's context governs its Body: when
// it ends, a read in progress returns an error matching its Err (with
// errors.Is), and later reads return ctx.Err() at once, consuming nothing.
// So a ctx canceled as soon as Next returns leaves the message unreadable:
// cancel it once the message has been read. WithContext gives the message
// another context, to read on under.
type Message struct {
	// Kind is Text or Binary.
	Kind Kind
	// Text is the message when Kind is Text.
	Text string

	c   *Conn
	ctx context.Context // governs the reads of a binary message; nil when it can never end
	seq uint64          // the Conn's msgSeq when Next returned the message
}

// WithContext returns a copy of m whose reads ctx governs instead of the
// context given to Next; the copy and m read the same stream, so reading
// the copy resumes where a read of m stopped. Use it to go on reading a
// binary message after Next's context ended, or to bound its reads more
// tightly. It panics if ctx is nil, as http.Request.WithContext does.
func (m Message) WithContext(ctx context.Context) Message {
	if ctx == nil {
		panic("websocket: nil Context")
	}
	m.ctx = endable(ctx)
	return m
}

// endable returns ctx, or nil when ctx can never end (its Done channel is
// nil, as context.Background's is), so that reads under such a context
// cost no calls on it.
func endable(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return nil
	}
	return ctx
}

// Read reads the next bytes of a binary message. It blocks until at
// least one byte is available, the message ends (io.EOF), the connection
// fails, the connection's read deadline passes (an error wrapping
// os.ErrDeadlineExceeded) or the message's context ends (an error
// matching its Err). A context already done makes Read return its Err at
// once, consuming nothing.
//
// A read that the context or the read deadline interrupted leaves the
// message where it stopped, when the stream supports deadlines (a
// net.Conn, as from Dial and Accept): a later Read (through WithContext
// once the context has ended) resumes exactly there, and the rest of the
// message is intact. Inside a compressed message (permessage-deflate) an
// interrupted read cannot be resumed: it ends the connection, and the
// error also matches io.ErrUnexpectedEOF and ErrClosed. On a stream
// without deadlines, the context's end closes the connection.
//
// Once Next has been called again, Read fails with ErrStaleMessage.
func (m Message) Read(p []byte) (int, error) {
	if m.c == nil || m.Kind != Binary {
		return 0, io.EOF
	}
	return m.c.readBinary(m.ctx, m.seq, p)
}

// WriteTo streams the rest of a binary message to w, returning a nil
// error at the message's end. The message's context, its staleness and
// the read deadline apply as for Read; writes to w are not bounded by
// them. On a client over plain TCP, an uncompressed message written to
// an *os.File moves from the socket to the file inside the kernel
// (splice), frame by frame, under the same rules.
func (m Message) WriteTo(w io.Writer) (int64, error) {
	if m.c == nil || m.Kind != Binary {
		return 0, nil
	}
	if m.ctx != nil && m.ctx.Err() != nil {
		return 0, m.ctx.Err()
	}
	if f, ok := w.(*os.File); ok {
		if n, handled, err := m.c.spliceTo(m.ctx, m.seq, f); handled {
			return n, err
		}
	}
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := m.c.readBinary(m.ctx, m.seq, buf)
		if n > 0 {
			k, werr := w.Write(buf[:n])
			total += int64(k)
			if werr != nil {
				return total, werr
			}
			if k != n {
				return total, io.ErrShortWrite
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

var copyPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Next waits for the next data message. Control frames that arrive first
// are handled on the way: pings are answered, pongs observed. A binary
// message left unread is discarded first, and from this call on reads of
// it fail with ErrStaleMessage.
//
// When the peer closes cleanly, Next returns a *CloseError with the peer's
// code and reason. When the peer breaks the protocol, Next closes the
// connection with the RFC's code (1002, 1007, 1009) and returns a
// *CloseError saying so, which wraps ErrProtocol, ErrInvalidUTF8 or
// ErrMessageTooBig. Every error after the connection ended matches
// ErrClosed.
//
// A ctx already done makes Next return ctx.Err() at once, touching
// nothing. Canceling ctx, or passing the read deadline, makes Next return
// an error matching ctx.Err() (or one wrapping os.ErrDeadlineExceeded)
// and leaves the connection usable when the stream supports deadlines: a
// later Next resumes where this one stopped. The exception is a
// compressed message that was being read (or discarded) when ctx ended:
// its decompression cannot resume, so the connection is closed (1006) and
// the error matches both ctx.Err() and ErrClosed.
//
// ctx also governs the reads of the binary message Next returns, until
// the next call to Next (see Message): a Read or WriteTo blocked on a
// stalled peer returns when ctx ends. To keep reading past ctx's end,
// give the message another context with Message.WithContext.
//
// Only one goroutine may read at a time; a concurrent Next waits.
func (c *Conn) Next(ctx context.Context) (Message, error) {
	mctx := endable(ctx)
	if mctx != nil && ctx.Err() != nil {
		return Message{}, ctx.Err()
	}
	if err := c.lockRead(ctx); err != nil {
		return Message{}, err
	}
	defer c.unlockRead()
	c.msgSeq++ // from here on, the Message the last call returned is stale
	stop := nop
	if mctx != nil {
		stop = c.watchRead(ctx)
	}
	m, err := c.next()
	stop()
	if err != nil {
		return m, readCanceled(ctx, err)
	}
	if m.Kind == Binary {
		m.ctx = mctx
	}
	return m, nil
}

// readCanceled turns the error of a read that ctx's end interrupted (the
// read deadline it forced) into one matching ctx.Err(). When the
// connection survived the error is ctx's alone; when the read could not
// be resumed and the connection ended (inside a compressed message) it
// wraps the close error too. Other errors, and deadline errors while ctx
// is live (the caller's own read deadline), pass unchanged.
func readCanceled(ctx context.Context, err error) error {
	if err == nil || err == io.EOF || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	cerr := ctx.Err()
	if cerr == nil {
		return err
	}
	if errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", err, cerr)
	}
	return fmt.Errorf(prefix+"read canceled: %w", cerr)
}

func (c *Conn) lockRead(ctx context.Context) error {
	if !c.readSeen.Load() {
		c.readSeen.Store(true)
	}
	return c.lockErr(c.rsem.lock(ctx, c.done))
}

// lockErr turns a sem's errDone into the connection's close error.
func (c *Conn) lockErr(err error) error {
	if err == errDone {
		return c.closeError()
	}
	return err
}

func (c *Conn) unlockRead() {
	if c.State() == Closed {
		c.releaseReader()
	}
	c.rsem.unlock()
}

// releaseReader gives the read buffer and any inflater back to their
// pools once the connection is closed. The caller holds the read lock.
func (c *Conn) releaseReader() {
	c.rd.release()
	c.releaseInflater()
}

// frame state of the data frame being read; guarded by rsem.
type frameState struct {
	hdr       conn.Header
	remaining int64
	maskPos   int
}

func (c *Conn) next() (Message, error) {
	for {
		if c.State() == Closed {
			return Message{}, c.closeError()
		}
		switch c.msgOp {
		case conn.OpBinary:
			if !c.binDone {
				if err := c.discardBinary(); err != nil {
					return Message{}, err
				}
			}
			c.msgOp = 0
		case conn.OpText:
			s, err := c.readText()
			if err != nil {
				return Message{}, err
			}
			return Message{Kind: Text, Text: s}, nil
		}
		h, err := c.readHeader()
		if err != nil {
			return Message{}, err
		}
		if h.Op.IsControl() {
			continue // handled by readHeader
		}
		switch h.Op {
		case conn.OpContinuation:
			return Message{}, c.failProtocol("continuation frame with no message to continue")
		case conn.OpText:
			c.startMessage(h)
			c.text.Begin(c.opts.BufferCap)
			if !c.compressed {
				if err := c.reserveText(h.Length); err != nil {
					return Message{}, err
				}
			}
		case conn.OpBinary:
			c.startMessage(h)
			c.binBudget = limits.Budget{Cap: -1}
			if c.opts.MaxBinaryMessage > 0 {
				c.binBudget.Cap = c.opts.MaxBinaryMessage
			}
			if !c.compressed {
				if err := c.takeBinary(h.Length); err != nil {
					return Message{}, err
				}
			}
			c.binDone = false
			return Message{Kind: Binary, c: c, seq: c.msgSeq}, nil
		}
	}
}

// startMessage records the first frame of a data message.
func (c *Conn) startMessage(h conn.Header) {
	c.msgOp = h.Op
	c.compressed = h.Rsv&conn.Rsv1 != 0
	c.fs = frameState{hdr: h, remaining: h.Length}
	c.src = msgSource{c: c}
}

func (c *Conn) reserveText(n int64) error {
	if err := c.text.Reserve(n); err != nil {
		return c.fail(StatusMessageTooBig, "text message too big", &fault{
			msg:  fmt.Sprintf("text message too big: over the buffer cap of %d bytes", c.opts.BufferCap),
			kind: ErrMessageTooBig, cause: err,
		})
	}
	return nil
}

func (c *Conn) takeBinary(n int64) error {
	if err := c.binBudget.Take(n); err != nil {
		return c.fail(StatusMessageTooBig, "binary message too big", &fault{
			msg:  fmt.Sprintf("binary message too big: over the limit of %d bytes", c.binBudget.Cap),
			kind: ErrMessageTooBig, cause: err,
		})
	}
	return nil
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
			if c.msgOp == conn.OpText {
				err = c.reserveText(h.Length)
			} else {
				err = c.takeBinary(h.Length)
			}
			if err != nil {
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
			n, err := c.readPayload(dst)
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
	c.msgOp = 0
	s, err := c.text.Finish()
	if err != nil {
		return "", c.failUTF8(err)
	}
	return s, nil
}

func (c *Conn) failUTF8(err error) error {
	return c.fail(StatusInvalidPayload, "invalid UTF-8 in text message", &fault{msg: "invalid UTF-8 in text message", kind: ErrInvalidUTF8, cause: err})
}

// readCompressedText inflates the current text message into the
// assembler, charging inflated bytes to the buffer cap, so a
// decompression bomb ends with 1009 after at most the cap. Unless the
// connection is busy (the last compressed message came within busyGap),
// it does so on a goroutine of its own (see onOwnStack).
func (c *Conn) readCompressedText() (s string, err error) {
	if isBusy(&c.deflate.lastIn) {
		return c.inflateText()
	}
	onOwnStack(func() { s, err = c.inflateText() })
	return s, err
}

func (c *Conn) inflateText() (string, error) {
	r := c.inflater()
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	buf := (*bp)[:32<<10]
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.recordInflated(buf[:n])
			if e := c.reserveText(int64(n)); e != nil {
				return "", e
			}
			copy(c.text.Next(n), buf[:n])
			if cerr := c.text.Commit(n); cerr != nil {
				return "", c.failUTF8(cerr)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", c.inflateFailed(err)
		}
	}
	if err := c.endInflate(); err != nil {
		return "", err
	}
	c.msgOp = 0
	s, err := c.text.Finish()
	if err != nil {
		return "", c.failUTF8(err)
	}
	return s, nil
}

// readBinary reads from binary message seq under ctx, which is nil when
// the message's context can never end.
func (c *Conn) readBinary(ctx context.Context, seq uint64, p []byte) (int, error) {
	if ctx != nil {
		return c.readBinaryCtx(ctx, seq, p)
	}
	// Nothing to watch.
	c.rsem.lockAlways()
	defer c.unlockRead()
	if !c.binaryLive(seq) {
		return 0, c.binaryState(seq)
	}
	return c.readBinaryLocked(p)
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
	if !c.readMayBlock() {
		return c.readBinaryLocked(p)
	}
	stop := c.watchRead(ctx)
	n, err := c.readBinaryLocked(p)
	stop()
	return n, readCanceled(ctx, err)
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
	var n int
	var err error
	if c.compressed {
		n, err = c.inflater().Read(p)
		if n > 0 {
			c.recordInflated(p[:n])
			if e := c.takeBinary(int64(n)); e != nil {
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
		c.binDone = true
		c.msgOp = 0
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

// spliceFrames counts payloads moved by (*os.File).ReadFrom straight from
// the socket; tests read it.
var spliceFrames atomic.Int64

// spliceTo writes the rest of binary message seq to f, handing each
// frame's payload to f.ReadFrom over the TCP connection so the kernel can
// splice it; ctx (nil or not) governs it as it does readBinary. It reports
// handled=false, having read nothing, when the message or connection does
// not allow it (server role: masked payloads; compression; TLS) or the
// message cannot be read on (the caller's fallback reports why).
func (c *Conn) spliceTo(ctx context.Context, seq uint64, f *os.File) (total int64, handled bool, err error) {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok || !c.client {
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
		stop := c.watchRead(ctx)
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
			lr := io.LimitedReader{R: tc, N: c.fs.remaining}
			n, rerr := f.ReadFrom(&lr)
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
			c.binDone = true
			c.msgOp = 0
			return total, true, nil
		default:
			if err := c.nextFragment(); err != nil {
				return total, true, cutShort(err)
			}
		}
	}
}

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

// msgSource feeds the inflater: the message's raw payload, then the tail
// that ends the DEFLATE stream. It is an io.ByteReader so the inflater
// reads it directly, without a buffer of its own.
//
// When the message is a single frame already in the read buffer, the
// inflater reads a copy of it instead (whole), through a *bytes.Reader:
// klauspost's inflater has a fast path for that type, where it reads
// msgSource byte by byte through an interface.
type msgSource struct {
	c     *Conn
	tail  int       // 0 while the payload lasts, then 1 + bytes of deflate.Tail served
	err   error     // the last error from the connection
	whole *wholeMsg // the message's payload and tail, when taken whole
}

// wholeMsg is a compressed message taken whole out of the read buffer.
type wholeMsg struct {
	buf []byte
	r   bytes.Reader
}

// wholeMax is the largest payload taken whole: the size of the pooled
// read buffer, which a small message arrives in.
const wholeMax = pooledReadSize

var wholePool = sync.Pool{New: func() any { return new(wholeMsg) }}

// takeWhole moves the current message's payload out of the read buffer
// when it is all there (one final frame, received whole, nothing of it
// read yet) and returns it with deflate.Tail appended, or returns nil.
func (c *Conn) takeWhole() *wholeMsg {
	n := c.fs.remaining
	if !c.fs.hdr.Fin || n <= 0 || n > wholeMax || n > int64(c.rd.buffered()) || c.src.tail != 0 || c.fs.remaining != c.fs.hdr.Length {
		return nil
	}
	w := wholePool.Get().(*wholeMsg)
	src := c.rd.peek()[:n]
	b := slices.Grow(w.buf[:0], int(n)+len(deflate.Tail))[:n]
	if c.fs.hdr.Masked {
		c.fs.maskPos = conn.MaskCopy(c.fs.hdr.Mask, c.fs.maskPos, b, src)
	} else {
		copy(b, src)
	}
	c.rd.consume(int(n))
	c.fs.remaining = 0
	w.buf = append(b, deflate.Tail...)
	w.r.Reset(w.buf)
	c.src.tail = 1 + len(deflate.Tail) // the connection has nothing more to give
	c.src.whole = w
	return w
}

func putWhole(w *wholeMsg) {
	w.r.Reset(nil)
	if cap(w.buf) <= wholeMax+len(deflate.Tail) {
		wholePool.Put(w)
	}
}

func (s *msgSource) Read(p []byte) (int, error) {
	if s.tail == 0 {
		n, err := s.c.readRaw(p)
		if err != io.EOF {
			if err != nil {
				s.err = err
			}
			return n, err
		}
		s.tail = 1
	}
	if i := s.tail - 1; i < len(deflate.Tail) {
		n := copy(p, deflate.Tail[i:])
		s.tail += n
		return n, nil
	}
	return 0, io.EOF
}

func (s *msgSource) ReadByte() (byte, error) {
	c := s.c
	if s.tail == 0 && c.fs.remaining > 0 && c.rd.r < c.rd.w {
		b := c.rd.buf[c.rd.r]
		c.rd.r++
		c.fs.remaining--
		if c.fs.hdr.Masked {
			b ^= c.fs.hdr.Mask[c.fs.maskPos]
			c.fs.maskPos = (c.fs.maskPos + 1) & 3
		}
		return b, nil
	}
	var one [1]byte
	for {
		n, err := s.Read(one[:])
		if n == 1 {
			return one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// inflater returns the current message's inflater, borrowing one from the
// pool primed with the receive history when the message starts.
func (c *Conn) inflater() io.ReadCloser {
	if c.infl == nil {
		var dict []byte
		if d := c.deflate; d.inTakeover {
			dict = deflate.LastBytes(d.inHist, deflate.HistoryLimit(d.inBits))
		}
		var src io.Reader = &c.src
		if w := c.takeWhole(); w != nil {
			src = &w.r
		}
		c.infl = deflate.GetInflater(src, dict)
	}
	return c.infl
}

// recordInflated keeps what the peer may refer back to.
func (c *Conn) recordInflated(p []byte) {
	if d := c.deflate; d.inTakeover {
		d.inHist = deflate.AppendHistory(d.inHist, p, deflate.HistoryLimit(d.inBits))
	}
}

// endInflate finishes a compressed message: it reads anything left after
// the DEFLATE stream (a peer may end it with a final block), trims the
// history and gives the inflater back.
func (c *Conn) endInflate() error {
	if c.src.tail == 0 {
		var scratch [512]byte
		for {
			_, err := c.readRaw(scratch[:])
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	c.releaseInflater()
	return nil
}

func (c *Conn) releaseInflater() {
	if c.infl != nil {
		deflate.PutInflater(c.infl)
		c.infl = nil
	}
	if w := c.src.whole; w != nil {
		c.src.whole = nil
		putWhole(w)
	}
}

// inflateFailed turns an inflater error into the error to return. An
// error from the connection is passed on; corrupt data fails the
// connection with 1007. An inflater cannot resume after a deadline error,
// so inside a compressed message a deadline ends the connection. When
// the deadline was forced by Next's ctx, Next ends it, so that the error
// wraps ctx's (only Next knows ctx); the reader returns at once meanwhile.
func (c *Conn) inflateFailed(err error) error {
	if se := c.src.err; se != nil {
		if errors.Is(se, os.ErrDeadlineExceeded) && c.State() != Closed {
			// The caller wraps ctx's error in when a context forced the
			// deadline (readCanceled).
			c.abort(fmt.Errorf("read deadline inside a compressed message: %w", se))
			return c.closeError()
		}
		return se
	}
	return c.fail(StatusInvalidPayload, "invalid compressed data", &fault{msg: "invalid compressed data: " + err.Error(), kind: ErrProtocol, cause: err})
}

// readHeader reads the next frame header, checks it against the
// connection's role and extensions, and handles control frames whole. On
// any error the connection has been failed, except for deadline errors,
// after which nothing was consumed.
func (c *Conn) readHeader() (conn.Header, error) {
	if c.msgOp == 0 {
		c.rd.idle()
	}
	if err := c.rd.ensure(2); err != nil {
		return conn.Header{}, c.readFailed(err)
	}
	hs := conn.HeaderSize(c.rd.peek()[1])
	if err := c.rd.ensure(hs); err != nil {
		return conn.Header{}, c.readFailed(err)
	}
	h, n, err := conn.ParseHeader(c.rd.peek())
	if err != nil {
		// The codec's error wraps ErrProtocol; the close says what broke.
		what := strings.TrimPrefix(err.Error(), ErrProtocol.Error()+": ")
		return h, c.fail(StatusProtocolError, truncUTF8(what, limits.MaxControlPayload-2), &fault{msg: what, kind: ErrProtocol, cause: err})
	}
	if h.Rsv != 0 && (h.Rsv != conn.Rsv1 || c.deflate == nil || (h.Op != conn.OpText && h.Op != conn.OpBinary)) {
		if h.Rsv == conn.Rsv1 && c.deflate != nil {
			return h, c.failProtocol("RSV1 set on a " + h.Op.String() + " frame (only a message's first frame may carry it)")
		}
		return h, c.failProtocol(fmt.Sprintf("reserved bits 0x%02X set without a negotiated extension", h.Rsv))
	}
	if h.Masked == c.client {
		if c.client {
			return h, c.failProtocol("masked frame from the server")
		}
		return h, c.failProtocol("unmasked frame from the client")
	}
	if !h.Op.IsControl() {
		c.rd.consume(n)
		return h, nil
	}
	if err := c.rd.ensure(n + int(h.Length)); err != nil {
		return h, c.readFailed(err)
	}
	payload := c.rd.peek()[n : n+int(h.Length)]
	if h.Masked {
		conn.Mask(h.Mask, 0, payload)
	}
	c.rd.consume(n + int(h.Length))
	return h, c.control(h.Op, payload)
}

// control acts on a control frame.
func (c *Conn) control(op conn.Opcode, payload []byte) error {
	switch op {
	case conn.OpPing:
		c.queuePong(payload)
		if c.opts.OnPing != nil {
			c.opts.OnPing(payload)
		}
	case conn.OpPong:
		if c.ka != nil {
			c.ka.pong()
		}
		c.pings.notify(payload)
		if c.opts.OnPong != nil {
			c.opts.OnPong(payload)
		}
	case conn.OpClose:
		return c.peerClosed(payload)
	}
	return nil
}

// peerClosed handles the peer's close frame: it validates it, answers it
// unless this side already sent one, and ends the connection.
func (c *Conn) peerClosed(payload []byte) error {
	code, reason, bad, why := decodeClose(payload)
	switch bad {
	case StatusProtocolError:
		return c.failProtocol(why)
	case StatusInvalidPayload:
		return c.fail(StatusInvalidPayload, why, &fault{msg: why, kind: ErrInvalidUTF8})
	}
	c.recordPeerClose(code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout)
	defer cancel()
	c.mu.Lock()
	initiated := c.closeSent
	c.mu.Unlock()
	if !initiated {
		echo := code
		if echo == StatusNoStatus {
			echo = 0
		}
		_ = c.sendClose(ctx, echo, "", nil)
		if c.client {
			// The server closes the TCP connection first (RFC 6455, 7.1.1).
			c.drain(time.Now().Add(c.opts.CloseTimeout))
		}
		c.closeTransport()
	}
	return c.closeError()
}

// decodeClose reads a close frame's payload: its code (StatusNoStatus
// when it has none) and reason. A payload RFC 6455 forbids is reported as
// bad, the code to fail the connection with, and why.
func decodeClose(payload []byte) (code StatusCode, reason string, bad StatusCode, why string) {
	switch {
	case len(payload) == 1:
		return 0, "", StatusProtocolError, "close frame with a 1-byte payload"
	case len(payload) >= 2:
		code = StatusCode(binary.BigEndian.Uint16(payload))
		if !code.validWire() {
			return 0, "", StatusProtocolError, fmt.Sprintf("invalid close code %d", code)
		}
		if !utf8.Valid(payload[2:]) {
			return 0, "", StatusInvalidPayload, "invalid UTF-8 in close reason"
		}
		return code, string(payload[2:]), 0, ""
	}
	return StatusNoStatus, "", 0, ""
}

// recordPeerClose records the peer's close frame, valid, as how the
// connection ended: when nothing was recorded before, or when this side's
// Close recorded its own close and the peer's frame is not merely an
// answer to it (its code is neither ours, nor 1000, nor absent), so the
// peer's code and reason reach the program whichever frame went first. A
// close recorded for a fault (Err set) stays. It then wakes a Close
// waiting for the frame.
func (c *Conn) recordPeerClose(code StatusCode, reason string) {
	e := &CloseError{Code: code, Reason: reason, Remote: true}
	c.mu.Lock()
	switch own := c.closeErr; {
	case own == nil:
		c.closeErr = e
	case !own.Remote && own.Err == nil && c.State() != Closed &&
		code != own.Code && code != StatusNormalClosure && code != StatusNoStatus:
		c.closeErr = e
	}
	c.mu.Unlock()
	c.noteCloseReceived()
}

// failProtocol fails the connection with 1002.
func (c *Conn) failProtocol(what string) error {
	return c.fail(StatusProtocolError, what, &fault{msg: what, kind: ErrProtocol})
}

// fail fails the connection for the peer's fault: it records the cause,
// sends a close frame with code (unless one was sent), lets the peer read
// it, and closes the stream. It returns the error to give the caller.
func (c *Conn) fail(code StatusCode, reason string, cause error) error {
	c.setCloseErr(&CloseError{Code: code, Reason: reason, Err: cause})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = c.sendClose(ctx, code, reason, nil)
	cancel()
	// Close our sending side and read what the peer still sends, so the
	// close frame is not lost to a reset caused by unread data.
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	c.drain(time.Now().Add(time.Second))
	c.closeTransport()
	return c.closeError()
}

// drain reads and discards until EOF, an error or the deadline.
func (c *Conn) drain(deadline time.Time) {
	if c.nc == nil {
		return
	}
	c.dlMu.Lock()
	_ = c.nc.SetReadDeadline(deadline)
	c.dlMu.Unlock()
	var buf [512]byte
	for {
		if _, err := c.rwc.Read(buf[:]); err != nil {
			return
		}
	}
}

// readFailed turns a stream read error into the error to return. A
// deadline error is returned as is and the connection stays usable;
// anything else ends the connection: cleanly if the close handshake was
// done, as an abnormal closure (1006) otherwise.
func (c *Conn) readFailed(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && c.State() != Closed {
		return err
	}
	if c.closeRcv.Load() || c.State() == Closed {
		c.closeTransport()
		return c.closeError()
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	} else if !errors.Is(err, io.ErrUnexpectedEOF) {
		// A reset or any other failure also means the stream ended early.
		err = fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, err)
	}
	c.abort(err)
	return c.closeError()
}

// nextFrameDiscarding reads and drops one frame's worth of data (or the
// rest of the current message); used while waiting for the peer's close
// frame. Data is still inflated and validated so the rules hold to the end.
func (c *Conn) nextFrameDiscarding() (conn.Header, error) {
	switch c.msgOp {
	case conn.OpBinary:
		if !c.binDone {
			c.binCut = true // the caller's Message must not report the skipped rest as read
			if err := c.discardBinary(); err != nil {
				return conn.Header{}, err
			}
		}
		c.msgOp = 0
		return conn.Header{}, nil
	case conn.OpText:
		_, err := c.readText()
		return conn.Header{}, err
	}
	h, err := c.readHeader()
	if err != nil || h.Op.IsControl() {
		return h, err
	}
	switch h.Op {
	case conn.OpText:
		c.startMessage(h)
		c.text.Begin(c.opts.BufferCap)
		if !c.compressed {
			return h, c.reserveText(h.Length)
		}
	case conn.OpBinary:
		c.startMessage(h)
		c.binBudget = limits.Budget{Cap: -1}
		c.binDone = false
		if !c.binCut {
			c.msgSeq++ // the caller's finished Message must not read this one
		}
	default:
		return h, c.failProtocol("continuation frame with no message to continue")
	}
	return h, nil
}
