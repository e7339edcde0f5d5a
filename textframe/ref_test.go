package textframe

import (
	"math/rand/v2"
	"sync"
	"unicode/utf8"
)

// This file holds a slow reference for "is a prefix of valid UTF-8" that is
// independent of the automaton: it decodes with the standard library and
// checks the unfinished tail against the set of every proper prefix of the
// encoding of every code point.

var properPrefixes = sync.OnceValue(func() map[string]bool {
	set := make(map[string]bool)
	var buf [utf8.UTFMax]byte
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		n := utf8.EncodeRune(buf[:], r)
		for i := 1; i < n; i++ {
			set[string(buf[:i])] = true
		}
	}
	return set
})

// refValidPrefix reports whether some continuation (possibly empty) makes p
// valid UTF-8.
func refValidPrefix(p []byte) bool {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			return properPrefixes()[string(p[i:])]
		}
		i += size
	}
	return true
}

// refFailAt returns the number of bytes after which an incremental validator
// must first report failure: the length of the longest valid-UTF-8 prefix of
// p, plus one. It returns -1 when every prefix of p is a valid prefix.
func refFailAt(p []byte) int {
	// Valid prefixes are closed under taking prefixes, so the first prefix
	// that is not one gives the answer.
	lo, hi := 0, len(p) // p[:lo] is a valid prefix
	if refValidPrefix(p) {
		return -1
	}
	for hi-lo > 1 { // p[:hi] is not a valid prefix
		mid := (lo + hi) / 2
		if refValidPrefix(p[:mid]) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// boundaryRunes are code points at the edges of the encoding classes.
var boundaryRunes = []rune{
	0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xCFFF, 0xD000, 0xD7FF,
	0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0xFFFFF, 0x100000,
	0x10FFFF,
}

// randomText returns about n bytes of text mixing ASCII, valid characters of every
// length, and, when broken is set, a few stray, truncated or invalid bytes.
func randomText(rng *rand.Rand, n int, broken bool) []byte {
	out := make([]byte, 0, n+utf8.UTFMax)
	for len(out) < n {
		switch k := rng.IntN(20); {
		case k < 6:
			out = append(out, byte(rng.IntN(0x80)))
		case k < 9:
			out = utf8.AppendRune(out, rune(0x80+rng.IntN(0x800-0x80)))
		case k < 12:
			r := rune(0x800 + rng.IntN(0x10000-0x800))
			if !utf8.ValidRune(r) {
				r = 0xD7FF
			}
			out = utf8.AppendRune(out, r)
		case k < 14:
			out = utf8.AppendRune(out, rune(0x10000+rng.IntN(utf8.MaxRune+1-0x10000)))
		case k < 16:
			out = utf8.AppendRune(out, boundaryRunes[rng.IntN(len(boundaryRunes))])
		case !broken:
			out = append(out, 'x')
		case k < 17:
			out = append(out, byte(rng.IntN(256)))
		case k < 18:
			out = append(out, byte(0x80+rng.IntN(0x40))) // stray continuation
		case k < 19: // truncated sequence
			var buf [utf8.UTFMax]byte
			m := utf8.EncodeRune(buf[:], rune(0x80+rng.IntN(utf8.MaxRune-0x80)))
			out = append(out, buf[:1+rng.IntN(m)]...)
		default: // a lead byte with a random next byte
			out = append(out, byte(0xC0+rng.IntN(0x40)), byte(rng.IntN(256)))
		}
	}
	if broken {
		return out[:n]
	}
	return out // may run a few bytes past n, to keep the last character whole
}
