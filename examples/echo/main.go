// Command echo is a WebSocket echo server: text comes back as text, binary
// comes back as binary, streamed from the incoming message straight into
// an outgoing BeginBinary stream (never held whole). Conformance and
// interop tests run against it, so its flags are kept stable.
//
//	go run ./examples/echo -addr 127.0.0.1:9001
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"

	"github.com/wsio/wsio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	maxBuf := flag.Int64("max", 16<<20, "buffer cap in bytes: the largest text message accepted (larger ones close with 1009)")
	frag := flag.Int("frag", 0, "fragment size for echoed binary messages (0: the default, 512 KiB)")
	quiet := flag.Bool("quiet", false, "do not log connections")
	deflate := flag.Bool("deflate", false, "accept permessage-deflate with the default settings (inflated bytes count against -max)")
	flag.Parse()

	opts := wsio.Options{BufferCap: *maxBuf, FragmentSize: *frag}
	if *deflate {
		opts.Compression = &wsio.Compression{}
	}
	srv := wsio.NewServer(wsio.ServerOptions{
		Options:        opts,
		OriginPatterns: []string{"*"},
	}, func(c *wsio.Conn) {
		err := echo(c)
		if !*quiet {
			log.Printf("%v: %v", c.RemoteAddr(), err)
		}
	})
	log.Printf("echo server listening on ws://%s", *addr)
	if err := srv.ListenAndServe(*addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// echo answers every message with itself until the connection ends.
func echo(c *wsio.Conn) error {
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		switch m.Kind {
		case wsio.Text:
			err = c.SendText(ctx, m.Text)
		case wsio.Binary:
			err = stream(ctx, c, m)
		}
		if err != nil {
			return err
		}
	}
}

func stream(ctx context.Context, c *wsio.Conn, m wsio.Message) error {
	w, err := c.BeginBinary(ctx)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, m); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}
