package textframe

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

type tricky struct {
	name string
	in   []byte
	want bool
}

func b(s ...byte) []byte { return s }

// trickyCases covers every class of error and every boundary code point.
var trickyCases = []tricky{
	{"empty", b(), true},
	{"ascii", []byte("hello, world"), true},
	{"nul", b(0x00), true},
	{"U+007F", b(0x7F), true},
	{"U+0080", b(0xC2, 0x80), true},
	{"U+07FF", b(0xDF, 0xBF), true},
	{"U+0800", b(0xE0, 0xA0, 0x80), true},
	{"U+D7FF", b(0xED, 0x9F, 0xBF), true},
	{"U+E000", b(0xEE, 0x80, 0x80), true},
	{"U+FFFD", b(0xEF, 0xBF, 0xBD), true},
	{"U+FFFF", b(0xEF, 0xBF, 0xBF), true},
	{"U+10000", b(0xF0, 0x90, 0x80, 0x80), true},
	{"U+10FFFF", b(0xF4, 0x8F, 0xBF, 0xBF), true},
	{"kosme", kosme, true},
	{"mixed", []byte("aé中😀z"), true},
	{"overlong C0", b(0xC0, 0x80), false},
	{"overlong C1", b(0xC1, 0xBF), false},
	{"overlong E0 80", b(0xE0, 0x80, 0x80), false},
	{"overlong E0 9F", b(0xE0, 0x9F, 0xBF), false},
	{"overlong F0 80", b(0xF0, 0x80, 0x80, 0x80), false},
	{"overlong F0 8F", b(0xF0, 0x8F, 0xBF, 0xBF), false},
	{"surrogate D800", b(0xED, 0xA0, 0x80), false},
	{"surrogate DFFF", b(0xED, 0xBF, 0xBF), false},
	{"surrogate pair", b(0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80), false},
	{"U+110000", b(0xF4, 0x90, 0x80, 0x80), false},
	{"F4 BF", b(0xF4, 0xBF, 0xBF, 0xBF), false},
	{"F5", b(0xF5, 0x80, 0x80, 0x80), false},
	{"F8", b(0xF8, 0x88, 0x80, 0x80, 0x80), false},
	{"FC", b(0xFC, 0x84, 0x80, 0x80, 0x80, 0x80), false},
	{"FE", b(0xFE), false},
	{"FF", b(0xFF), false},
	{"stray 80", b(0x80), false},
	{"stray BF", b('a', 0xBF), false},
	{"two continuations", b(0xC2, 0x80, 0x80), false},
	{"truncated 2", b(0xC2), false},
	{"truncated 3/1", b(0xE1), false},
	{"truncated 3/2", b(0xE1, 0x80), false},
	{"truncated 4/1", b(0xF1), false},
	{"truncated 4/2", b(0xF1, 0x80), false},
	{"truncated 4/3", b(0xF1, 0x80, 0x80), false},
	{"truncated then ascii", b(0xE1, 0x80, 'a'), false},
	{"lead then lead", b(0xC2, 0xC2, 0x80), false},
	{"autobahn 6.4.1", append(kosmeCopy(), 0xF4, 0x90, 0x80, 0x80, 'e', 'd', 'i', 't', 'e', 'd'), false},
	{"autobahn 6.4.3", append(kosmeCopy(), 0xED, 0xA0, 0x80, 'e', 'd', 'i', 't', 'e', 'd'), false},
	{"long ascii then bad", append(bytes.Repeat([]byte("a"), 37), 0xFF), false},
	{"long ascii then good", append(bytes.Repeat([]byte("a"), 37), 0xC3, 0xA9), true},
}

// kosme is "κόσμε" as the Autobahn testsuite spells it, with U+1F79.
var kosme = b(0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5)

func kosmeCopy() []byte { return append([]byte{}, kosme...) }

func feedPieces(pieces ...[]byte) (ok bool, complete bool) {
	var v Validator
	ok = true
	for _, p := range pieces {
		if !v.Feed(p) {
			ok = false
		}
	}
	return ok, ok && v.Complete()
}

