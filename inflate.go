//go:build !js

package wsio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/deflate"
)

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
			if e := c.charge(int64(n)); e != nil {
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
	return c.finishText()
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
