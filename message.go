//go:build !js

package wsio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// WriteTo streams the rest of a binary message to w, returning a nil
// error at the message's end. The message's context, its staleness and
// the read deadline apply as for Read; writes to w are not bounded by
// them. On a client over plain TCP, an uncompressed message written to
// an *os.File moves from the socket to the file inside the kernel
// (splice), frame by frame, under the same rules.
//
// When w is a *BinaryWriter (a relay: io.Copy from a received message
// into a message being sent, on the same connection or another), WriteTo
// is w.ReadFrom(m): the payload is read from the socket straight into the
// writer's fragment buffer, unmasked there, and sent from it, so each
// byte is copied once. The writer's rules hold as for ReadFrom: when its
// context is done nothing is read from m, and when it ends while a read
// of m waits for bytes, that read ends too (m reads on from there later,
// as after its own context's end); a compressed writer compresses what it
// reads as Write would. The count is of the bytes the writer
// accepted, and the error is the first one of either side.
//
// From a client's connection to a server's writer (frames arrive and
// leave unmasked), both uncompressed over plain TCP on Linux, the payload
// after the writer's first fragment does not enter the process: each
// frame's header is written, then its payload moves from socket to socket
// inside the kernel (splice), in frames of at most the writer's fragment
// size. m's limits are charged as for Read, and either side's context
// ending interrupts the copy. A copy cut short in the middle of such a
// frame (the source ended or failed, a deadline passed, a context ended)
// breaks the writer's connection, whose peer has seen part of the frame;
// the source then fails as a Read cut short does, unless only the
// writer's side failed.
func (m Message) WriteTo(w io.Writer) (int64, error) {
	if m.c == nil || m.Kind != Binary {
		return 0, nil
	}
	if m.ctx != nil && m.ctx.Err() != nil {
		return 0, m.ctx.Err()
	}
	switch w := w.(type) {
	case *os.File:
		if n, handled, err := m.c.spliceTo(m.ctx, m.seq, w); handled {
			return n, err
		}
	case *BinaryWriter:
		return w.relayFrom(m)
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
func (c *Conn) Next(ctx context.Context) (m Message, err error) {
	if ctx.Done() != nil || !c.rsem.tryLock() {
		err = c.nextSlow(ctx, &m)
		return m, err
	}
	// The read lock was free and ctx can never end: nothing to watch.
	c.markReadSeen()
	defer c.unlockRead()
	c.msgSeq++ // from here on, the Message the last call returned is stale
	if err = c.awaitBytes(); err == nil {
		err = c.next(&m)
	}
	return m, err
}

// nextSlow is Next under a ctx that can end, or when the read lock is
// held: it waits for the lock and watches ctx. It is out of line so that
// Next's own frame, under which an idle connection's reader waits, stays
// small.
//
//go:noinline
func (c *Conn) nextSlow(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.lockRead(ctx); err != nil {
		return err
	}
	defer c.unlockRead()
	c.msgSeq++
	stop := c.watch(ctx, reading)
	err := c.awaitBytes()
	if err == nil {
		err = c.next(m)
	}
	stop()
	if err != nil {
		*m = Message{}
		return readCanceled(ctx, err)
	}
	if m.Kind == Binary {
		m.ctx = endable(ctx)
	}
	return nil
}

// awaitBytes waits for the next bytes when nothing is buffered and the
// connection needs more: between messages, the state in which an idle
// connection's reader waits, and inside an uncompressed message that has
// more to come (the end of any other message may hold something that can
// fail before a wait, which must then be met first). It reads what has
// arrived into a pooled buffer. Waiting here, near the top of Next (or of
// a binary message's read, see readAwaited) rather than under next and
// readHeader, keeps the waiting goroutine's stack shallow, so that a
// handler's goroutine can stay within its first stack segment (see
// Server); so does reading the socket here rather than through
// fillWhenReady. It fails as readHeader does when the read fails. The
// caller holds the read lock.
func (c *Conn) awaitBytes() error {
	if c.msgOp != 0 && (c.compressed || c.fs.remaining == 0 && c.fs.hdr.Fin) ||
		c.rd.buffered() != 0 || c.rd.sock == nil || c.State() == Closed {
		return nil
	}
	c.rd.idle()
	c.rd.r, c.rd.w = 0, 0 // nothing is buffered: the next bytes go to the start
	b, n, err := c.rd.sock.Read()
	if b != nil {
		c.rd.took(b, n)
	}
	if err != nil {
		return c.readFailed(err)
	}
	return nil
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
	c.markReadSeen()
	return c.lockErr(c.rsem.lock(ctx, c.closing.done))
}

// markReadSeen records that a reader has come (see peerCheck).
func (c *Conn) markReadSeen() {
	if !c.readSeen.Load() {
		c.readSeen.Store(true)
	}
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
