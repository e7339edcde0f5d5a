package wstest

import "encoding/binary"

// The frame encoders below are written by hand from RFC 6455 (section
// 5.2), independently of the codec under test (package conn), so that a
// bug in the codec cannot hide in the tests' own frames. A first byte b0
// holds FIN (0x80), the reserved bits RSV1–RSV3 (0x40, 0x20, 0x10) and the
// opcode (the low four bits), as on the wire.

// FrameHeader returns the header of a frame with first byte b0 and a
// payload of n bytes, in the minimal length form. When key is not nil the
// header says the payload is masked and carries key (a client's frame).
func FrameHeader(b0 byte, n int, key *[4]byte) []byte {
	return appendHeader(nil, b0, n, key)
}

func appendHeader(dst []byte, b0 byte, n int, key *[4]byte) []byte {
	var m byte
	if key != nil {
		m = 0x80
	}
	dst = append(dst, b0)
	switch {
	case n < 126:
		dst = append(dst, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if key != nil {
		dst = append(dst, key[:]...)
	}
	return dst
}

// AppendFrame appends to dst a frame with first byte b0 carrying payload,
// masked with key when key is not nil, and returns the extended slice.
// payload itself is left as it is.
func AppendFrame(dst []byte, b0 byte, payload []byte, key *[4]byte) []byte {
	dst = appendHeader(dst, b0, len(payload), key)
	start := len(dst)
	dst = append(dst, payload...)
	if key != nil {
		for i := range dst[start:] {
			dst[start+i] ^= key[i&3]
		}
	}
	return dst
}

// Frame encodes one frame: fin, the reserved bits rsv as they stand in the
// first byte (0x40 is RSV1), the opcode op and payload, masked with key
// when key is not nil.
func Frame(fin bool, rsv, op byte, payload []byte, key *[4]byte) []byte {
	b0 := rsv&0x70 | op&0x0F
	if fin {
		b0 |= 0x80
	}
	return AppendFrame(nil, b0, payload, key)
}

// Mask returns a copy of p masked (or unmasked: it is the same operation)
// with key, as the payload of a frame starting at offset 0.
func Mask(key [4]byte, p []byte) []byte {
	out := make([]byte, len(p))
	for i := range p {
		out[i] = p[i] ^ key[i&3]
	}
	return out
}

// ClosePayload returns the payload of a close frame: code in network byte
// order, then reason.
func ClosePayload(code uint16, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}
