//go:build !js

package wsio_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// TestDialRefusesInjection: a Host override or a subprotocol that would add
// lines to the request head makes Dial fail before it dials, with an error
// matching ErrBadHandshake, and nothing reaches the server.
func TestDialRefusesInjection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts wsio.DialOptions
		text string // in the error
	}{
		{"Host smuggles a request", wsio.DialOptions{Header: http.Header{"Host": {"a\r\n\r\nGET /admin HTTP/1.1\r\nHost: internal"}}}, "Host"},
		{"Host adds a header", wsio.DialOptions{Header: http.Header{"Host": {"a\r\nX-Injected: 1"}}}, "Host"},
		{"Host with a bare LF", wsio.DialOptions{Header: http.Header{"Host": {"a\nX-Injected: 1"}}}, "Host"},
		{"Host with a space", wsio.DialOptions{Header: http.Header{"Host": {"a b"}}}, "Host"},
		{"Host with NUL", wsio.DialOptions{Header: http.Header{"Host": {"a\x00b"}}}, "Host"},
		{"subprotocol adds a header", wsio.DialOptions{Subprotocols: []string{"chat", "chat\r\nX-Injected: 1"}}, "subprotocol"},
		{"subprotocol ends the head", wsio.DialOptions{Subprotocols: []string{"chat\r\n\r\nGET /admin HTTP/1.1"}}, "subprotocol"},
		{"subprotocol with a bare LF", wsio.DialOptions{Subprotocols: []string{"chat\nX-Injected: 1"}}, "subprotocol"},
		{"subprotocol with a space", wsio.DialOptions{Subprotocols: []string{"chat v2"}}, "subprotocol"},
		{"subprotocol with a comma", wsio.DialOptions{Subprotocols: []string{"chat,superchat"}}, "subprotocol"},
		{"subprotocol with a separator", wsio.DialOptions{Subprotocols: []string{"chat/2"}}, "subprotocol"},
		{"empty subprotocol", wsio.DialOptions{Subprotocols: []string{"chat", ""}}, "subprotocol"},
		{"non-ASCII subprotocol", wsio.DialOptions{Subprotocols: []string{"chät"}}, "subprotocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := wstest.StartRecorder(t)
			opts := tc.opts
			opts.Proxy = wsio.ProxyURL(nil)
			opts.HandshakeTimeout = time.Second // bounds the wait when the request does go out
			c, resp, err := wsio.Dial(testCtx(t), "ws://"+rec.Addr()+"/", &opts)
			if c != nil {
				_ = c.Transport().Close()
			}
			got := rec.Received(t)
			if len(got) > 0 {
				t.Errorf("the server received %d connection(s); the first sent %d request line(s):\n%q",
					len(got), strings.Count(got[0], "GET "), got[0])
			}
			if c != nil || resp != nil || !errors.Is(err, wsio.ErrBadHandshake) {
				t.Fatalf("Dial = %v, %v, %v; want an error matching ErrBadHandshake", c, resp, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "websocket: ") || strings.Count(msg, "websocket: ") != 1 || !strings.Contains(msg, tc.text) {
				t.Errorf("error text %q: want one \"websocket: \" prefix and %q", msg, tc.text)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error text %q holds a line break", msg)
			}
		})
	}
}

// TestDialRefusesBeforeContext: option checks come after the context's:
// a done ctx is reported as such even with options Dial would refuse.
func TestDialRefusesBeforeContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := wsio.Dial(ctx, "ws://127.0.0.1:1/", &wsio.DialOptions{Subprotocols: []string{"a b"}})
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled itself", err)
	}
}

// TestDialAcceptsValidHostAndSubprotocols: what the checks let through
// reaches the server unchanged.
func TestDialAcceptsValidHostAndSubprotocols(t *testing.T) {
	t.Parallel()
	protos := []string{"chat", "v2.json+gzip", "x!#$%&'*+-.^_`|~9"}
	for _, host := range []string{"chat.example", "chat.example:8080", "[::1]:9000", "127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			_, url := newServer(t, wsio.ServerOptions{SelectSubprotocol: func(r *http.Request, offered []string) string {
				if r.Host == host && strings.Join(offered, " ") == strings.Join(protos, " ") {
					return offered[len(offered)-1]
				}
				return ""
			}}, drain)
			c := dial(t, url, &wsio.DialOptions{Header: http.Header{"Host": {host}}, Subprotocols: protos})
			if got := c.Subprotocol(); got != protos[len(protos)-1] {
				t.Errorf("Subprotocol() = %q: the server did not see Host %q and the offers %q", got, host, protos)
			}
		})
	}
}
