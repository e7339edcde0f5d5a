package textframe

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

func fuzzSeeds() [][]byte {
	seeds := [][]byte{nil, []byte("hello"), kosmeCopy(), []byte("aé中😀z")}
	for _, tc := range trickyCases {
		seeds = append(seeds, tc.in)
	}
	return seeds
}

// FuzzValidator feeds the input in two pieces split at a fuzzed point and
// compares with utf8.Valid; for short inputs it also checks the fail-fast
// position byte by byte against the slow reference.
func FuzzValidator(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, uint(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint) {
		want := utf8.Valid(data)
		k := int(split % uint(len(data)+1))
		ok, complete := feedPieces(data[:k], data[k:])
		if complete != want {
			t.Fatalf("split at %d: got %v, want %v", k, complete, want)
		}
		if !ok && refFailAt(data) < 0 {
			t.Fatalf("split at %d: failed on a valid prefix", k)
		}
		if got := ValidString(string(data)); got != want {
			t.Fatalf("ValidString = %v, want %v", got, want)
		}
		if len(data) <= 512 {
			checkFailFast(t, data)
		}
	})
}

// FuzzAssembler sends the input through an Assembler in frames and reads
// split at random points (seeded by the fuzzer), under a fuzzed cap, and
// checks the message, or the error and where it appears.
func FuzzAssembler(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, uint64(i), int64(-1))
		f.Add(s, uint64(i)*31, int64(len(s)))
		f.Add(s, uint64(i)*17, int64(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, capBytes int64) {
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		var a Assembler
		for round := range 2 {
			if err := assembleRandom(&a, data, rng, capBytes); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	})
}
