//go:build unix

package wsio_test

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/wsio/wsio"
)

// BenchmarkServeHandshake measures the opening handshake through
// Server.Serve on loopback: 64 dialers connect, upgrade and drop the
// connection (CloseNow), and the server's handler waits for the end.
// cpu-ns/op is the process's CPU time (both sides) per connection.
func BenchmarkServeHandshake(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		for {
			if _, err := c.Next(context.Background()); err != nil {
				return
			}
		}
	})
	go func() { _ = s.Serve(ln) }()
	defer s.Close()
	url := "ws://" + ln.Addr().String() + "/"
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32) // 64 dialers on 2 cores
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, _, err := wsio.Dial(ctx, url, nil)
			if err != nil {
				b.Error(err)
				return
			}
			c.CloseNow()
		}
	})
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the process's CPU time (user + system) in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
