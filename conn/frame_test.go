package conn

import (
	"bytes"
	"errors"
	"strconv"
	"testing"

	"github.com/wsio/wsio/internal/wstest"
)

// ---------------------------------------------------------------------------
// Frame codec

// encFrame encodes one frame, by hand (wstest.Frame) rather than with
// PutHeader, which it checks; a non-nil key masks it.
func encFrame(fin bool, rsv byte, op Opcode, payload []byte, key *[4]byte) []byte {
	return wstest.Frame(fin, rsv, byte(op), payload, key)
}

// rawHeader builds a header by hand, bypassing PutHeader's minimal encoding.
func rawHeader(b0, b1 byte, ext ...byte) []byte { return append([]byte{b0, b1}, ext...) }

func FuzzParseHeader(f *testing.F) {
	key := &[4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	for _, l := range []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000} {
		b := encFrame(true, 0, OpBinary, make([]byte, l), nil)
		f.Add(b[:min(len(b), MaxHeaderSize)])
		b = encFrame(false, Rsv1, OpContinuation, make([]byte, l), key)
		f.Add(b[:min(len(b), MaxHeaderSize)])
	}
	f.Add(encFrame(true, 0, OpPing, []byte("hi"), key))
	f.Add(encFrame(true, 0, OpClose, []byte{3, 0xE8}, nil))
	f.Add(rawHeader(0x89, 126, 0, 125))                       // over-long control frame in 16-bit form
	f.Add(rawHeader(0x82, 126, 0, 5))                         // non-minimal 16-bit length
	f.Add(rawHeader(0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF)) // non-minimal 64-bit length
	f.Add(rawHeader(0x82, 127, 0x80, 0, 0, 0, 0, 1, 0, 0))    // top bit set
	f.Add(rawHeader(0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4))
	f.Add(rawHeader(0x09, 0))             // fragmented ping
	f.Add(rawHeader(0x83, 0))             // reserved opcode
	f.Add(rawHeader(0x8B, 0))             // reserved control opcode
	f.Add(rawHeader(0xF1, 0x80, 1, 2, 3)) // short mask
	f.Add([]byte{0x81})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		need := 2
		if len(b) >= 2 {
			need = HeaderSize(b[1])
		}
		if (err == ErrShortHeader) != (len(b) < need) {
			t.Fatalf("ParseHeader(%x): err %v with %d bytes of a %d-byte header", b, err, len(b), need)
		}
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			if err != ErrShortHeader && !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if n != need || n > MaxHeaderSize {
			t.Fatalf("n=%d, want %d", n, need)
		}
		if h.Length < 0 {
			t.Fatalf("negative length %d", h.Length)
		}
		if h.Op.IsControl() && (h.Length > 125 || !h.Fin) {
			t.Fatalf("control frame accepted: %+v", h)
		}
		if !h.Op.known() || h.Rsv&^0x70 != 0 {
			t.Fatalf("bad header fields: %+v", h)
		}
		var mask *[4]byte
		if h.Masked {
			mask = &h.Mask
		} else if h.Mask != ([4]byte{}) {
			t.Fatalf("unmasked header with a key: %+v", h)
		}
		var out [MaxHeaderSize]byte
		m := PutHeader(out[:], h.Fin, h.Rsv, h.Op, h.Length, mask)
		if !bytes.Equal(out[:m], b[:n]) {
			t.Fatalf("re-encoded %x, input %x (%+v)", out[:m], b[:n], h)
		}
		// Parsing a longer buffer gives the same header.
		h2, n2, err2 := ParseHeader(append(b[:n:n], 0xEE, 0xEE))
		if err2 != nil || h2 != h || n2 != n {
			t.Fatalf("with trailing bytes: %+v %d %v", h2, n2, err2)
		}
	})
}

// naiveMask is the reference: XOR byte by byte with the key at the running
// position.
func naiveMask(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(uint(pos)+uint(i))&3]
	}
	return int((uint(pos) + uint(len(b))) & 3)
}

