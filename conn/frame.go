// Package conn is the WebSocket wire codec (RFC 6455, section 5): frame
// headers parsed and encoded, and payload masking. It knows nothing of
// connections, sockets or messages; the root package wsio builds the
// connection on it. It is public for programs that frame WebSocket data
// themselves (a proxy that inspects frames, a test peer that must send
// frames no conforming library would); most programs need only wsio.
//
// ParseHeader checks everything RFC 6455 fixes for a header on its own
// (reserved opcodes, control-frame rules, minimal length encodings); what
// depends on the connection (reserved bits an extension may claim, which
// side masks) is the caller's to check.
package conn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Opcode is a WebSocket frame opcode (RFC 6455, section 5.2).
type Opcode byte

// The opcodes RFC 6455 defines. All others are reserved and fail the
// connection with status 1002 when received.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

func (op Opcode) known() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

// String returns the opcode's name as RFC 6455 spells it.
func (op Opcode) String() string {
	switch op {
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
	return fmt.Sprintf("reserved opcode 0x%X", byte(op))
}

// Reserved bits of a frame's first byte. RSV1 marks a compressed message
// once permessage-deflate is negotiated.
const (
	Rsv1 = 0x40
	Rsv2 = 0x20
	Rsv3 = 0x10
)

// MaxHeaderSize is the longest a frame header can be: 2 bytes, an 8-byte
// extended length and a 4-byte masking key.
const MaxHeaderSize = 14

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Rsv    byte // the three reserved bits, in place (0x70 of the first byte)
	Op     Opcode
	Masked bool
	Mask   [4]byte
	Length int64
}

// ErrShortHeader reports that more bytes are needed before the header is
// complete; ParseHeader returns it unwrapped.
var ErrShortHeader = errors.New("websocket: short frame header")

// ErrProtocol is the error every malformed header wraps. The root
// package's wsio.ErrProtocol is the same value.
var ErrProtocol = errors.New("websocket: protocol violation")

