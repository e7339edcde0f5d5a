package suite

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcode is the 4-bit WebSocket frame opcode of RFC 6455 section 5.2.
type Opcode byte

// The opcodes defined by RFC 6455; the others are reserved.
const (
	// OpContinuation continues a fragmented message.
	OpContinuation Opcode = 0x0
	// OpText starts a text message.
	OpText Opcode = 0x1
	// OpBinary starts a binary message.
	OpBinary Opcode = 0x2
	// OpClose is the close control frame.
	OpClose Opcode = 0x8
	// OpPing is the ping control frame.
	OpPing Opcode = 0x9
	// OpPong is the pong control frame.
	OpPong Opcode = 0xA
)

// IsControl reports whether the opcode is in the control range (0x8–0xF).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether RFC 6455 leaves the opcode undefined.
func (o Opcode) IsReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String returns a short human-readable name for the opcode.
func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("reserved(%d)", byte(o))
}

// WireFrame is one frame as it is put on, or taken off, the wire.
type WireFrame struct {
	// Fin is the FIN bit.
	Fin bool
	// RSV holds the three reserved bits as a number 0–7 (RSV1 is the value 4).
	RSV byte
	// Opcode is the frame opcode.
	Opcode Opcode
	// Masked tells whether the frame carries a masking key.
	Masked bool
	// MaskKey is the masking key used when Masked is set.
	MaskKey [4]byte
	// Payload is the unmasked application payload.
	Payload []byte
}

// ErrFrameTooLarge is returned by ReadFrame when a frame announces a payload
// larger than the reader accepts.
var ErrFrameTooLarge = errors.New("suite: frame payload exceeds the reader limit")

// AppendFrame appends the wire encoding of f to dst and returns the result.
// When f.Masked is set and f.MaskKey is all zero a random key is drawn.
func AppendFrame(dst []byte, f *WireFrame) []byte {
	b0 := byte(f.Opcode & 0x0F)
	if f.Fin {
		b0 |= 0x80
	}
	b0 |= (f.RSV & 0x7) << 4
	dst = append(dst, b0)
	var b1 byte
	if f.Masked {
		b1 = 0x80
	}
	n := len(f.Payload)
	switch {
	case n <= 125:
		dst = append(dst, b1|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b1|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !f.Masked {
		return append(dst, f.Payload...)
	}
	if f.MaskKey == [4]byte{} {
		_, _ = rand.Read(f.MaskKey[:])
	}
	dst = append(dst, f.MaskKey[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	maskBytes(dst[start:], f.MaskKey)
	return dst
}

func maskBytes(b []byte, key [4]byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// ReadFrame reads one frame from r and unmasks its payload. Payloads longer
// than maxPayload are refused with ErrFrameTooLarge before they are read.
func ReadFrame(r *bufio.Reader, maxPayload int64) (*WireFrame, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading frame header: %w", err)
	}
	f := &WireFrame{
		Fin:    hdr[0]&0x80 != 0,
		RSV:    (hdr[0] >> 4) & 0x7,
		Opcode: Opcode(hdr[0] & 0x0F),
		Masked: hdr[1]&0x80 != 0,
	}
	n := int64(hdr[1] & 0x7F)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return nil, fmt.Errorf("reading 16-bit length: %w", err)
		}
		n = int64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return nil, fmt.Errorf("reading 64-bit length: %w", err)
		}
		u := binary.BigEndian.Uint64(ext[:])
		if u > 1<<62 {
			return nil, fmt.Errorf("64-bit length %d: %w", u, ErrFrameTooLarge)
		}
		n = int64(u)
	}
	if n > maxPayload {
		return nil, fmt.Errorf("payload of %d bytes: %w", n, ErrFrameTooLarge)
	}
	if f.Masked {
		if _, err := io.ReadFull(r, f.MaskKey[:]); err != nil {
			return nil, fmt.Errorf("reading masking key: %w", err)
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return nil, fmt.Errorf("reading %d-byte payload: %w", n, err)
	}
	if f.Masked {
		maskBytes(f.Payload, f.MaskKey)
	}
	return f, nil
}
