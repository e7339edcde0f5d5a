package textframe

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wsio/wsio/limits"
)

// feedFrame reserves a frame and commits its payload through Next in pieces
// of at most chunk bytes (chunk <= 0: all at once).
func feedFrame(a *Assembler, payload []byte, chunk int) error {
	if err := a.Reserve(int64(len(payload))); err != nil {
		return err
	}
	for len(payload) > 0 {
		n := len(payload)
		if chunk > 0 && n > chunk {
			n = chunk
		}
		dst := a.Next(n)
		copy(dst, payload[:n])
		if err := a.Commit(n); err != nil {
			return err
		}
		payload = payload[n:]
	}
	return nil
}

func TestAssembler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cap     int64
		frames  [][]byte
		chunk   int
		want    string
		wantErr error // checked with errors.Is
		errAt   int   // frame index where the error appears; len(frames) = at Finish
	}{
		{name: "empty", cap: 10, frames: [][]byte{{}}, want: ""},
		{name: "no frames", cap: 10, want: ""},
		{name: "single", cap: 100, frames: [][]byte{[]byte("hello")}, want: "hello"},
		{name: "fragments", cap: 100, frames: [][]byte{[]byte("hel"), {}, []byte("lo, "), []byte("wörld")}, want: "hello, wörld"},
		{name: "char split across fragments", cap: 100, frames: [][]byte{b('a', 0xE4), b(0xB8), b(0xAD, 'z')}, want: "a中z"},
		{name: "4-byte split across fragments", cap: 100, frames: [][]byte{b(0xF0), b(0x9F), b(0x98), b(0x80)}, want: "😀"},
		{name: "small chunks", cap: 100, frames: [][]byte{[]byte("κόσμε 中文 😀")}, chunk: 1, want: "κόσμε 中文 😀"},
		{name: "cap exactly hit", cap: 10, frames: [][]byte{[]byte("01234"), []byte("56789")}, want: "0123456789"},
		{name: "cap one over", cap: 10, frames: [][]byte{[]byte("01234"), []byte("567890")}, wantErr: limits.ErrTooBig, errAt: 1},
		{name: "cap one over single", cap: 10, frames: [][]byte{[]byte("01234567890")}, wantErr: limits.ErrTooBig, errAt: 0},
		{name: "zero cap", cap: 0, frames: [][]byte{[]byte("a")}, wantErr: limits.ErrTooBig, errAt: 0},
		{name: "no cap", cap: -1, frames: [][]byte{bytes.Repeat([]byte("a"), 100000)}, want: strings.Repeat("a", 100000)},
		{name: "invalid split across fragments", cap: 100, frames: [][]byte{kosmeCopy(), b(0xED), b(0xA0, 0x80), []byte("edited")}, wantErr: ErrInvalidUTF8, errAt: 2},
		{name: "invalid in first frame", cap: 100, frames: [][]byte{b('a', 0xFF), []byte("b")}, wantErr: ErrInvalidUTF8, errAt: 0},
		{name: "unfinished at Finish", cap: 100, frames: [][]byte{[]byte("ab"), b(0xF0, 0x9F, 0x98)}, wantErr: ErrInvalidUTF8, errAt: 2},
		{name: "large fragmented", cap: 1 << 20, frames: [][]byte{bytes.Repeat([]byte("é"), 40000), bytes.Repeat([]byte("中"), 20000)}, chunk: 7000, want: strings.Repeat("é", 40000) + strings.Repeat("中", 20000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var a Assembler
			// Run twice to check that the Assembler resets properly.
			for round := range 2 {
				a.Begin(tc.cap)
				errAt := -1
				var err error
				for i, f := range tc.frames {
					if err = feedFrame(&a, f, tc.chunk); err != nil {
						errAt = i
						break
					}
				}
				var got string
				if err == nil {
					got, err = a.Finish()
					if err != nil {
						errAt = len(tc.frames)
					}
				}
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) || errAt != tc.errAt {
						t.Fatalf("round %d: error %v at frame %d, want %v at %d", round, err, errAt, tc.wantErr, tc.errAt)
					}
					continue
				}
				if err != nil || got != tc.want {
					t.Fatalf("round %d: got %q, %v; want %q", round, got, err, tc.want)
				}
			}
		})
	}
}

