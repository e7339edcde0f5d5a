//go:build !js

// Compressed echo of ~1 KiB JSON text over loopback, with and without
// context takeover, against the same echo uncompressed. Besides ns/op the
// benchmarks report cpu-ns/op: the process's CPU time (client and server
// both run in it) per round trip, steadier than wall time on a busy
// machine.
package wsio

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// jsonMsgs returns n different JSON objects of 1024–1200 bytes, like the
// conformance deflate benchmark's.
func jsonMsgs(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november " +
		"oscar papa quebec romeo sierra tango uniform order shipped pending refund invoice customer account balance")
	pick := func(k int) string {
		ws := make([]string, k)
		for i := range ws {
			ws[i] = words[rng.IntN(len(words))]
		}
		return strings.Join(ws, " ")
	}
	type item struct {
		SKU   string  `json:"sku"`
		Name  string  `json:"name"`
		Qty   int     `json:"qty"`
		Price float64 `json:"price"`
	}
	type event struct {
		ID      string            `json:"id"`
		Type    string            `json:"type"`
		Seq     int               `json:"seq"`
		User    string            `json:"user"`
		Message string            `json:"message"`
		Meta    map[string]string `json:"meta"`
		Items   []item            `json:"items"`
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		e := event{ID: fmt.Sprintf("evt_%016x", rng.Uint64()), Type: pick(1), Seq: 1000 + i, User: pick(2),
			Message: pick(8 + rng.IntN(12)), Meta: map[string]string{"trace": fmt.Sprintf("%08x", rng.Uint32())}}
		for {
			b, _ := json.Marshal(e)
			if len(b) >= 1024 {
				if len(b) <= 1200 {
					out = append(out, string(b))
				}
				break
			}
			e.Items = append(e.Items, item{SKU: fmt.Sprintf("SKU-%06d", rng.IntN(1e6)), Name: pick(1 + rng.IntN(3)),
				Qty: 1 + rng.IntN(9), Price: float64(rng.IntN(100000)) / 100})
		}
	}
	return out
}

func benchDeflateEcho(b *testing.B, comp *Compression) {
	url := testServer(b, &ServerOptions{Options: Options{Compression: comp}}, echo)
	c, _, err := Dial(context.Background(), url, &DialOptions{Options: Options{Compression: comp}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.closeTransport()
	msgs := jsonMsgs(256)
	ctx := context.Background()
	b.SetBytes(1024)
	b.ReportAllocs()
	i := 0
	cpu0 := processCPU()
	for b.Loop() {
		if err := c.SendText(ctx, msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Next(ctx); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkDeflateEchoTakeover(b *testing.B) { benchDeflateEcho(b, &Compression{}) }

// benchDeflateEchoConns runs the echo on n connections at once, each
// connection's round trips in its own goroutine.
func benchDeflateEchoConns(b *testing.B, comp *Compression, n int) {
	url := testServer(b, &ServerOptions{Options: Options{Compression: comp}}, echo)
	conns := make([]*Conn, n)
	for i := range conns {
		c, _, err := Dial(context.Background(), url, &DialOptions{Options: Options{Compression: comp}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.closeTransport()
		conns[i] = c
	}
	msgs := jsonMsgs(256)
	ctx := context.Background()
	b.SetBytes(1024)
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := processCPU()
	b.ResetTimer()
	for k, c := range conns {
		wg.Go(func() {
			for i := k * 37; next.Add(1) <= int64(b.N); i++ {
				if err := c.SendText(ctx, msgs[i%len(msgs)]); err != nil {
					b.Error(err)
					return
				}
				if _, err := c.Next(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkDeflateEchoTakeover64(b *testing.B) { benchDeflateEchoConns(b, &Compression{}, 64) }
func BenchmarkDeflateEchoNoTakeover64(b *testing.B) {
	benchDeflateEchoConns(b, &Compression{NoContextTakeover: true, PeerNoContextTakeover: true}, 64)
}
func BenchmarkDeflateEchoNoTakeover(b *testing.B) {
	benchDeflateEcho(b, &Compression{NoContextTakeover: true, PeerNoContextTakeover: true})
}
func BenchmarkEchoNoDeflate(b *testing.B) { benchDeflateEcho(b, &Compression{Disabled: true}) }