func TestValidatorTricky(t *testing.T) {
	t.Parallel()
	for _, tc := range trickyCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			want := utf8.Valid(in)
			if want != tc.want {
				t.Fatalf("table says %v, utf8.Valid says %v", tc.want, want)
			}
			if got := ValidString(string(in)); got != want {
				t.Errorf("ValidString = %v, want %v", got, want)
			}
			if _, got := feedPieces(in); got != want {
				t.Errorf("whole: got %v, want %v", got, want)
			}
			for i := 0; i <= len(in); i++ {
				if _, got := feedPieces(in[:i], in[i:]); got != want {
					t.Errorf("split at %d: got %v, want %v", i, got, want)
				}
				for j := i; j <= len(in); j++ {
					if _, got := feedPieces(in[:i], in[i:j], in[j:]); got != want {
						t.Errorf("split at %d,%d: got %v, want %v", i, j, got, want)
					}
				}
			}
			var bytewise [][]byte
			for i := range in {
				bytewise = append(bytewise, in[i:i+1])
			}
			if _, got := feedPieces(bytewise...); got != want {
				t.Errorf("byte by byte: got %v, want %v", got, want)
			}
			checkFailFast(t, in)
		})
	}
}

// checkFailFast feeds p byte by byte and checks that Feed first returns
// false exactly after the byte the reference says, and that it is sticky.
func checkFailFast(t *testing.T, p []byte) {
	t.Helper()
	want := refFailAt(p)
	var v Validator
	got := -1
	for i := range p {
		ok := v.Feed(p[i : i+1])
		if got >= 0 && ok {
			t.Fatalf("Feed returned true after failing at byte %d (input % X)", got, p)
		}
		if !ok && got < 0 {
			got = i + 1
		}
	}
	if got != want {
		t.Fatalf("first failure after %d bytes, want %d (input % X)", got, want, p)
	}
	if got < 0 && v.Complete() != utf8.Valid(p) {
		t.Fatalf("Complete() = %v, utf8.Valid = %v (input % X)", v.Complete(), utf8.Valid(p), p)
	}
	if got >= 0 {
		if v.Feed([]byte("ok")) || v.Complete() {
			t.Fatalf("failure is not sticky")
		}
		v.Reset()
		if !v.Feed([]byte("ok")) || !v.Complete() {
			t.Fatalf("Reset did not clear the failure")
		}
	}
}

func TestValidatorFailFastPositions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want int // bytes fed when Feed first returns false
	}{
		{"autobahn ED A0", append(kosmeCopy(), 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64), 13},
		{"F4 90", b(0xF4, 0x90, 0x80, 0x80), 2},
		{"F5", b(0xF5, 0x80), 1},
		{"C0", b('a', 0xC0, 0x80), 2},
		{"E0 9F", b(0xE0, 0x9F), 2},
		{"F0 8F", b(0xF0, 0x8F), 2},
		{"truncated then ascii", b(0xE1, 0x80, 'a'), 3},
		{"stray continuation", b('a', 'b', 0x80), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := refFailAt(tc.in); got != tc.want {
				t.Fatalf("reference says %d, table says %d", got, tc.want)
			}
			checkFailFast(t, tc.in)
		})
	}
}

// TestValidatorAutobahnFragments replays the fragment splits of the
// Autobahn testsuite's cases 6.4.1 to 6.4.4: the validator must fail on the
// fragment with the bad byte, not later.
func TestValidatorAutobahnFragments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frags  [][]byte
		failOn int
	}{
		{"6.4.1", [][]byte{kosme, b(0xF4, 0x90, 0x80, 0x80), []byte("edited")}, 1},
		{"6.4.2", [][]byte{append(kosmeCopy(), 0xF4), b(0x90), b(0x80, 0x80, 'e', 'd', 'i', 't', 'e', 'd')}, 1},
		{"6.4.3", [][]byte{kosme, b(0xF4, 0x90, 0x80, 0x80), []byte("edited")}, 1},
		{"6.4.4", [][]byte{kosme, b(0xF4), b(0x90), b(0x80), b(0x80), []byte("edited")}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v Validator
			for i, f := range tc.frags {
				if ok := v.Feed(f); ok != (i < tc.failOn) {
					t.Fatalf("fragment %d: Feed = %v", i, ok)
				}
			}
		})
	}
}

