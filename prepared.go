//go:build !js

package wsio

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"unsafe"

	"github.com/wsio/wsio/binstream"
	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/limits"
	"github.com/wsio/wsio/textframe"
)

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
// fragmentSize bytes (0 or less means the default).
func Prepare(kind Kind, data []byte, fragmentSize int) (*Prepared, error) {
	if kind != Text && kind != Binary {
		return nil, errors.New("websocket: Prepare: unknown message kind")
	}
	if kind == Text && !textframe.ValidString(unsafe.String(unsafe.SliceData(data), len(data))) {
		return nil, &fault{msg: prefix + "Prepare: the text is not valid UTF-8", kind: ErrInvalidUTF8}
	}
	m := &Prepared{kind: kind, payload: data, size: positiveOr(fragmentSize, limits.DefaultFragmentSize)}
	m.frames = m.frame(data, 0)
	return m, nil
}

// frame cuts p into the message's frames, with rsv on the first, as a
// connection's whole sends are cut (binstream.Writer.WriteFinal).
func (m *Prepared) frame(p []byte, rsv byte) []byte {
	op := conn.OpText
	if m.kind == Binary {
		op = conn.OpBinary
	}
	f := framers.Get().(*framer)
	f.sink = frameBuf{
		buf:       make([]byte, 0, len(p)+conn.MaxHeaderSize*(1+len(p)/m.size)),
		frameKind: frameKind{op: op, rsv: rsv},
	}
	f.bw.Reset(&f.sink, m.size)
	_ = f.bw.WriteFinal(p) // frameBuf never fails
	frames := f.sink.buf
	f.sink = frameBuf{}
	framers.Put(f)
	return frames
}

// framer is a Writer with the sink it writes to, pooled so that framing
// a message allocates only its frames.
type framer struct {
	bw   binstream.Writer
	sink frameBuf
}

var framers = sync.Pool{New: func() any { return new(framer) }}

// frameBuf is a binstream.Sink that appends each frame, unmasked, to buf.
type frameBuf struct {
	buf []byte
	frameKind
}

func (f *frameBuf) WriteFrame(p []byte, first, fin bool) error {
	op, rsv := f.frame(first)
	var hdr [conn.MaxHeaderSize]byte
	hn := conn.PutHeader(hdr[:], fin, rsv, op, int64(len(p)), nil)
	f.buf = append(append(f.buf, hdr[:hn]...), p...)
	return nil
}

func (*frameBuf) Done() {}

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
		if m.kind == Text {
			defer c.endMessage()
			return c.writeFrame(ctx, true, 0, conn.OpText, m.payload)
		}
		return c.sendFrames(ctx, conn.OpBinary, m.payload) // gives the slot back
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
	stop := c.watch(ctx, writing)
	n, err := c.rwc.Write(frames)
	stop()
	return c.writeFailed(ctx, n, err)
}
