//go:build !js

package wsio

import (
	"io"
	"sync/atomic"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/sock"
)

// reader buffers the incoming stream. Between messages it reads into a
// small array inside the connection, so an idle connection holds no
// buffer; a pooled buffer is taken only when more must be held at once
// (a large control frame, many small reads) and given back at the next
// message boundary. Payloads are read straight into their destination
// whenever nothing is buffered.
//
// On a socket (sock.Socket.Read) a read at a message boundary first
// waits until data has arrived, then takes a pooled buffer and reads as
// much as there is in one system call: a small message costs one read,
// and the connection still holds no buffer while it waits. The pooled
// buffers are the socket layer's (sock.GetBuffer), since a socket read
// takes one only once data has arrived; the reader owns each from then
// until it gives it back.
//
// Every operation either completes or consumes nothing, so a read that
// fails on a deadline can simply be tried again.
type reader struct {
	src    io.Reader
	buf    []byte // inline[:] or a pooled slice
	r, w   int    // unread bytes are buf[r:w]
	pooled bool
	// drained is set when a read or take moved the last buffered bytes
	// into a destination; readBinary clears it before each read and
	// looks at it after (see Conn.readOn).
	drained bool
	pool    *[]byte // the pool's handle on buf when pooled and from sock.GetBuffer
	inline  [64]byte
	sock    *sock.Socket // src's socket, when it can be waited on; or nil
	heard   *atomic.Bool // set when bytes arrive (keepalive), or nil
}

// got notes that bytes arrived.
func (rd *reader) got() {
	if rd.heard != nil {
		rd.heard.Store(true)
	}
}

const (
	// pooledReadSize is the size of a pooled read buffer.
	pooledReadSize = sock.BufferSize
	// directRead is the smallest destination read straight from the
	// stream when nothing is buffered; smaller reads go through the buffer.
	directRead = 512
)

// init makes rd read src, whose socket is s (nil when src is not a plain
// socket), starting with the bytes pre.
func (rd *reader) init(src io.Reader, s *sock.Socket, pre []byte) {
	rd.src = src
	rd.sock = s
	rd.buf = rd.inline[:]
	if len(pre) > len(rd.inline) {
		rd.toPooled(len(pre))
	}
	rd.w = copy(rd.buf, pre)
}

func (rd *reader) buffered() int { return rd.w - rd.r }

// peek returns the buffered bytes without consuming them.
func (rd *reader) peek() []byte { return rd.buf[rd.r:rd.w] }

func (rd *reader) consume(n int) { rd.r += n }

// idle gives a pooled buffer back when nothing is buffered; called at
// message boundaries.
func (rd *reader) idle() {
	if rd.pooled && rd.r == rd.w {
		rd.release()
	}
}

// release drops the pooled buffer, keeping any unread bytes when they fit
// in the inline array (they always do when called from idle).
func (rd *reader) release() {
	if !rd.pooled {
		return
	}
	n := copy(rd.inline[:], rd.buf[rd.r:rd.w])
	if rd.pool != nil {
		sock.PutBuffer(rd.pool)
	}
	rd.buf, rd.r, rd.w, rd.pooled, rd.pool = rd.inline[:], 0, n, false, nil
}

// toPooled moves the unread bytes into a pooled buffer of at least n bytes.
func (rd *reader) toPooled(n int) {
	var b []byte
	var bp *[]byte
	if n <= pooledReadSize {
		bp = sock.GetBuffer()
		b = *bp
	} else {
		b = make([]byte, n)
	}
	k := copy(b, rd.buf[rd.r:rd.w])
	if rd.pool != nil {
		sock.PutBuffer(rd.pool)
	}
	rd.buf, rd.r, rd.w, rd.pooled, rd.pool = b, 0, k, true, bp
}

// makeRoom makes the buffer hold n bytes from rd.r on: when they would
// run past its end, the buffered bytes move to its start, or to a larger
// pooled buffer when n is over its size.
func (rd *reader) makeRoom(n int) {
	if len(rd.buf)-rd.r >= n {
		return
	}
	if n > len(rd.buf) {
		rd.toPooled(n)
		return
	}
	rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
	rd.r = 0
}

