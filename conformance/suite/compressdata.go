package suite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The 12.* and 13.* cases echo slices of five test data sets. Autobahn ships
// files (JSON, a bitmap, Goethe's Faust, HTML and a PDF); the suite generates
// data of the same kinds and about the same sizes from a fixed seed instead,
// so every run sends the same bytes. The text sets are pure ASCII, so any
// slice of them is valid UTF-8.

// dataset is one generated test data set.
type dataset struct {
	// name is the short name used in descriptions.
	name string
	// binary tells whether the data is sent in binary messages.
	binary bool
	gen    func() []byte
	once   sync.Once
	data   []byte
}

func (d *dataset) bytes() []byte {
	d.once.Do(func() { d.data = d.gen() })
	return d.data
}

// compressionData lists the data sets in Autobahn's order of 12.1–12.5.
var compressionData = []*dataset{
	{name: "generated JSON text, ~194 KB, sent as text", gen: genJSON},
	{name: "generated 512x512 greyscale bitmap, 263222 bytes, sent as binary", binary: true, gen: genBitmap},
	{name: "generated German verse (UTF-8 with umlauts), ~222 KB, sent as binary", binary: true, gen: genVerse},
	{name: "generated HTML text, ~263 KB, sent as text", gen: genHTML},
	{name: "generated PDF-like data that is mostly random (incompressible), ~1 MB, sent as binary", binary: true, gen: genRandomish},
}

func seeded(n uint64) *rand.Rand { return rand.New(rand.NewPCG(0x7767736f, n)) }

func pick(r *rand.Rand, words []string) string { return words[r.IntN(len(words))] }

