//go:build !js

package wsio

import (
	"crypto/tls"
	"encoding/binary"
	"net"
)

// h2SendFrameMax is the largest DATA frame Dial's HTTP/2 client sends:
// the protocol's default and smallest allowed SETTINGS_MAX_FRAME_SIZE.
//
// x/net's client transport keeps, for each stream whose request body is
// open, a scratch buffer of min(the server's SETTINGS_MAX_FRAME_SIZE,
// 512 KiB) bytes, taken when the body's first Read starts and held until
// the body ends. A WebSocket's request body is open for the connection's
// whole life, and Go's servers advertise 1 MiB frames, so each idle
// client WebSocket would hold 512 KiB. The transport has no setting for
// the frames it sends, so the client's connection shows the transport a
// server SETTINGS_MAX_FRAME_SIZE of at most this: sending smaller frames
// than the server accepts is always allowed (RFC 9113 section 4.2), the
// setting bounds nothing else the client does, and the scratch buffer
// shrinks to this size.
const h2SendFrameMax = 16 << 10

// h2FrameCap is the client side of an HTTP/2 connection as Dial's
// transport reads it: the server's frames pass through unchanged except
// that SETTINGS_MAX_FRAME_SIZE values above h2SendFrameMax in its
// SETTINGS frames read as h2SendFrameMax. Frames are tracked by their
// 9-byte headers from the first byte on (the server's connection
// preface is a SETTINGS frame); Read is called by the transport's read
// loop only.
type h2FrameCap struct {
	net.Conn
	hdr  [9]byte
	hdrN int    // bytes of the current frame header read so far
	left int    // payload bytes of the current frame still to pass through
	out  []byte // rewritten SETTINGS payload bytes not yet returned
	buf  []byte // out's backing array
}

// h2FrameCapTLS is h2FrameCap over TLS; the transport reads the TLS state
// through ConnectionState.
type h2FrameCapTLS struct {
	*h2FrameCap
	tc *tls.Conn
}

func (c h2FrameCapTLS) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// capFrames wraps an HTTP/2 client connection in h2FrameCap.
func capFrames(nc net.Conn) net.Conn {
	c := &h2FrameCap{Conn: nc}
	if tc, ok := nc.(*tls.Conn); ok {
		return h2FrameCapTLS{c, tc}
	}
	return c
}

// h2SettingsMax is the largest SETTINGS payload that is rewritten; a
// larger one (more than 64 settings, which no server sends) passes
// through as it is.
const h2SettingsMax = 64 * 6

func (c *h2FrameCap) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.out) > 0 {
		n := copy(p, c.out)
		c.out = c.out[n:]
		return n, nil
	}
	if c.left > 0 {
		n, err := c.Conn.Read(p[:min(len(p), c.left)])
		c.left -= n
		return n, err
	}
	// A frame header: passed on as it is read, and looked at once whole.
	n, err := c.Conn.Read(p[:min(len(p), len(c.hdr)-c.hdrN)])
	c.hdrN += copy(c.hdr[c.hdrN:], p[:n])
	if c.hdrN < len(c.hdr) {
		return n, err
	}
	c.hdrN = 0
	length := int(c.hdr[0])<<16 | int(c.hdr[1])<<8 | int(c.hdr[2])
	const typeSettings, flagAck = 0x4, 0x1
	if c.hdr[3] != typeSettings || c.hdr[4]&flagAck != 0 || length%6 != 0 || length > h2SettingsMax || length == 0 {
		c.left = length
		return n, err
	}
	if err != nil {
		return n, err
	}
	// A SETTINGS frame: its payload is read whole and rewritten before
	// any of it is returned.
	if c.buf == nil {
		c.buf = make([]byte, h2SettingsMax)
	}
	pl := c.buf[:length]
	got := 0
	for got < length {
		m, err := c.Conn.Read(pl[got:])
		got += m
		if err != nil {
			// Hand on what came; the transport fails on the short frame.
			c.out = pl[:got]
			return n, err
		}
	}
	const settingMaxFrameSize = 0x5
	for i := 0; i < length; i += 6 {
		if binary.BigEndian.Uint16(pl[i:]) == settingMaxFrameSize && binary.BigEndian.Uint32(pl[i+2:]) > h2SendFrameMax {
			binary.BigEndian.PutUint32(pl[i+2:], h2SendFrameMax)
		}
	}
	c.out = pl
	return n, nil
}
