//go:build !js

package wsio

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// TestOptionsNegative: a negative size or duration that an option gives
// no meaning of its own selects the default, as zero does: the handshake
// succeeds under a negative HandshakeTimeout (both sides) and
// MaxHeaderBytes, messages go out in default-size fragments (Prepare
// used to panic on a negative fragment size), and Close waits for the
// peer's close frame instead of failing before it sends its own. A
// negative KeepaliveTimeout waits the interval for the pong, as zero
// does, instead of giving up at once.
func TestOptionsNegative(t *testing.T) {
	t.Parallel()
	o := Options{KeepaliveInterval: time.Second, KeepaliveTimeout: -1}
	if got := o.resolved().KeepaliveTimeout; got != time.Second {
		t.Errorf("KeepaliveTimeout -1 with a 1 s interval resolves to %v, want the interval", got)
	}
	for _, tc := range []struct {
		name   string
		opts   Options
		server ServerOptions
		dial   DialOptions
	}{
		{name: "FragmentSize", opts: Options{FragmentSize: -1}},
		{name: "CloseTimeout", opts: Options{CloseTimeout: -time.Second}},
		{name: "HandshakeTimeout", server: ServerOptions{HandshakeTimeout: -1}, dial: DialOptions{HandshakeTimeout: -1}},
		{name: "MaxHeaderBytes", dial: DialOptions{MaxHeaderBytes: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.server.Options, tc.dial.Options = tc.opts, tc.opts
			url := testServer(t, &tc.server, echo)
			c := dial(t, url, &tc.dial)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()

			data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			p, err := Prepare(Binary, data, tc.opts.FragmentSize)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Count(p.frames, []byte{0x82}); got != 1 || p.frames[0] != 0x82 {
				t.Errorf("Prepare: %d frame headers, want one frame", got)
			}
			if err := c.SendPrepared(ctx, p); err != nil {
				t.Fatal(err)
			}
			m, err := c.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(&m); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("echo: %d bytes, %v; want the %d sent", len(got), err, len(data))
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatalf("Close = %v, want nil", err)
			}
		})
	}
}