// TestValidatorASCIIPath puts one non-ASCII character or bad byte at every
// position of inputs of every length up to 40, at every alignment, to
// exercise the word-at-a-time path and its edges.
func TestValidatorASCIIPath(t *testing.T) {
	t.Parallel()
	inserts := []struct {
		name string
		ins  []byte
	}{
		{"none", nil},
		{"2-byte", []byte("é")},
		{"3-byte", []byte("中")},
		{"4-byte", []byte("😀")},
		{"FF", b(0xFF)},
		{"stray", b(0x80)},
		{"truncated", b(0xE4, 0xB8)},
		{"surrogate", b(0xED, 0xA0, 0x80)},
	}
	for _, ins := range inserts {
		t.Run(ins.name, func(t *testing.T) {
			t.Parallel()
			backing := make([]byte, 64)
			for n := 0; n <= 40; n++ {
				for pos := 0; pos <= n; pos++ {
					for align := 0; align < 8; align++ {
						p := backing[align:align]
						p = append(p, strings.Repeat("a", pos)...)
						p = append(p, ins.ins...)
						p = append(p, strings.Repeat("b", n-pos)...)
						want := utf8.Valid(p)
						if _, got := feedPieces(p); got != want {
							t.Fatalf("n=%d pos=%d align=%d: got %v, want %v", n, pos, align, got, want)
						}
						if got := ValidString(string(p)); got != want {
							t.Fatalf("ValidString n=%d pos=%d: got %v, want %v", n, pos, got, want)
						}
					}
				}
			}
		})
	}
}

func TestValidatorRandom(t *testing.T) {
	t.Parallel()
	for _, broken := range []bool{false, true} {
		name := "valid"
		if broken {
			name = "broken"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			for iter := range 3000 {
				p := randomText(rng, rng.IntN(200), broken && rng.IntN(4) != 0)
				want := utf8.Valid(p)
				if got := ValidString(string(p)); got != want {
					t.Fatalf("iter %d: ValidString = %v, want %v (% X)", iter, got, want, p)
				}
				// Random split into pieces; Feed must fail on the piece
				// holding the reference's failure byte.
				failAt := refFailAt(p)
				var v Validator
				fedFalse := -1
				for off := 0; off < len(p) || off == 0; {
					k := rng.IntN(len(p) - off + 1)
					if !v.Feed(p[off:off+k]) && fedFalse < 0 {
						fedFalse = off + k
						if failAt < 0 || failAt > off+k || failAt <= off {
							t.Fatalf("iter %d: failed on piece [%d,%d), reference fails after %d (% X)", iter, off, off+k, failAt, p)
						}
					}
					off += k
					if len(p) == 0 {
						break
					}
				}
				if fedFalse < 0 && failAt >= 0 {
					t.Fatalf("iter %d: never failed, reference fails after %d (% X)", iter, failAt, p)
				}
				if got := fedFalse < 0 && v.Complete(); got != want {
					t.Fatalf("iter %d: got %v, want %v (% X)", iter, got, want, p)
				}
				if iter%10 == 0 {
					checkFailFast(t, p)
				}
			}
		})
	}
}

// TestValidatorAllTwoAndThreeBytes checks every sequence of up to three
// bytes, which covers every transition of the automaton, against the
// reference, byte by byte.
func TestValidatorAllShortSequences(t *testing.T) {
	t.Parallel()
	for hi := range 256 {
		for mid := range 256 {
			two := b(byte(hi), byte(mid))
			if _, got := feedPieces(two); got != utf8.Valid(two) {
				t.Fatalf("% X: got %v", two, got)
			}
			for lo := 0; lo < 256; lo += 5 {
				p := b(byte(hi), byte(mid), byte(lo))
				var v Validator
				failed := 0
				for i := range p {
					if !v.Feed(p[i:i+1]) && failed == 0 {
						failed = i + 1
					}
				}
				want := refFailAt(p)
				if want < 0 {
					want = 0
				}
				if failed != want {
					t.Fatalf("% X: failed after %d bytes, want %d", p, failed, want)
				}
			}
		}
	}
}

func TestFeedDoesNotAllocate(t *testing.T) {
	p := []byte(strings.Repeat("aé中😀", 100))
	var v Validator
	if n := testing.AllocsPerRun(100, func() { v.Reset(); v.Feed(p) }); n != 0 {
		t.Errorf("Feed allocates %v times", n)
	}
	s := string(p)
	if n := testing.AllocsPerRun(100, func() { ValidString(s) }); n != 0 {
		t.Errorf("ValidString allocates %v times", n)
	}
}
