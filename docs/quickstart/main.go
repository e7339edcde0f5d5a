// Command quickstart is the program in the README: a server that saves an
// uploaded binary message to a file, and a client that uploads a file to it.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"

	"github.com/wsio/wsio"
)

func main() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := context.Background()
		m, err := c.Next(ctx) // the next data message; pings and close are handled inside
		if err != nil || m.Kind != wsio.Binary {
			return
		}
		f, err := os.CreateTemp("", "upload-*")
		if err != nil {
			return
		}
		defer f.Close()
		if n, err := io.Copy(f, m); err == nil { // m is an io.Reader over the message's frames
			c.SendText(ctx, fmt.Sprintf("saved %d bytes to %s", n, f.Name()))
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln) // or http.Handle("/upload", srv): a Server is an http.Handler
	defer srv.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws://"+ln.Addr().String()+"/upload", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	file, err := os.Open(os.Args[0]) // this program's own binary; any file will do
	if err != nil {
		log.Fatal(err)
	}
	defer file.Close()
	w, err := c.BeginBinary(ctx) // one binary message, sent as a stream of frames
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, file); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // the final frame
		log.Fatal(err)
	}
	reply, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Text)
}
