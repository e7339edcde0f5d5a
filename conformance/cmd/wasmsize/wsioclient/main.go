// Command wsioclient is the minimal wsio client whose js/wasm binary size
// cmd/wasmsize reports: it dials, sends a text and a streamed binary
// message, reads one reply and closes. coderclient is the same program
// written with coder/websocket.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/wsio/wsio"
)

func main() {
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Println(err)
	}
}

func run(ctx context.Context, url string) error {
	c, _, err := wsio.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if err := c.SendText(ctx, "hello"); err != nil {
		return err
	}
	w, err := c.BeginBinary(ctx)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(strings.Repeat("x", 1000))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	m, err := c.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Println(m.Kind, m.Text)
	return c.Close(wsio.StatusNormalClosure, "")
}