// HeaderSize returns the size of a header whose second byte is b1 (the
// byte that holds the mask bit and the length form).
func HeaderSize(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// ParseHeader decodes the frame header at the start of b. It returns the
// header and its size, ErrShortHeader (unwrapped) when b holds
// only part of it, or an error wrapping ErrProtocol for a header RFC 6455
// forbids whatever was negotiated: a reserved opcode, a fragmented or
// over-long control frame, a length in non-minimal form or with the top
// bit set. Reserved bits and masking are checked by the connection, which
// knows the extensions and its role.
func ParseHeader(b []byte) (Header, int, error) {
	var h Header
	if len(b) < 2 {
		return h, 0, ErrShortHeader
	}
	n := HeaderSize(b[1])
	if len(b) < n {
		return h, 0, ErrShortHeader
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = b[0] & 0x70
	h.Op = Opcode(b[0] & 0x0F)
	h.Masked = b[1]&0x80 != 0
	l := int64(b[1] & 0x7F)
	p := 2
	switch l {
	case 126:
		l = int64(binary.BigEndian.Uint16(b[2:]))
		p = 4
		if l < 126 {
			return h, 0, headerError(nonMinimal16, h.Op, uint64(l))
		}
	case 127:
		u := binary.BigEndian.Uint64(b[2:])
		p = 10
		if u>>63 != 0 {
			return h, 0, headerError(lengthMSB, h.Op, 0)
		}
		if u <= 0xFFFF {
			return h, 0, headerError(nonMinimal64, h.Op, u)
		}
		l = int64(u)
	}
	h.Length = l
	if h.Masked {
		copy(h.Mask[:], b[p:p+4])
	}
	if !h.Op.known() {
		return h, 0, headerError(unknownOpcode, h.Op, 0)
	}
	if h.Op.IsControl() {
		if !h.Fin {
			return h, 0, headerError(fragmentedControl, h.Op, 0)
		}
		if h.Length > 125 {
			return h, 0, headerError(longControl, h.Op, uint64(h.Length))
		}
	}
	return h, n, nil
}

// headerFault names what ParseHeader found wrong in a header.
type headerFault uint8

const (
	nonMinimal16 headerFault = iota
	lengthMSB
	nonMinimal64
	unknownOpcode
	fragmentedControl
	longControl
)

// headerError builds ParseHeader's error for fault, about a frame of
// opcode op whose length (or other figure the message gives) is n. It is
// kept out of line so that formatting an error takes no room in the frame
// of the parser, which runs for every frame.
//
//go:noinline
func headerError(fault headerFault, op Opcode, n uint64) error {
	switch fault {
	case nonMinimal16:
		return fmt.Errorf("%w: length %d in non-minimal 16-bit form", ErrProtocol, n)
	case lengthMSB:
		return fmt.Errorf("%w: 64-bit length with the most significant bit set", ErrProtocol)
	case nonMinimal64:
		return fmt.Errorf("%w: length %d in non-minimal 64-bit form", ErrProtocol, n)
	case unknownOpcode:
		return fmt.Errorf("%w: %v", ErrProtocol, op)
	case fragmentedControl:
		return fmt.Errorf("%w: fragmented %v frame", ErrProtocol, op)
	}
	return fmt.Errorf("%w: %v frame with %d-byte payload (max 125)", ErrProtocol, op, n)
}

// PutHeader encodes a frame header into b, which must have room for
// MaxHeaderSize bytes, and returns its size. The length is written in the
// minimal form. A nil mask writes an unmasked header.
func PutHeader(b []byte, fin bool, rsv byte, op Opcode, length int64, mask *[4]byte) int {
	_ = b[MaxHeaderSize-1]
	b0 := byte(op) | rsv&0x70
	if fin {
		b0 |= 0x80
	}
	b[0] = b0
	var m byte
	if mask != nil {
		m = 0x80
	}
	n := 2
	switch {
	case length <= 125:
		b[1] = m | byte(length)
	case length <= 0xFFFF:
		b[1] = m | 126
		binary.BigEndian.PutUint16(b[2:], uint16(length))
		n = 4
	default:
		b[1] = m | 127
		binary.BigEndian.PutUint64(b[2:], uint64(length))
		n = 10
	}
	if mask != nil {
		copy(b[n:], mask[:])
		n += 4
	}
	return n
}

// Mask XORs b in place with the masking key, starting at byte pos of the
// key's 4-byte cycle, and returns the position after b. Applying it twice
// restores b. It works 64 bytes at a time in SSE2 registers on amd64,
// then 8 bytes at a time (32 in the main loop).
func Mask(key [4]byte, pos int, b []byte) int {
	k32 := binary.LittleEndian.Uint32(key[:])
	k32 = bits.RotateLeft32(k32, -8*(pos&3))
	k := uint64(k32) | uint64(k32)<<32
	if haveMaskBlocks && len(b) >= 64 {
		n := len(b) / 64
		maskBlocks(&b[0], &b[0], n, k)
		b = b[n*64:]
	}
	for len(b) >= 32 {
		v0 := binary.LittleEndian.Uint64(b) ^ k
		v1 := binary.LittleEndian.Uint64(b[8:]) ^ k
		v2 := binary.LittleEndian.Uint64(b[16:]) ^ k
		v3 := binary.LittleEndian.Uint64(b[24:]) ^ k
		binary.LittleEndian.PutUint64(b, v0)
		binary.LittleEndian.PutUint64(b[8:], v1)
		binary.LittleEndian.PutUint64(b[16:], v2)
		binary.LittleEndian.PutUint64(b[24:], v3)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(k32)
		k32 = bits.RotateLeft32(k32, -8)
		pos++
	}
	return pos & 3
}

// MaskCopy is copy(dst, src) and Mask on the copy in one pass over the
// bytes (a client frames each payload into its write buffer this way).
// dst must be at least as long as src. Mask keeps a loop of its own
// because the in-place case is the faster one to write separately
// (BenchmarkMask compares them).
func MaskCopy(key [4]byte, pos int, dst, src []byte) int {
	dst = dst[:len(src)]
	k32 := binary.LittleEndian.Uint32(key[:])
	k32 = bits.RotateLeft32(k32, -8*(pos&3))
	k := uint64(k32) | uint64(k32)<<32
	if haveMaskBlocks && len(src) >= 64 {
		n := len(src) / 64
		maskBlocks(&dst[0], &src[0], n, k)
		src, dst = src[n*64:], dst[n*64:]
	}
	for len(src) >= 32 && len(dst) >= 32 {
		s, d := src[:32:32], dst[:32:32] // lets the compiler drop bounds checks
		v0 := binary.LittleEndian.Uint64(s) ^ k
		v1 := binary.LittleEndian.Uint64(s[8:]) ^ k
		v2 := binary.LittleEndian.Uint64(s[16:]) ^ k
		v3 := binary.LittleEndian.Uint64(s[24:]) ^ k
		binary.LittleEndian.PutUint64(d, v0)
		binary.LittleEndian.PutUint64(d[8:], v1)
		binary.LittleEndian.PutUint64(d[16:], v2)
		binary.LittleEndian.PutUint64(d[24:], v3)
		src, dst = src[32:], dst[32:]
	}
	for len(src) >= 8 && len(dst) >= 8 {
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src)^k)
		src, dst = src[8:], dst[8:]
	}
	for i := range src {
		dst[i] = src[i] ^ byte(k32)
		k32 = bits.RotateLeft32(k32, -8)
		pos++
	}
	return pos & 3
}
