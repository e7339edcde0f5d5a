package textframe

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/wsio/wsio/limits"
)

const (
	// exactLimit is the largest total reservation for which the buffer is
	// allocated up front, at its exact size. Above it the buffer grows
	// geometrically as bytes arrive, so a peer that declares a long payload
	// and then trickles it cannot make us hold the whole length early.
	exactLimit = 64 << 10

	// keepLimit is the largest buffer an Assembler keeps between messages.
	// Larger ones go back to bigPool at Finish.
	keepLimit = 64 << 10

	// minGrow is the smallest buffer allocated when growing on demand.
	minGrow = 512
)

// bigPool holds *[]byte buffers of capacity above keepLimit, shared by all
// Assemblers so that idle connections do not each keep one.
var bigPool sync.Pool

var (
	errInvalidText = fmt.Errorf("textframe: text message: %w", ErrInvalidUTF8)
	errUnfinished  = fmt.Errorf("textframe: text message ends inside a UTF-8 sequence: %w", ErrInvalidUTF8)
)

// Assembler builds one text message from the payload bytes of its frames,
// in order.
//
// Per message the caller calls [Assembler.Begin]; then, for each frame,
// [Assembler.Reserve] with the payload length from the frame header, and
// [Assembler.Next] and [Assembler.Commit] until the payload is read; and at
// the end of the message [Assembler.Finish]:
//
//	a.Begin(capBytes)
//	for each frame {
//		if err := a.Reserve(n); err != nil { /* close 1009 */ }
//		for n > 0 {
//			buf := a.Next(min(n, 32<<10))
//			k, err := r.Read(buf) // then unmask buf[:k]
//			if err := a.Commit(k); err != nil { /* close 1007 */ }
//			n -= k
//		}
//	}
//	s, err := a.Finish() // err: close 1007
//
// The zero value is usable after Begin. An Assembler is not safe for
// concurrent use.
type Assembler struct {
	budget  limits.Budget
	v       Validator
	buf     []byte  // committed bytes; Next hands out buf[len(buf):]
	pending int64   // bytes reserved but not yet committed
	open    int     // bytes of the last Next slice not yet committed
	exact   bool    // buf was allocated for a single reservation, at its size
	box     *[]byte // spare holder for putting a buffer in bigPool without allocating
}

// Begin starts a new message that may hold at most capBytes bytes; a
// negative capBytes means no cap. Any message in progress is abandoned.
func (a *Assembler) Begin(capBytes int64) {
	a.budget = limits.Budget{Cap: capBytes}
	a.v.Reset()
	a.buf = a.buf[:0]
	a.pending = 0
	a.open = 0
	a.exact = false
}

// Reserve declares that the next frame carries n more payload bytes. Call it
// with the length from the frame header before reading the payload: when the
// message would exceed its cap it returns an error wrapping
// [limits.ErrTooBig] and reserves nothing, so the connection can close with
// status 1009 without reading the payload. The length is also a size hint:
// up to a total of 64 KiB the buffer is allocated in one piece, at its exact
// size, by [Assembler.Prepare] or the next [Assembler.Next].
func (a *Assembler) Reserve(n int64) error {
	if n > 0 && int64(len(a.buf))+a.pending > math.MaxInt-n {
		return errOverflow
	}
	if err := a.budget.Take(n); err != nil {
		return tooBig(err)
	}
	if n == 0 {
		return nil
	}
	a.pending += n
	total := int64(len(a.buf)) + a.pending
	switch {
	case total > int64(cap(a.buf)) && total <= exactLimit && cap(a.buf) == 0:
		a.exact = true // allocated by Prepare or Next, at total bytes
	case total > int64(cap(a.buf)) && total <= exactLimit:
		a.grow(int(total), exactLimit)
	default:
		a.exact = false // a second reservation, or buffer not sized for this one
	}
	return nil
}

// Prepare allocates the buffer Reserve sized at its exact size, when it
// has not been allocated yet; Next allocates it otherwise. A caller that
// reserves from deep in its stack can call Prepare from a shallower frame,
// so that the allocation runs there.
func (a *Assembler) Prepare() {
	if a.exact && cap(a.buf) == 0 && a.pending > 0 {
		a.buf = make([]byte, 0, a.pending)
	}
}

// errOverflow is Reserve's error for a total length past what an int holds.
var errOverflow = fmt.Errorf("textframe: message length overflows: %w", limits.ErrTooBig)

// tooBig is Reserve's error for err, the budget's: out of line, so that
// Reserve's frame, under Next's when a text message starts, stays small.
//
//go:noinline
func tooBig(err error) error { return fmt.Errorf("textframe: %w", err) }