func TestAssemblerPartialCommits(t *testing.T) {
	t.Parallel()
	msg := []byte("partial κόσμε commits 😀!")
	var a Assembler
	a.Begin(-1)
	if err := a.Reserve(int64(len(msg))); err != nil {
		t.Fatal(err)
	}
	rest := msg
	// A slice from Next filled and committed in several reads.
	dst := a.Next(10)
	for _, k := range []int{3, 0, 4, 3} {
		copy(dst, rest[:k])
		if err := a.Commit(k); err != nil {
			t.Fatal(err)
		}
		dst, rest = dst[k:], rest[k:]
	}
	// A slice from Next only partly filled, then a new Next.
	dst = a.Next(len(rest))
	copy(dst, rest[:5])
	if err := a.Commit(5); err != nil {
		t.Fatal(err)
	}
	rest = rest[5:]
	dst = a.Next(len(rest))
	if len(dst) != len(rest) || cap(dst) != len(rest) {
		t.Fatalf("Next(%d) returned len %d cap %d", len(rest), len(dst), cap(dst))
	}
	copy(dst, rest)
	if err := a.Commit(len(rest)); err != nil {
		t.Fatal(err)
	}
	got, err := a.Finish()
	if err != nil || got != string(msg) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestAssemblerMisusePanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    func(a *Assembler)
	}{
		{"Next beyond reservation", func(a *Assembler) { a.Reserve(3); a.Next(4) }},
		{"Next without reservation", func(a *Assembler) { a.Next(1) }},
		{"Commit beyond Next", func(a *Assembler) { a.Reserve(3); a.Next(2); a.Commit(3) }},
		{"Commit twice", func(a *Assembler) { a.Reserve(3); a.Next(2)[0] = 'a'; a.Commit(1); a.Commit(2) }},
		{"Finish before commit", func(a *Assembler) { a.Reserve(3); a.Finish() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			var a Assembler
			a.Begin(10)
			tc.f(&a)
		})
	}
}

func TestAssemblerErrorIsSticky(t *testing.T) {
	t.Parallel()
	var a Assembler
	a.Begin(100)
	if err := feedFrame(&a, b('a', 0xC0), 0); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("got %v", err)
	}
	if err := feedFrame(&a, []byte("fine"), 0); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("error not sticky: %v", err)
	}
	if _, err := a.Finish(); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("Finish: %v", err)
	}
	// Finish right after a failed Commit, with bytes still reserved.
	a.Begin(100)
	if err := a.Reserve(10); err != nil {
		t.Fatal(err)
	}
	copy(a.Next(2), b(0xFF, 'a'))
	if err := a.Commit(2); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("got %v", err)
	}
	if _, err := a.Finish(); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("Finish with bytes reserved after failure: %v", err)
	}
	a.Begin(100)
	if err := feedFrame(&a, []byte("fine"), 0); err != nil {
		t.Fatal(err)
	}
	if s, err := a.Finish(); s != "fine" || err != nil {
		t.Fatalf("after Begin: %q, %v", s, err)
	}
}

