package textframe

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// ErrInvalidUTF8 reports text that is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("invalid UTF-8")

// The validator is a deterministic automaton over bytes whose states are
// exactly the classes of "valid UTF-8 prefix" that differ in what may come
// next, plus one absorbing reject state. Because every non-reject state is a
// valid prefix, the automaton rejects on the very first byte that no
// continuation could repair.
//
// Each state is stored as a multiple of 6 so that the whole transition row of
// a byte fits in one uint64: bits [s, s+6) of dfa[b] hold the state reached
// from state s on byte b. One step is then a single shift,
//
//	s = dfa[b] >> (s & 63)
//
// where only the low six bits of s are meaningful. The chain of dependent
// operations per byte is one shift, which keeps multi-byte text fast.
const (
	stAccept = 0  // at a character boundary
	stReject = 6  // no continuation can make the text valid
	stNeed1  = 12 // one continuation byte 80..BF missing
	stNeed2  = 18 // two continuation bytes missing
	stNeed3  = 24 // three continuation bytes missing
	stE0     = 30 // after E0: next must be A0..BF (no overlongs)
	stED     = 36 // after ED: next must be 80..9F (no surrogates)
	stF0     = 42 // after F0: next must be 90..BF (no overlongs)
	stF4     = 48 // after F4: next must be 80..8F (nothing above U+10FFFF)
	stLast   = stF4
)

// asciiMask has the high bit of every byte of a word set.
const asciiMask = 0x8080808080808080

var dfa = buildDFA()

func buildDFA() (t [256]uint64) {
	for b := range 256 {
		for s := uint64(0); s <= stLast; s += 6 {
			t[b] |= step(s, byte(b)) << s
		}
	}
	return t
}

// step is the transition function of the automaton, written out from the
// table of well-formed byte sequences in RFC 3629, section 4.
func step(s uint64, b byte) uint64 {
	cont := b >= 0x80 && b <= 0xBF
	switch s {
	case stAccept:
		switch {
		case b < 0x80:
			return stAccept
		case b >= 0xC2 && b <= 0xDF:
			return stNeed1
		case b == 0xE0:
			return stE0
		case b == 0xED:
			return stED
		case b >= 0xE1 && b <= 0xEF:
			return stNeed2
		case b == 0xF0:
			return stF0
		case b >= 0xF1 && b <= 0xF3:
			return stNeed3
		case b == 0xF4:
			return stF4
		}
	case stNeed1:
		if cont {
			return stAccept
		}
	case stNeed2:
		if cont {
			return stNeed1
		}
	case stNeed3:
		if cont {
			return stNeed2
		}
	case stE0:
		if b >= 0xA0 && b <= 0xBF {
			return stNeed1
		}
	case stED:
		if b >= 0x80 && b <= 0x9F {
			return stNeed1
		}
	case stF0:
		if b >= 0x90 && b <= 0xBF {
			return stNeed2
		}
	case stF4:
		if b >= 0x80 && b <= 0x8F {
			return stNeed2
		}
	}
	return stReject
}

// run advances the automaton from state s over p and returns the new state.
// It returns as soon as the reject state is reached within a block of eight
// bytes, so a long invalid input is not scanned to its end.
func run(s uint64, p []byte) uint64 {
	// With cap == len the compiler need not track the capacity when p is
	// resliced below. The main ASCII loop tests len(p) > 32 rather than
	// >= 32 so that its reslice never points past the end, which would need
	// a fixup.
	p = p[:len(p):len(p)]
	for {
		if s&63 == stAccept {
			// ASCII fast path: skip 32, then 8 bytes at a time.
			for len(p) > 32 && (word(p)|word(p[8:])|word(p[16:])|word(p[24:]))&asciiMask == 0 {
				p = p[32:]
			}
			for len(p) >= 8 && word(p)&asciiMask == 0 {
				p = p[8:]
			}
		}
		if len(p) < 8 {
			break
		}
		// Eight automaton steps with no branch between them.
		s = dfa[p[0]] >> (s & 63)
		s = dfa[p[1]] >> (s & 63)
		s = dfa[p[2]] >> (s & 63)
		s = dfa[p[3]] >> (s & 63)
		s = dfa[p[4]] >> (s & 63)
		s = dfa[p[5]] >> (s & 63)
		s = dfa[p[6]] >> (s & 63)
		s = dfa[p[7]] >> (s & 63)
		p = p[8:]
		if s&63 == stReject {
			return stReject
		}
	}
	for _, b := range p {
		s = dfa[b] >> (s & 63)
	}
	return s & 63
}

// word loads the first eight bytes of p (len(p) >= 8) in one operation.
func word(p []byte) uint64 { return binary.LittleEndian.Uint64(p) }

// Validator checks UTF-8 incrementally: bytes may be fed in any split
// (across frames), and it fails fast, on the first byte after which no
// continuation could make the text valid.
//
// It accepts exactly what [unicode/utf8.Valid] accepts: it rejects overlong
// encodings, surrogates (U+D800..U+DFFF), code points above U+10FFFF, stray
// continuation bytes and, at [Validator.Complete], truncated sequences. The
// zero value is ready to use. A Validator is not safe for concurrent use.
type Validator struct {
	state uint8
}

// Feed checks the next bytes of the text. It returns false once the text fed
// so far cannot be the beginning of valid UTF-8, and keeps returning false
// until [Validator.Reset]. It does not allocate and does not retain p.
func (v *Validator) Feed(p []byte) bool {
	if v.state == stReject {
		return false
	}
	v.state = uint8(run(uint64(v.state), p))
	return v.state != stReject
}

// Complete reports whether the text fed so far is valid UTF-8 as a whole,
// that is, no error was seen and no multi-byte sequence is left unfinished.
// Call it at the end of a message.
func (v *Validator) Complete() bool { return v.state == stAccept }

// Reset forgets everything fed so far, ready for a new text.
func (v *Validator) Reset() { v.state = stAccept }

// failed reports whether Feed has returned false since the last Reset.
func (v *Validator) failed() bool { return v.state == stReject }

// ValidString reports whether s is valid UTF-8, as [unicode/utf8.ValidString]
// does. It uses the same fast routine as [Validator] and is meant for
// checking outgoing text.
func ValidString(s string) bool {
	return run(stAccept, unsafe.Slice(unsafe.StringData(s), len(s))) == stAccept
}