func FuzzMask(f *testing.F) {
	long := make([]byte, 100)
	for i := range long {
		long[i] = byte(i)
	}
	for _, pos := range []int{0, 1, 2, 3, 4, 7, -1, -6} {
		for _, l := range []int{0, 1, 3, 7, 8, 9, 31, 32, 33, 64, 71, 100} {
			f.Add(uint32(0x12345678*uint32(pos+l)), pos, long[:l], uint(l/2))
		}
	}
	f.Fuzz(func(t *testing.T, k uint32, pos int, b []byte, split uint) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		want := bytes.Clone(b)
		wantPos := naiveMask(key, pos, want)
		if wantPos != ((pos%4)+4)%4 && len(b) == 0 {
			t.Fatalf("reference broken")
		}
		got := bytes.Clone(b)
		gotPos := Mask(key, pos, got)
		if !bytes.Equal(got, want) {
			t.Fatalf("Mask(%x, %d, %d bytes) differs from the byte loop", key, pos, len(b))
		}
		if gotPos != wantPos || gotPos < 0 || gotPos > 3 {
			t.Fatalf("Mask returned position %d, want %d", gotPos, wantPos)
		}
		// In two pieces.
		s := int(split % uint(len(b)+1))
		two := bytes.Clone(b)
		p := Mask(key, pos, two[:s])
		p = Mask(key, p, two[s:])
		if !bytes.Equal(two, want) || p != wantPos {
			t.Fatalf("split at %d: differs (pos %d, want %d)", s, p, wantPos)
		}
		// Twice restores the input.
		Mask(key, pos, got)
		if !bytes.Equal(got, b) {
			t.Fatal("masking twice did not restore the input")
		}
		// MaskCopy gives the same bytes in a separate destination, in
		// two pieces too, and touches nothing past the source's length.
		src := bytes.Clone(b)
		dst := bytes.Repeat([]byte{0xA5}, len(b)+5)
		p = MaskCopy(key, pos, dst, src[:s])
		p = MaskCopy(key, p, dst[s:], src[s:])
		if !bytes.Equal(dst[:len(b)], want) || p != wantPos {
			t.Fatalf("MaskCopy split at %d: differs (pos %d, want %d)", s, p, wantPos)
		}
		if !bytes.Equal(dst[len(b):], bytes.Repeat([]byte{0xA5}, 5)) || !bytes.Equal(src, b) {
			t.Fatal("MaskCopy wrote past the copy or changed its source")
		}
	})
}

// TestMaskAllLengths compares Mask and MaskCopy with the byte loop for
// every length to 300, every key position and every start alignment, so
// the 64-byte assembly blocks and the Go loops after them meet at every
// boundary.
func TestMaskAllLengths(t *testing.T) {
	t.Parallel()
	key := [4]byte{0x11, 0x7e, 0xc3, 0x2d}
	base := make([]byte, 310)
	for i := range base {
		base[i] = byte(i * 7)
	}
	for off := range 8 {
		for n := range 301 {
			for pos := range 4 {
				want := bytes.Clone(base[off : off+n])
				wantPos := naiveMask(key, pos, want)
				got := bytes.Clone(base)
				if p := Mask(key, pos, got[off:off+n]); p != wantPos || !bytes.Equal(got[off:off+n], want) ||
					!bytes.Equal(got[:off], base[:off]) || !bytes.Equal(got[off+n:], base[off+n:]) {
					t.Fatalf("Mask off %d len %d pos %d: wrong bytes or position %d", off, n, pos, p)
				}
				dst := bytes.Repeat([]byte{0xA5}, len(base))
				if p := MaskCopy(key, pos, dst[off:], base[off:off+n]); p != wantPos || !bytes.Equal(dst[off:off+n], want) ||
					!bytes.Equal(dst[off+n:], bytes.Repeat([]byte{0xA5}, len(base)-off-n)) {
					t.Fatalf("MaskCopy off %d len %d pos %d: wrong bytes or position %d", off, n, pos, p)
				}
			}
		}
	}
}

var benchKey = [4]byte{0x9A, 0x3C, 0x57, 0xE1}

func BenchmarkMask(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
		buf := make([]byte, size)
		b.Run("fast/"+strconv.Itoa(size)+"B", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			pos := 0
			for b.Loop() {
				pos = Mask(benchKey, pos, buf)
			}
		})
		b.Run("copy/"+strconv.Itoa(size)+"B", func(b *testing.B) {
			dst := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			pos := 0
			for b.Loop() {
				pos = MaskCopy(benchKey, pos, dst, buf)
			}
		})
		b.Run("copy-then-mask/"+strconv.Itoa(size)+"B", func(b *testing.B) {
			dst := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			pos := 0
			for b.Loop() {
				copy(dst, buf)
				pos = Mask(benchKey, pos, dst)
			}
		})
		b.Run("naive/"+strconv.Itoa(size)+"B", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			pos := 0
			for b.Loop() {
				pos = naiveMask(benchKey, pos, buf)
			}
		})
	}
}

var benchHeaders = []struct {
	name   string
	op     Opcode
	length int64
	mask   *[4]byte
}{
	{"7bit", OpText, 100, nil},
	{"16bit-masked", OpBinary, 1000, &benchKey},
	{"64bit-masked", OpBinary, 1 << 20, &benchKey},
}

func BenchmarkParseHeader(b *testing.B) {
	for _, hc := range benchHeaders {
		var buf [MaxHeaderSize]byte
		n := PutHeader(buf[:], true, 0, hc.op, hc.length, hc.mask)
		b.Run(hc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				h, _, err := ParseHeader(buf[:n])
				if err != nil || h.Length != hc.length {
					b.Fatal(h, err)
				}
			}
		})
	}
}

func BenchmarkPutHeader(b *testing.B) {
	for _, hc := range benchHeaders {
		var buf [MaxHeaderSize]byte
		n := PutHeader(buf[:], true, 0, hc.op, hc.length, hc.mask)
		b.Run(hc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				PutHeader(buf[:], true, 0, hc.op, hc.length, hc.mask)
			}
		})
	}
}
