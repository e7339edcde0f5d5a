//go:build js

package wsio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall/js"
	"time"

	"github.com/wsio/wsio/internal/handshake"
	"github.com/wsio/wsio/limits"
)

// unsupported returns the error for an option the browser cannot honour.
func unsupported(option, why string) error {
	return fmt.Errorf(prefix+"dial: %s cannot be set in a browser (%s): %w", option, why, errors.ErrUnsupported)
}

// checkBrowserOptions refuses the options a browser's WebSocket cannot
// honour.
func checkBrowserOptions(o *DialOptions) error {
	switch {
	case len(o.Header) > 0:
		return unsupported("DialOptions.Header", "the browser makes the request's headers itself")
	case o.TLSConfig != nil:
		return unsupported("DialOptions.TLSConfig", "the browser verifies the server itself")
	case o.NetDial != nil:
		return unsupported("DialOptions.NetDial", "the browser opens the connection itself")
	case o.Proxy != nil:
		return unsupported("DialOptions.Proxy", "the browser uses its own proxy settings")
	case o.HTTP2:
		return unsupported("DialOptions.HTTP2", "the browser chooses the HTTP version itself")
	case o.Compression != nil:
		return unsupported("Options.Compression", "the browser negotiates permessage-deflate itself")
	case o.KeepaliveInterval > 0:
		return unsupported("Options.KeepaliveInterval", "a page cannot send pings")
	case o.OnPing != nil:
		return unsupported("Options.OnPing", "the browser answers pings without showing them")
	case o.OnPong != nil:
		return unsupported("Options.OnPong", "a page cannot send pings")
	}
	seen := make(map[string]bool, len(o.Subprotocols))
	for _, p := range o.Subprotocols {
		if !handshake.IsToken(p) {
			return &fault{msg: fmt.Sprintf(prefix+"dial: the subprotocol %q is not a token", truncUTF8(p, 64)), kind: ErrBadHandshake}
		}
		if seen[p] {
			return &fault{msg: fmt.Sprintf(prefix+"dial: the subprotocol %q is offered twice", p), kind: ErrBadHandshake}
		}
		seen[p] = true
	}
	return nil
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as the same) with the browser's WebSocket. ctx bounds
// the opening handshake only; the connection outlives it. If ctx is
// already done, Dial returns ctx.Err() without dialing; if it ends during
// the handshake, the attempt is abandoned and the error matches
// ctx.Err().
//
// Dial checks the options first: those the browser cannot honour (see
// DialOptions) make it return an error matching errors.ErrUnsupported, a
// subprotocol that is not a token one matching ErrBadHandshake, without
// opening a connection.
//
// The *http.Response is always nil: a browser shows a page neither the
// server's response nor why a handshake failed. A failed handshake (a
// refused connection, a status other than 101, a subprotocol the server
// chose that was not offered) is an error matching ErrBadHandshake.
func Dial(ctx context.Context, rawURL string, o *DialOptions) (*Conn, *http.Response, error) {
	u, secure, o, err := startDial(ctx, rawURL, o)
	if err != nil {
		return nil, nil, err
	}
	u.Scheme = "ws"
	if secure {
		u.Scheme = "wss"
	}
	u.Fragment, u.RawFragment = "", "" // the browser refuses a URL with one
	if err := checkBrowserOptions(o); err != nil {
		return nil, nil, err
	}
	c := newJSConn(&o.Options)
	protocols := make([]any, len(o.Subprotocols))
	for i, p := range o.Subprotocols {
		protocols[i] = p
	}
	var ws js.Value
	if err := jsTry(func() { ws = jsWebSocket.New(u.String(), protocols) }); err != nil {
		return nil, nil, &fault{msg: prefix + "dial: " + err.Error(), kind: ErrBadHandshake, cause: err}
	}
	c.attach(ws)

	t := time.NewTimer(positiveOr(o.HandshakeTimeout, limits.DefaultHandshakeTimeout))
	defer t.Stop()
	var fail error
	select {
	case <-c.opened:
	case <-c.done:
		// The browser tells a page only that the attempt failed.
		fail = &fault{msg: fmt.Sprintf(prefix+"dial %s: the browser could not open the connection (%s)", u.Redacted(), c.closeError().Code), kind: ErrBadHandshake}
	case <-ctx.Done():
		fail = fmt.Errorf(prefix+"dial %s: %w", u.Redacted(), ctx.Err())
	case <-t.C:
		fail = fmt.Errorf(prefix+"dial %s: the handshake timed out: %w", u.Redacted(), context.DeadlineExceeded)
	}
	if fail != nil {
		c.CloseNow()
		return nil, nil, fail
	}
	c.protocol = ws.Get("protocol").String()
	return c, nil, nil
}