// TestAssemblerReuse assembles many messages of many shapes with one
// Assembler and keeps every string, then checks none was overwritten: a
// buffer handed to a string must never be reused.
func TestAssemblerReuse(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	var a Assembler
	var got, want []string
	for i := range 500 {
		size := rng.IntN(300)
		switch i % 50 {
		case 10:
			size = exactLimit
		case 20:
			size = exactLimit + rng.IntN(100000)
		}
		msg := randomText(rng, size, false)
		a.Begin(int64(len(msg)))
		frames := rng.IntN(4)
		rest := msg
		for f := 0; f <= frames; f++ {
			n := len(rest)
			if f < frames {
				n = rng.IntN(len(rest) + 1)
			}
			if err := feedFrame(&a, rest[:n], 1+rng.IntN(40000)); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			rest = rest[n:]
		}
		s, err := a.Finish()
		if err != nil || s != string(msg) {
			t.Fatalf("message %d: got %d bytes, %v", i, len(s), err)
		}
		got = append(got, s)
		want = append(want, string(msg))
		if i%100 == 99 {
			a.Release()
		}
		if cap(a.buf) > keepLimit {
			t.Fatalf("message %d: kept a buffer of %d bytes", i, cap(a.buf))
		}
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("message %d was overwritten", i)
		}
	}
}

func TestAssemblerFinishAllocs(t *testing.T) {
	msg := []byte(strings.Repeat("héllo wörld ", 100))
	one := func(a *Assembler, frames int) func() {
		return func() {
			a.Begin(1 << 20)
			n := len(msg) / frames
			for f := range frames {
				p := msg[f*n:]
				if f < frames-1 {
					p = p[:n]
				}
				if err := feedFrame(a, p, 0); err != nil {
					panic(err)
				}
			}
			if s, err := a.Finish(); err != nil || len(s) != len(msg) {
				panic("bad message")
			}
		}
	}
	tests := []struct {
		name   string
		frames int
		prime  bool // run a fragmented message first so a buffer is retained
	}{
		{"single frame, fresh", 1, false},
		{"single frame, retained buffer", 1, true},
		{"fragmented, retained buffer", 3, true},
	}
	for _, tc := range tests {
		var a Assembler
		if tc.prime {
			one(&a, 3)()
		}
		if n := testing.AllocsPerRun(200, one(&a, tc.frames)); n != 1 {
			t.Errorf("%s: %v allocations per message, want 1", tc.name, n)
		}
	}
	// The common case of a fresh single-frame message hands its buffer to
	// the string.
	var a Assembler
	one(&a, 1)()
	if a.buf != nil {
		t.Errorf("single-frame message left a buffer of cap %d", cap(a.buf))
	}
}

// TestAssemblerTrickle: a peer declares 2 MiB and sends bytes slowly; the
// Assembler must not allocate the declared length up front.
func TestAssemblerTrickle(t *testing.T) {
	t.Parallel()
	var a Assembler
	a.Begin(limits.DefaultBufferCap)
	if err := a.Reserve(2 << 20); err != nil {
		t.Fatal(err)
	}
	if cap(a.buf) != 0 {
		t.Fatalf("Reserve allocated %d bytes", cap(a.buf))
	}
	for range 10 {
		dst := a.Next(1)
		dst[0] = 'x'
		if err := a.Commit(1); err != nil {
			t.Fatal(err)
		}
	}
	if c := cap(a.buf); c > 4096 {
		t.Fatalf("holding %d bytes for 10 received", c)
	}
	// Growth stays geometric in what has arrived (kept under 64 KiB here so
	// that no pooled buffer from another test can be picked up).
	for range 50 {
		copy(a.Next(1000), bytes.Repeat([]byte("y"), 1000))
		if err := a.Commit(1000); err != nil {
			t.Fatal(err)
		}
	}
	if c, l := cap(a.buf), len(a.buf); c > 2*l+minGrow {
		t.Fatalf("holding %d bytes for %d received", c, l)
	}
	a.Release()
	if a.buf != nil {
		t.Fatal("Release kept the buffer")
	}
}

func TestAssemblerReserveSizing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cap     int64
		reserve []int64
		wantCap int // capacity after the reservations
	}{
		{"exact small", 1 << 20, []int64{100}, 100},
		{"exact at limit", 1 << 20, []int64{exactLimit}, exactLimit},
		{"above limit deferred", 1 << 20, []int64{exactLimit + 1}, 0},
		{"fragments grow geometrically", 1 << 20, []int64{100, 100}, minGrow},
		{"fragments growth capped at limit", 1 << 20, []int64{40000, 20000}, exactLimit},
		{"growth bounded by message cap", 150, []int64{100, 50}, 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var a Assembler
			a.Begin(tc.cap)
			for _, n := range tc.reserve {
				if err := a.Reserve(n); err != nil {
					t.Fatal(err)
				}
				a.Prepare() // as a reader does, before the frame's payload
			}
			if cap(a.buf) != tc.wantCap {
				t.Fatalf("cap %d, want %d", cap(a.buf), tc.wantCap)
			}
		})
	}
}

