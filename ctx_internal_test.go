//go:build !js

package wsio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestSendPreparedDoneCtx: SendPrepared with a ctx already done returns
// ctx.Err() itself and sends nothing, from either side and whatever the
// compression (each takes its own path: the prepared frames, frames
// compressed once per level, or the connection's own compression); the
// peer's next message is the marker sent after it, on every try.
func TestSendPreparedDoneCtx(t *testing.T) {
	t.Parallel()
	p, err := Prepare(Binary, bytes.Repeat([]byte("0123456789abcdef"), 4<<10), 0)
	if err != nil {
		t.Fatal(err)
	}
	dones := []struct {
		name string
		make func() (context.Context, context.CancelFunc)
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
		{"past deadline", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}},
	}
	comps := []struct {
		name string
		c    *Compression
	}{
		{"plain", nil},
		{"deflate", &Compression{}},
		{"deflate without takeover", &Compression{NoContextTakeover: true}},
	}
	const rounds = 50
	for _, comp := range comps {
		for _, done := range dones {
			// sendDone tries SendPrepared with a done ctx, then sends the
			// marker; it returns what went wrong, if anything.
			sendDone := func(c *Conn, i int) string {
				ctx, cancel := done.make()
				defer cancel()
				if err := c.SendPrepared(ctx, p); err != ctx.Err() {
					return fmt.Sprintf("try %d: SendPrepared = %v, want ctx.Err() (%v) itself", i, err, ctx.Err())
				}
				if s := c.State(); s != Open {
					return fmt.Sprintf("try %d: state %v, want open", i, s)
				}
				if err := c.SendText(context.Background(), fmt.Sprintf("marker %d", i)); err != nil {
					return fmt.Sprintf("try %d: SendText(marker): %v", i, err)
				}
				return ""
			}
			// wantMarker reads the next message, which must be marker i.
			wantMarker := func(c *Conn, i int) string {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				m, err := c.Next(ctx)
				if want := fmt.Sprintf("marker %d", i); err != nil || m.Kind != Text || m.Text != want {
					return fmt.Sprintf("try %d: the peer's next message is %v %.40q (%v), want %q", i, m.Kind, m.Text, err, want)
				}
				return ""
			}
			t.Run("server/"+comp.name+"/"+done.name, func(t *testing.T) {
				t.Parallel()
				fails := make(chan string, 1)
				url := testServer(t, &ServerOptions{Options: Options{Compression: comp.c}}, func(c *Conn) {
					for i := range rounds {
						if msg := sendDone(c, i); msg != "" {
							fails <- msg
							return
						}
					}
					_, _ = c.Next(context.Background()) // until the client closes
				})
				c := dial(t, url, nil)
				for i := range rounds {
					if msg := wantMarker(c, i); msg != "" {
						select {
						case f := <-fails:
							t.Fatal(f)
						default:
							t.Fatal(msg)
						}
					}
				}
			})
			t.Run("client/"+comp.name+"/"+done.name, func(t *testing.T) {
				t.Parallel()
				url := testServer(t, &ServerOptions{Options: Options{Compression: comp.c}}, echo)
				c := dial(t, url, nil)
				for i := range rounds {
					if msg := sendDone(c, i); msg != "" {
						t.Fatal(msg)
					}
					if msg := wantMarker(c, i); msg != "" {
						t.Fatal(msg) // the echo of what SendPrepared sent comes first
					}
				}
			})
		}
	}
}

// TestBrokenMessageReleasesKeptCompressor: a connection closed while a
// message holds the data-message slot (here a stream cut short by its
// ctx after its first frame) still gives its kept compressor back, so it
// does not hold one of the process's kept-compressor places for good.
func TestBrokenMessageReleasesKeptCompressor(t *testing.T) {
	t.Parallel()
	url := testServer(t, &ServerOptions{Options: Options{Compression: &Compression{}}}, echo)
	c := dial(t, url, &DialOptions{Options: Options{FragmentSize: 1024}})
	bg := context.Background()
	text := string(bytes.Repeat([]byte("kept compressor; "), 200))
	for range 2 { // the second, within busyGap of the first, keeps its compressor
		if err := c.SendText(bg, text); err != nil {
			t.Fatal(err)
		}
	}
	if c.deflate.fw == nil {
		t.Skip("no compressor kept (the process's budget is in use by other tests)")
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	w, err := c.BeginBinary(WithoutCompression(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write(make([]byte, 2048)); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after cancel = %v, want context.Canceled and ErrClosed", err)
	}
	_ = w.Close()
	if c.deflate.fw != nil {
		t.Fatal("the closed connection still keeps its compressor")
	}
}
