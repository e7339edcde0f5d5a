package wstest

import (
	"io"
	"math/rand/v2"
)

// Pattern returns n bytes in which each byte depends on its offset (and on
// seed), so that a lost, repeated or misplaced stretch shows in a
// comparison, and a failing comparison can say where.
func Pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>9) ^ seed
	}
	return b
}

// RandomBytes returns n bytes that do not compress, the same for the same
// n and seed (a ChaCha8 stream keyed by seed), so a failing run can be
// repeated.
func RandomBytes(n int, seed uint64) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	key[8] = 1 // keeps seed 0 off the all-zero key
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// Zeros returns a reader of n zero bytes, made as they are read, for a
// large message that costs no memory.
func Zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
