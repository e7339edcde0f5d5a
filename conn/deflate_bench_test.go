// Compressed echo of 1 KiB JSON-like text over loopback, with and without
// context takeover, against the same echo uncompressed.
package conn

import (
	"context"
	"testing"
)

func benchDeflateEcho(b *testing.B, comp *Compression) {
	url := testServer(b, &AcceptOptions{Options: Options{Compression: comp}}, echo)
	c, _, err := Dial(context.Background(), url, &DialOptions{Options: Options{Compression: comp}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.closeTransport()
	msgs := make([]string, 64)
	for i := range msgs {
		msgs[i] = compressible(1024, i)
	}
	ctx := context.Background()
	b.SetBytes(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.SendText(ctx, msgs[i%64]); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Next(ctx); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkDeflateEchoTakeover(b *testing.B) { benchDeflateEcho(b, &Compression{}) }
func BenchmarkDeflateEchoNoTakeover(b *testing.B) {
	benchDeflateEcho(b, &Compression{NoContextTakeover: true, PeerNoContextTakeover: true})
}
func BenchmarkEchoNoDeflate(b *testing.B) { benchDeflateEcho(b, &Compression{Disabled: true}) }