// ensure makes at least n bytes buffered.
func (rd *reader) ensure(n int) error {
	for rd.w-rd.r < n {
		rd.makeRoom(n)
		if err := rd.fill(); err != nil {
			return err
		}
	}
	return nil
}

// fill reads once into the free end of the buffer.
func (rd *reader) fill() error {
	if rd.r == rd.w {
		rd.r, rd.w = 0, 0
		if rd.sock != nil && !rd.pooled {
			return rd.fillWhenReady()
		}
	}
	for tries := 0; tries < 100; tries++ {
		n, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += n
		if n > 0 {
			rd.got()
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// fillExact reads from the stream until n bytes are buffered, and no
// more: what follows them stays in the stream, where a poller waiting on
// the descriptor still sees it. The caller knows the bytes have arrived
// (it peeked at them), so this does not wait.
func (rd *reader) fillExact(n int) error {
	if rd.r == rd.w {
		rd.r, rd.w = 0, 0
	}
	rd.makeRoom(n)
	for tries := 0; rd.w-rd.r < n; tries++ {
		if tries == 100 {
			return io.ErrNoProgress
		}
		k, err := rd.src.Read(rd.buf[rd.w : rd.r+n])
		rd.w += k
		if k > 0 {
			rd.got()
		} else if err != nil {
			return err
		}
	}
	return nil
}

// read reads payload bytes into p (whose length the caller limits to what
// is left of the frame): buffered bytes first, then straight from the
// stream for large destinations.
func (rd *reader) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if rd.r < rd.w {
		n := copy(p, rd.buf[rd.r:rd.w])
		rd.r += n
		rd.drained = rd.r == rd.w
		return n, nil
	}
	if len(p) >= directRead {
		for tries := 0; tries < 100; tries++ {
			n, err := rd.src.Read(p)
			if n > 0 || err != nil {
				if n > 0 {
					rd.got()
					err = nil // the error, if any, comes back on the next read
				}
				return n, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if !rd.pooled {
		rd.toPooled(pooledReadSize)
	}
	if err := rd.fill(); err != nil {
		return 0, err
	}
	n := copy(p, rd.buf[rd.r:rd.w])
	rd.r += n
	return n, nil
}

// take moves buffered bytes into p, as many as both hold, unmasking them
// with key from position pos when masked. It returns how many it moved
// and the mask position after them.
func (rd *reader) take(p []byte, masked bool, key [4]byte, pos int) (int, int) {
	src := rd.buf[rd.r:rd.w]
	var n int
	if masked {
		n = min(len(p), len(src))
		pos = conn.MaskCopy(key, pos, p, src[:n])
	} else {
		n = copy(p, src)
	}
	rd.r += n
	rd.drained = rd.r == rd.w
	return n, pos
}

// readMasked is read for a masked payload: it unmasks what it reads with
// key from position pos and returns the position after it. Buffered bytes
// are unmasked as they are copied out, in one pass.
func (rd *reader) readMasked(p []byte, key [4]byte, pos int) (int, int, error) {
	if len(p) > 0 && rd.r < rd.w {
		n, pos := rd.take(p, true, key, pos)
		return n, pos, nil
	}
	n, err := rd.read(p)
	if n > 0 {
		pos = conn.Mask(key, pos, p[:n])
	}
	return n, pos, err
}

// fillWhenReady reads into an empty reader from the socket: it waits for
// data without a buffer, then reads into a pooled one (see took).
func (rd *reader) fillWhenReady() error {
	b, n, err := rd.sock.Read()
	if b != nil {
		rd.took(b, n)
	}
	return err
}

// took makes the n bytes in b, a pooled buffer the socket's Read filled,
// the buffered bytes of an empty reader. Data that fits the inline array
// goes there, and the pooled buffer goes straight back.
func (rd *reader) took(b *[]byte, n int) {
	rd.got()
	rd.r = 0
	if n <= len(rd.inline) {
		rd.w = copy(rd.inline[:], (*b)[:n])
		sock.PutBuffer(b)
	} else {
		rd.buf, rd.w, rd.pooled, rd.pool = *b, n, true, b
	}
}
