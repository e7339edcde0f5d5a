// Command demo streams a file through a WebSocket server and back, with no
// setup: it starts an echo server on loopback, sends the file as one
// binary message through BeginBinary and io.Copy while reading the echo
// back as a stream, checks the SHA-256 of both, and prints size, time and
// throughput. Without -file it generates 256 MiB of random data.
//
//	go run ./examples/demo
//	go run ./examples/demo -file /path/to/big.iso
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/wsio/wsio"
)

func main() {
	file := flag.String("file", "", "file to stream (default: generate one)")
	size := flag.Int64("size", 256<<20, "size of the generated file in bytes")
	frag := flag.Int("frag", 0, "fragment size (0: the default, 512 KiB)")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*file, *size, *frag); err != nil {
		log.Fatal("demo: ", err)
	}
}

func run(path string, size int64, frag int) error {
	if path == "" {
		f, err := generate(size)
		if err != nil {
			return err
		}
		defer os.Remove(f)
		path = f
	}

	// The server: echo each binary message back as a stream.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	opts := wsio.Options{FragmentSize: frag}
	srv := wsio.NewServer(wsio.ServerOptions{Options: opts}, func(c *wsio.Conn) {
		ctx := context.Background()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return
			}
			w, err := c.BeginBinary(ctx)
			if err != nil {
				return
			}
			if _, err := io.Copy(w, m); err != nil {
				return
			}
			if err := w.Close(); err != nil {
				return
			}
		}
	})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	}()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws://"+ln.Addr().String()+"/", &wsio.DialOptions{Options: opts})
	if err != nil {
		return err
	}
	defer c.Close(wsio.StatusNormalClosure, "")

	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	start := time.Now()
	sent := make(chan result, 1)
	go func() { // send while the echo comes back
		h := sha256.New()
		w, err := c.BeginBinary(ctx)
		if err != nil {
			sent <- result{err: err}
			return
		}
		n, err := io.Copy(w, io.TeeReader(f, h))
		if err == nil {
			err = w.Close()
		}
		sent <- result{n, h, err}
	}()

	m, err := c.Next(ctx)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, m)
	if err != nil {
		return fmt.Errorf("receiving the echo: %w", err)
	}
	s := <-sent
	if s.err != nil {
		return fmt.Errorf("sending: %w", s.err)
	}
	elapsed := time.Since(start)
	sentSum, gotSum := hex.EncodeToString(s.h.Sum(nil)), hex.EncodeToString(h.Sum(nil))
	fmt.Printf("file     %s\n", path)
	fmt.Printf("sent     %d bytes  sha256 %s\n", s.n, sentSum)
	fmt.Printf("received %d bytes  sha256 %s\n", n, gotSum)
	if sentSum != gotSum || s.n != n {
		return errors.New("the echo differs from the file")
	}
	mb := float64(n) / 1e6
	fmt.Printf("ok: %.1f MB there and back in %v (%.0f MB/s each way, full duplex)\n", mb, elapsed.Round(time.Millisecond), mb/elapsed.Seconds())
	return nil
}

type result struct {
	n   int64
	h   hash.Hash
	err error
}

// generate writes size random bytes to a temporary file.
func generate(size int64) (string, error) {
	f, err := os.CreateTemp("", "wsio-demo-*.bin")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