func genJSON() []byte {
	r := seeded(1)
	first := []string{"Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karla", "Lukas", "Mia", "Noah", "Olga", "Paul"}
	last := []string{"Meyer", "Schmidt", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann"}
	words := []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod", "tempor", "incididunt", "labore", "magna", "aliqua"}
	colors := []string{"brown", "blue", "green", "grey"}
	fruits := []string{"apple", "banana", "strawberry", "cherry"}
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := 0; b.Len() < 194<<10; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fn, ln := pick(r, first), pick(r, last)
		var tags []string
		for range 3 + r.IntN(5) {
			tags = append(tags, `"`+pick(r, words)+`"`)
		}
		var about []string
		for range 8 + r.IntN(20) {
			about = append(about, pick(r, words))
		}
		fmt.Fprintf(&b, `  {"_id": "%024x", "index": %d, "guid": "%08x-%04x-%04x-%04x-%012x", "isActive": %t, "balance": "$%d,%03d.%02d", "age": %d, "eyeColor": "%s", "name": "%s %s", "company": "%s", "email": "%s.%s@example.com", "phone": "+49 (%03d) %07d", "about": "%s.", "latitude": %.6f, "longitude": %.6f, "tags": [%s], "friends": [{"id": 0, "name": "%s %s"}, {"id": 1, "name": "%s %s"}], "favoriteFruit": "%s"}`,
			r.Uint64()&0xffffffffffff, i, r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Uint64()&0xffffffffffff,
			r.IntN(2) == 1, r.IntN(4), r.IntN(1000), r.IntN(100), 20+r.IntN(50), pick(r, colors), fn, ln,
			strings.ToUpper(pick(r, words)+pick(r, words)), strings.ToLower(fn), strings.ToLower(ln), r.IntN(1000), r.IntN(10000000),
			strings.Join(about, " "), r.Float64()*180-90, r.Float64()*360-180, strings.Join(tags, ", "),
			pick(r, first), pick(r, last), pick(r, first), pick(r, last), pick(r, fruits))
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

func genBitmap() []byte {
	const w, h, offset = 512, 512, 14 + 40 + 1024
	out := make([]byte, 0, offset+w*h)
	le32 := func(v uint32) { out = binary.LittleEndian.AppendUint32(out, v) }
	le16 := func(v uint16) { out = binary.LittleEndian.AppendUint16(out, v) }
	out = append(out, 'B', 'M')
	le32(offset + w*h)
	le32(0)
	le32(offset)
	le32(40)
	le32(w)
	le32(h)
	le16(1)
	le16(8)
	le32(0)
	le32(w * h)
	le32(2835)
	le32(2835)
	le32(256)
	le32(0)
	for i := range 256 {
		out = append(out, byte(i), byte(i), byte(i), 0)
	}
	r := seeded(2)
	for y := range h {
		for x := range w {
			fx, fy := float64(x), float64(y)
			v := 128 + 55*math.Sin(fx/37)*math.Cos(fy/23) + 35*math.Sin((fx+2*fy)/71) + 20*math.Cos(math.Hypot(fx-300, fy-200)/19)
			v += float64(r.IntN(13) - 6)
			out = append(out, byte(max(0, min(255, int(v)))))
		}
	}
	return out
}

func genVerse() []byte {
	r := seeded(3)
	speakers := []string{"FAUST", "MEPHISTOPHELES", "MARGARETE", "WAGNER", "MARTHE", "CHOR DER ENGEL", "DER HERR", "SCHÜLER"}
	words := []string{"der", "die", "das", "und", "ich", "nicht", "ein", "zu", "ist", "mit", "sich", "des", "auf", "dem", "so", "wie", "was", "mir", "mich", "nur", "noch",
		"Geist", "Welt", "Herz", "Nacht", "Tag", "Himmel", "Erde", "Mensch", "Liebe", "Zeit", "Seele", "Gott", "Teufel", "Wissen", "Kunst", "Natur", "Leben", "Augenblick",
		"früh", "schön", "süß", "Glück", "Mädchen", "Straße", "Brüder", "weiß", "grün", "Träume", "Flügel", "Wünsche", "hören", "über", "für", "können", "müssen", "Gefühl",
		"dämmernd", "Größe", "Blüten", "Lüfte", "Höhle", "Tränen", "fröhlich", "Bächlein", "Schoß", "Gemüt", "lächeln", "Qual", "Freude", "Wahn", "Streben", "Tat"}
	punct := []string{",", ",", ";", "!", ".", "?", ":", ""}
	var b bytes.Buffer
	b.WriteString("Ein erfundenes Gedicht in deutscher Sprache, nur als Testdaten erzeugt.\r\n\r\n")
	for b.Len() < 222<<10 {
		fmt.Fprintf(&b, "%s:\r\n", pick(r, speakers))
		for range 2 + r.IntN(9) {
			n := 4 + r.IntN(6)
			for j := range n {
				w := pick(r, words)
				if j == 0 {
					c, size := utf8.DecodeRuneInString(w)
					w = string(unicode.ToUpper(c)) + w[size:]
					b.WriteString("    ")
				} else {
					b.WriteByte(' ')
				}
				b.WriteString(w)
			}
			b.WriteString(pick(r, punct))
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func genHTML() []byte {
	r := seeded(4)
	words := []string{"lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim"}
	text := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = pick(r, words)
		}
		return strings.Join(ws, " ")
	}
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Generated test page</title>\n" +
		"<style>\nbody { font-family: sans-serif; margin: 0 auto; max-width: 960px; }\n.card { border: 1px solid #ddd; padding: 8px; }\n" +
		"table.data td { padding: 2px 6px; }\n</style>\n</head>\n<body>\n<nav class=\"top\"><ul>\n")
	for i := range 12 {
		fmt.Fprintf(&b, "  <li><a href=\"/section/%d\" title=\"%s\">%s</a></li>\n", i, text(3), text(1))
	}
	b.WriteString("</ul></nav>\n<main>\n")
	for i := 0; b.Len() < 263<<10; i++ {
		fmt.Fprintf(&b, "<section id=\"s%d\" class=\"card\">\n  <h2>%s</h2>\n  <p>%s <a href=\"https://example.com/%s/%d\">%s</a> %s.</p>\n",
			i, text(4), text(20+r.IntN(30)), pick(r, words), r.IntN(10000), text(2), text(10+r.IntN(20)))
		b.WriteString("  <table class=\"data\">\n")
		for range 2 + r.IntN(4) {
			fmt.Fprintf(&b, "    <tr><td class=\"k\">%s</td><td class=\"v\">%d</td><td>%s</td></tr>\n", pick(r, words), r.IntN(100000), text(3))
		}
		b.WriteString("  </table>\n  <ul>\n")
		for range 1 + r.IntN(4) {
			fmt.Fprintf(&b, "    <li><span class=\"tag\">%s</span> %s</li>\n", pick(r, words), text(6))
		}
		b.WriteString("  </ul>\n</section>\n")
	}
	b.WriteString("</main>\n<footer><p>generated</p></footer>\n</body>\n</html>\n")
	return b.Bytes()
}

func genRandomish() []byte {
	r := seeded(5)
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	for obj := 1; b.Len() < 1018<<10; obj++ {
		n := 2048 + r.IntN(30000)
		fmt.Fprintf(&b, "%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", obj, n)
		chunk := make([]byte, n)
		for i := 0; i < n; i += 8 {
			var w [8]byte
			binary.LittleEndian.PutUint64(w[:], r.Uint64())
			copy(chunk[i:], w[:])
		}
		b.Write(chunk)
		b.WriteString("\nendstream\nendobj\n")
	}
	b.WriteString("trailer\n<< /Root 1 0 R >>\n%%EOF\n")
	return b.Bytes()
}

// ringSlice returns the next n bytes of data starting at *ptr, wrapping
// around at the end, and advances *ptr, as Autobahn walks its test files.
func ringSlice(data []byte, ptr *int, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		take := min(n-len(out), len(data)-*ptr)
		out = append(out, data[*ptr:*ptr+take]...)
		*ptr = (*ptr + take) % len(data)
	}
	return out
}