// Reserve leaves the allocation of an exact-size buffer to Prepare, or to
// Next when Prepare is not called; either makes it at the reserved size.
func TestAssemblerPrepare(t *testing.T) {
	t.Parallel()
	for _, prepare := range []bool{true, false} {
		var a Assembler
		a.Begin(1 << 20)
		if err := a.Reserve(100); err != nil {
			t.Fatal(err)
		}
		if cap(a.buf) != 0 {
			t.Fatalf("Reserve allocated %d bytes", cap(a.buf))
		}
		if prepare {
			a.Prepare()
			a.Prepare() // again: nothing more
		}
		copy(a.Next(10), "0123456789")
		if cap(a.buf) != 100 {
			t.Fatalf("prepare %v: cap %d, want the reserved 100", prepare, cap(a.buf))
		}
		if err := a.Commit(10); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAssemblerReserveOverflow(t *testing.T) {
	t.Parallel()
	var a Assembler
	a.Begin(-1)
	half := int64(math.MaxInt/2 + 1) // two halves do not fit in an int
	if err := a.Reserve(half); err != nil {
		t.Fatal(err)
	}
	if err := a.Reserve(half); !errors.Is(err, limits.ErrTooBig) {
		t.Fatalf("got %v", err)
	}
	if err := a.Reserve(-1); !errors.Is(err, limits.ErrTooBig) {
		t.Fatalf("negative: got %v", err)
	}
	a.Release()
}

// TestAssemblerRandom compares random assemblies with the validator and
// utf8.Valid.
func TestAssemblerRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var a Assembler
	for i := range 2000 {
		msg := randomText(rng, rng.IntN(100), rng.IntN(3) == 0)
		if err := assembleRandom(&a, msg, rng, -1); err != nil {
			t.Fatalf("message %d (% X): %v", i, msg, err)
		}
	}
}

// assembleRandom sends msg through a in random frames and reads, and checks
// the outcome against utf8.Valid and the message cap.
func assembleRandom(a *Assembler, msg []byte, rng *rand.Rand, capBytes int64) error {
	a.Begin(capBytes)
	failAt := refFailAt(msg) // bytes after which the text is known invalid
	rest := msg
	off := 0
	for len(rest) > 0 || rng.IntN(3) == 0 {
		n := rng.IntN(len(rest) + 1)
		err := a.Reserve(int64(n))
		if capBytes >= 0 && int64(off+n) > capBytes {
			if !errors.Is(err, limits.ErrTooBig) {
				return errors.New("Reserve over the cap did not fail")
			}
			return nil
		}
		if err != nil {
			return err
		}
		frame := rest[:n]
		for len(frame) > 0 {
			k := 1 + rng.IntN(len(frame))
			dst := a.Next(k)
			fill := rng.IntN(k + 1) // a short read
			copy(dst, frame[:fill])
			err := a.Commit(fill)
			off += fill
			frame, rest = frame[fill:], rest[fill:]
			if failAt >= 0 && failAt <= off {
				if !errors.Is(err, ErrInvalidUTF8) || failAt <= off-fill {
					return errors.New("Commit did not fail on the bad byte")
				}
				a.Begin(capBytes) // the connection would close here
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	s, err := a.Finish()
	if utf8.Valid(msg) {
		if err != nil || s != string(msg) {
			return errors.New("valid message came out wrong")
		}
	} else if !errors.Is(err, ErrInvalidUTF8) {
		return errors.New("unfinished message accepted")
	}
	return nil
}
