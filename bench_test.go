//go:build !js

package wsio

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/wstest"
)

func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// sinkRWC discards writes and has nothing to read.
type sinkRWC struct{}

func (sinkRWC) Read([]byte) (int, error)    { return 0, io.EOF }
func (sinkRWC) Write(p []byte) (int, error) { return len(p), nil }
func (sinkRWC) Close() error                { return nil }

func BenchmarkWriteFrame(b *testing.B) {
	ctx := context.Background()
	for _, role := range []string{"server", "client"} {
		for _, size := range []int{16, 1 << 10, 64 << 10} {
			payload := make([]byte, size)
			text := strings.Repeat("a", size)
			c := newConn(sinkRWC{}, role == "client", &Options{}, nil)
			b.Run(role+"/text/"+sizeLabel(size), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := c.SendText(ctx, text); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(role+"/binary/"+sizeLabel(size), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := c.SendBinary(ctx, payload); err != nil {
						b.Fatal(err)
					}
				}
			})
			c.closeTransport()
		}
	}
}

// replayRWC serves the same bytes over and over and discards writes.
type replayRWC struct {
	data []byte
	off  int
}

func (r *replayRWC) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off += n
	if r.off == len(r.data) {
		r.off = 0
	}
	return n, nil
}

func (*replayRWC) Write(p []byte) (int, error) { return len(p), nil }
func (*replayRWC) Close() error                { return nil }

func BenchmarkReadFrame(b *testing.B) {
	ctx := context.Background()
	key := &[4]byte{0x11, 0x22, 0x33, 0x44}
	for _, size := range []int{16, 1 << 10} {
		frame := encFrame(true, 0, conn.OpText, []byte(strings.Repeat("t", size)), key)
		b.Run("text/"+sizeLabel(size), func(b *testing.B) {
			c := newConn(&replayRWC{data: frame}, false, &Options{}, nil)
			defer c.closeTransport()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				m, err := c.Next(ctx)
				if err != nil || len(m.Text) != size {
					b.Fatal(len(m.Text), err)
				}
			}
		})
	}
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		frame := encFrame(true, 0, conn.OpBinary, make([]byte, size), key)
		b.Run("binary-Read/"+sizeLabel(size), func(b *testing.B) {
			c := newConn(&replayRWC{data: frame}, false, &Options{}, nil)
			defer c.closeTransport()
			buf := make([]byte, 32<<10)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				m, err := c.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				total := readAll(b, m, buf)
				if total != size {
					b.Fatal(total)
				}
			}
		})
		b.Run("binary-Copy/"+sizeLabel(size), func(b *testing.B) {
			c := newConn(&replayRWC{data: frame}, false, &Options{}, nil)
			defer c.closeTransport()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				m, err := c.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, m); err != nil || n != int64(size) {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// BenchmarkEcho measures round trips through a server that echoes each
// message whole (read into a buffer, SendBinary: no allocation per
// message on either side) and one that streams it back (BeginBinary and
// io.Copy: the BinaryWriter, and io.Copy's boxing of the Message, are
// two allocations per message), and one served by ServeEvents that
// echoes whole.
func BenchmarkEcho(b *testing.B) {
	for _, srv := range []struct {
		name    string
		handler func(c *Conn)
	}{{"send", echoWhole}, {"stream", echo}, {"events", echoEventsWhole}} {
		b.Run(srv.name, func(b *testing.B) { benchEcho(b, testServer(b, nil, srv.handler)) })
	}
}

// echoWhole echoes binary messages of up to 64 KiB by reading each into
// one buffer and sending it with SendBinary.
func echoWhole(c *Conn) {
	ctx := context.Background()
	buf := make([]byte, 64<<10+1) // one more, to meet io.EOF
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return
		}
		n := 0
		for err == nil && n < len(buf) {
			var k int
			k, err = m.Read(buf[n:])
			n += k
		}
		if err != io.EOF || c.SendBinary(ctx, buf[:n]) != nil {
			return
		}
	}
}

// echoEventsWhole serves c with ServeEvents, echoing each binary message
// whole as echoWhole does, and returns when c ends.
func echoEventsWhole(c *Conn) {
	ctx := context.Background()
	buf := make([]byte, 64<<10+1)
	done := make(chan struct{})
	ServeEvents(c, Events{
		Binary: func(c *Conn, r io.Reader) {
			n, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				_ = c.SendBinary(ctx, buf[:n])
			}
		},
		Close: func(*Conn, *CloseError) { close(done) },
	})
	<-done
}

func benchEcho(b *testing.B, url string) {
	ctx := context.Background()
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run("binary/"+sizeLabel(size), func(b *testing.B) {
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, _, err := Dial(dctx, url, nil)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(StatusNormalClosure, "")
			payload := make([]byte, size)
			buf := make([]byte, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := c.SendBinary(ctx, payload); err != nil {
					b.Fatal(err)
				}
				m, err := c.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				total := readAll(b, m, buf)
				if total != size {
					b.Fatal(total)
				}
			}
		})
	}
}

// BenchmarkStream measures the bulk path: one binary message of 8 MiB
// per op, written with BeginBinary and io.Copy (512 KiB frames) by a
// sender that never reads, to a peer that reads and discards it. The
// client->server direction masks every byte; server->client writes each
// frame from the caller's buffer. Besides ns/op it reports cpu-ns/op, the
// process's CPU time (both ends run in it) per message.
func BenchmarkStream(b *testing.B) {
	const size = 8 << 20
	for _, dir := range []string{"client-to-server", "server-to-client"} {
		b.Run(dir, func(b *testing.B) {
			up := dir == "client-to-server"
			ctx := context.Background()
			serverConn := make(chan *Conn, 1)
			url := testServer(b, nil, func(c *Conn) {
				if up {
					for {
						m, err := c.Next(ctx)
						if err != nil {
							return
						}
						if _, err := io.Copy(io.Discard, m); err != nil {
							return
						}
					}
				}
				serverConn <- c
				<-c.Done()
			})
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, _, err := Dial(dctx, url, nil)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			defer c.closeTransport()
			sender, receiver := c, (*Conn)(nil)
			if !up {
				sender, receiver = <-serverConn, c
				defer sender.closeTransport()
			}
			done := make(chan error, 1)
			if receiver != nil {
				go func() {
					for {
						m, err := receiver.Next(ctx)
						if err != nil {
							done <- err
							return
						}
						if _, err := io.Copy(io.Discard, m); err != nil {
							done <- err
							return
						}
					}
				}()
			}
			b.SetBytes(size)
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				w, err := sender.BeginBinary(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(w, wstest.Zeros(size)); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// readAll reads m to its end through Read with buf, failing b on an error,
// and returns how many bytes it read.
func readAll(b *testing.B, m Message, buf []byte) int {
	total := 0
	for {
		n, err := m.Read(buf)
		total += n
		if err == io.EOF {
			return total
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
