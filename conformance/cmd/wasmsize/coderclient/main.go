// Command coderclient is wsioclient's program written with
// coder/websocket, for cmd/wasmsize's comparison of js/wasm binary sizes.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/coder/websocket"
)

func main() {
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Println(err)
	}
}

func run(ctx context.Context, url string) error {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		return err
	}
	w, err := c.Writer(ctx, websocket.MessageBinary)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(strings.Repeat("x", 1000))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	typ, p, err := c.Read(ctx)
	if err != nil {
		return err
	}
	fmt.Println(typ, string(p))
	return c.Close(websocket.StatusNormalClosure, "")
}