// Next returns a writable slice of length n that follows the bytes assembled
// so far, for the caller to read payload straight into. n must not exceed the
// bytes reserved and not yet committed; Next panics otherwise. For a long
// payload ask for it in pieces (for example 32 KiB at a time): the buffer
// then grows with the bytes that actually arrive, not with the declared
// length. The slice is valid until the next call of Next, Finish, Begin or
// Release; calling Next again discards uncommitted bytes of the previous one.
func (a *Assembler) Next(n int) []byte {
	if n < 0 || int64(n) > a.pending {
		panic(fmt.Sprintf("textframe: Next(%d) with only %d bytes reserved", n, a.pending))
	}
	a.Prepare()
	need := len(a.buf) + n
	if need > cap(a.buf) {
		a.grow(need, 0)
	}
	a.open = n
	return a.buf[len(a.buf):need:need]
}

// Commit declares that the first k bytes of the slice returned by the last
// call of [Assembler.Next] are filled (and unmasked). It validates them and
// appends them to the message. The error wraps [ErrInvalidUTF8] as soon as
// the text cannot be valid UTF-8 whatever follows; it is sticky until the
// next Begin. Commit may be called again for the bytes of the same slice
// that follow; k must not exceed the bytes of that slice still uncommitted,
// or Commit panics.
func (a *Assembler) Commit(k int) error {
	if k < 0 || k > a.open {
		panic(fmt.Sprintf("textframe: Commit(%d) with only %d bytes from Next", k, a.open))
	}
	end := len(a.buf) + k
	ok := a.v.Feed(a.buf[len(a.buf):end])
	a.buf = a.buf[:end]
	a.open -= k
	a.pending -= int64(k)
	if !ok {
		return errInvalidText
	}
	return nil
}

// Finish ends the message and returns it as a string. The error wraps
// [ErrInvalidUTF8] when the text is invalid or ends inside a multi-byte
// sequence. Either way the Assembler is reset for the next Begin. All bytes
// reserved must have been committed, or Finish panics; after a Commit error
// it just returns that error again.
//
// Finish allocates once, the size of the message. When the message came in
// a single reservation of up to 64 KiB for which the buffer was allocated
// at its exact size, the string takes the buffer over without copying.
// Otherwise the bytes are copied and the buffer is kept for the next
// message, or, above 64 KiB, returned to a shared pool.
func (a *Assembler) Finish() (string, error) {
	failed, complete := a.v.failed(), a.v.Complete()
	if a.pending != 0 && !failed {
		panic(fmt.Sprintf("textframe: Finish with %d reserved bytes not committed", a.pending))
	}
	a.v.Reset()
	a.budget.Reset()
	a.pending = 0
	a.open = 0
	exact := a.exact
	a.exact = false
	b := a.buf
	if !complete {
		a.keep(b)
		if failed {
			return "", errInvalidText
		}
		return "", errUnfinished
	}
	switch {
	case len(b) == 0:
		a.keep(b)
		return "", nil
	case exact && len(b) == cap(b):
		// The buffer was made for this message alone: the string owns
		// these bytes from now on, so never touch them again.
		a.buf = nil
		return unsafe.String(&b[0], len(b)), nil
	default:
		s := string(b)
		a.keep(b)
		return s, nil
	}
}

// Release drops any buffer the Assembler retains, for when the connection
// is idle or closed. Any message in progress is abandoned; call Begin
// before the next one.
func (a *Assembler) Release() {
	a.recycle(a.buf)
	*a = Assembler{}
}

// keep retains b, emptied, for the next message if it is small, and pools
// it otherwise.
func (a *Assembler) keep(b []byte) {
	if cap(b) > keepLimit {
		a.recycle(b)
		a.buf = nil
		return
	}
	a.buf = b[:0]
}

// recycle puts b in bigPool if it is big enough to be worth sharing.
func (a *Assembler) recycle(b []byte) {
	if cap(b) <= keepLimit {
		return
	}
	box := a.box
	if box == nil {
		box = new([]byte)
	}
	a.box = nil
	*box = b[:0]
	bigPool.Put(box)
}

// grow replaces the buffer with one of capacity at least need, keeping the
// committed bytes. It grows geometrically, but never beyond the message cap
// nor, when limit > 0, beyond max(limit, need).
func (a *Assembler) grow(need, limit int) {
	t := minGrow
	if c := cap(a.buf); c < math.MaxInt/2 && 2*c > t {
		t = 2 * c
	}
	if limit > 0 && t > limit {
		t = limit
	}
	if c := a.budget.Cap; c >= 0 && int64(t) > c {
		t = int(c)
	}
	if t < need {
		t = need
	}
	var nb []byte
	if t > keepLimit {
		if box, ok := bigPool.Get().(*[]byte); ok {
			if cap(*box) >= need {
				nb = (*box)[:0]
				*box = nil
				a.box = box
			} else {
				bigPool.Put(box)
			}
		}
	}
	if nb == nil {
		nb = make([]byte, 0, t)
	}
	nb = append(nb, a.buf...)
	a.recycle(a.buf)
	a.buf = nb
	a.exact = false
}
