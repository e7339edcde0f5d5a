//go:build !js

package wsio_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wsio/wsio"
)

// TestErrorsReadOnce: every error a program meets starts with one
// "websocket: " prefix, says each thing once, and still matches its
// sentinels: the detecting side of a 1009 or a 1002, a send refused for
// invalid UTF-8, a close made after the connection closed.
func TestErrorsReadOnce(t *testing.T) {
	t.Parallel()
	serverErr := make(chan error, 1)
	srv := wsio.NewServer(wsio.ServerOptions{Options: wsio.Options{BufferCap: 10}}, func(c *wsio.Conn) {
		_, err := c.Next(context.Background())
		serverErr <- err
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	ctx := testCtx(t)
	c := dial(t, wsURL(ts.URL), nil)

	sendErr := c.SendText(ctx, "\xff")
	if err := c.SendText(ctx, strings.Repeat("x", 100)); err != nil {
		t.Fatal(err)
	}
	detected := <-serverErr
	_, received := c.Next(ctx)
	closeAgain := c.Close(wsio.StatusNormalClosure, "")

	for _, tc := range []struct {
		name string
		err  error
		want string
		is   []error
	}{
		{"SendText with invalid UTF-8", sendErr, "websocket: SendText: the text is not valid UTF-8", []error{wsio.ErrInvalidUTF8}},
		{"the side that detects a 1009", detected, "websocket: closed by local: 1009 (message too big): text message too big: over the buffer cap of 10 bytes", []error{wsio.ErrMessageTooBig, wsio.ErrClosed}},
		{"the side that receives the 1009", received, `websocket: closed by peer: 1009 (message too big): "text message too big"`, []error{wsio.ErrMessageTooBig, wsio.ErrClosed}},
		{"Close after the close", closeAgain, `websocket: closed by peer: 1009 (message too big): "text message too big"`, []error{wsio.ErrClosed}},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
			continue
		}
		if n := strings.Count(tc.err.Error(), "websocket: "); n != 1 {
			t.Errorf("%s: %q has the prefix %d times", tc.name, tc.err, n)
		}
		for _, s := range tc.is {
			if !errors.Is(tc.err, s) {
				t.Errorf("%s: %v does not match %v", tc.name, tc.err, s)
			}
		}
	}
}
