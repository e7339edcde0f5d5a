package textframe

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// benchInput returns valid text of exactly size bytes (padded with ASCII)
// made by repeating sample.
func benchInput(sample string, size int) []byte {
	s := strings.Repeat(sample, size/len(sample)+1)
	p := []byte(s[:size])
	for len(p) > 0 && !utf8.Valid(p) {
		p = p[:len(p)-1]
	}
	for len(p) < size {
		p = append(p, ' ')
	}
	return p
}

var benchKinds = []struct{ name, sample string }{
	{"ascii", "The quick brown fox jumps over the lazy dog; 0123456789. "},
	{"latin-cjk", "Größe café naïve 東京は日本の首都です。 漢字とかな, ελληνικά. "},
	{"emoji", "😀😃😄 ok 🎉🚀🌍 👍🏽 ❤️ 🔥🔥 "},
}

var benchSizes = []int{16, 1 << 10, 64 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

var sink bool

func BenchmarkValid(b *testing.B) {
	for _, k := range benchKinds {
		for _, size := range benchSizes {
			p := benchInput(k.sample, size)
			if len(p) != size || !utf8.Valid(p) {
				b.Fatalf("bad input %s/%d", k.name, size)
			}
			name := k.name + "/" + sizeName(size)
			b.Run(name+"/Feed", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				var v Validator
				for b.Loop() {
					v.Reset()
					sink = v.Feed(p) && v.Complete()
				}
			})
			b.Run(name+"/utf8.Valid", func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				for b.Loop() {
					sink = utf8.Valid(p)
				}
			})
		}
	}
}

func BenchmarkValidString(b *testing.B) {
	for _, k := range benchKinds {
		s := string(benchInput(k.sample, 1<<10))
		b.Run(k.name+"/1KiB/ValidString", func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				sink = ValidString(s)
			}
		})
		b.Run(k.name+"/1KiB/utf8.ValidString", func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				sink = utf8.ValidString(s)
			}
		})
	}
}

func BenchmarkAssembler(b *testing.B) {
	for _, size := range append(benchSizes, 1<<20) {
		p := benchInput(benchKinds[1].sample, size)
		for _, frames := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/%dframes", sizeName(size), frames), func(b *testing.B) {
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				var a Assembler
				n := len(p) / frames
				for b.Loop() {
					a.Begin(1 << 20)
					for f := range frames {
						q := p[f*n:]
						if f < frames-1 {
							q = q[:n]
						}
						if err := feedFrame(&a, q, 32<<10); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := a.Finish(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
