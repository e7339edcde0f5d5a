//go:build !js

package wsio

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/internal/handshake"
	"github.com/wsio/wsio/limits"
)

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as the same). ctx bounds the dial and the handshake
// only; the connection outlives it. If ctx is already done, Dial returns
// ctx.Err() without dialing; if it ends during the dial or the handshake,
// the error matches ctx.Err().
//
// Dial checks the options before it dials: a Host header or a
// subprotocol that DialOptions does not allow (see Header and
// Subprotocols) makes it return an error matching ErrBadHandshake without
// opening a connection.
//
// When the server answers with something other than a valid 101, Dial
// returns a *HandshakeError and the server's *http.Response, whose Body
// holds up to 64 KiB of what the server sent.
func Dial(ctx context.Context, rawURL string, o *DialOptions) (*Conn, *http.Response, error) {
	u, secure, o, err := startDial(ctx, rawURL, o)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRequestOptions(o); err != nil {
		return nil, nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	if timeout := positiveOr(o.HandshakeTimeout, limits.DefaultHandshakeTimeout); !deadlineWithin(ctx, timeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	if o.HTTP2 {
		c, resp, err := dialH2(ctx, u, secure, o) // h2dial.go
		if !errors.Is(err, errNoH2) {
			return c, resp, err
		}
	}

	nc, presp, err := dialNet(ctx, u, addr, o) // direct or through a proxy: proxy.go
	if err != nil {
		return nil, presp, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = nc.Close()
		}
	}()
	// ctx carries the handshake timeout, so this one watch bounds every
	// read and write below: no socket deadline to set and clear.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	defer stop()

	if secure {
		cfg := &tls.Config{}
		if o.TLSConfig != nil {
			cfg = o.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		if len(cfg.NextProtos) == 0 {
			cfg.NextProtos = []string{"http/1.1"}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("websocket: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}

	comp, offer := compressionOffer(o)

	var kb [16]byte
	_, _ = crand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])
	bp := handshake.GetBuffer()
	_, err = nc.Write(handshake.AppendRequest((*bp)[:0], u, key, offer, o.Subprotocols, o.Header))
	handshake.PutBuffer(bp)
	if err != nil {
		return nil, nil, dialErr(ctx, "writing the request", err)
	}

	head, rest, err := handshake.ReadResponseHead(nc, positiveOr(o.MaxHeaderBytes, limits.DefaultMaxHeaderBytes))
	if err != nil {
		return nil, nil, dialErr(ctx, "reading the response", err)
	}
	resp := &http.Response{
		Status:     handshake.StatusLine(head.Status, head.StatusText),
		StatusCode: head.Status,
		Proto:      head.Proto,
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     head.Header,
		Body:       http.NoBody,
	}
	if head.Status != http.StatusSwitchingProtocols {
		resp.Body = io.NopCloser(bytes.NewReader(handshake.ReadBody(nc, head.Status, head.Header, rest)))
		return nil, resp, &HandshakeError{Status: head.Status, Reason: "the server did not switch protocols"}
	}
	if reason := handshake.CheckResponse(head.Header, key, o.Subprotocols); reason != "" {
		return nil, resp, &HandshakeError{Status: head.Status, Reason: reason}
	}
	dfl, reason := clientExtensions(head.Header, offer, comp)
	if reason != "" {
		return nil, resp, &HandshakeError{Status: head.Status, Reason: reason}
	}
	if !stop() {
		// ctx ended as the handshake finished: the watch has set (or is
		// setting) a deadline in the past, so the connection is unusable.
		return nil, resp, dialErr(ctx, "finishing", ctx.Err())
	}
	ok = true
	return clientConn(nc, rest, o, u, head.Header, dfl), resp, nil
}

// clientConn is the connection a dial returns once the handshake
// succeeded: rwc carries it, rest holds the bytes read past the response
// head, hdr is the response's header (naming the subprotocol) and dfl
// what compression was negotiated (nil for none).
func clientConn(rwc io.ReadWriteCloser, rest []byte, o *DialOptions, u *url.URL, hdr http.Header, dfl *deflateState) *Conn {
	c := newConn(rwc, true, &o.Options, rest)
	c.protocol = hdr.Get("Sec-Websocket-Protocol")
	c.respHdr = hdr
	c.path = u.Path
	c.useDeflate(dfl)
	return c
}

// compressionOffer returns the compression settings a client dials with
// (o.Compression, or the defaults when it is nil: a client offers
// compression unless told not to) and the Sec-WebSocket-Extensions offer
// they make, empty when compression is disabled. Both the HTTP/1.1 and the
// HTTP/2 dial use it, so they offer the same.
func compressionOffer(o *DialOptions) (*Compression, string) {
	comp := o.Compression
	if comp == nil {
		comp = &Compression{}
	}
	if !comp.enabled() {
		return comp, ""
	}
	return comp, deflate.Offer(comp.config())
}

// deadlineWithin reports whether ctx ends within d from now anyway.
func deadlineWithin(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) <= d
}

// dialErr wraps an error of the handshake's I/O. The only deadline on the
// connection is the one the context watch sets when ctx ends, so such an
// error is reported as ctx's.
func dialErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("websocket: handshake: %s: %w", what, err)
}

// checkRequestOptions refuses the options whose values AppendRequest would
// write into the request head as they are but that are not what their
// field allows: a Host override that is not a valid Host header value and
// a subprotocol that is not a token. Either could hold CR or LF and so add
// header lines, or whole requests, to what Dial sends.
func checkRequestOptions(o *DialOptions) error {
	if h := o.Header.Get("Host"); h != "" && !httpguts.ValidHostHeader(h) {
		return &fault{msg: fmt.Sprintf(prefix+"dial: the Host header %q is not a valid host", truncUTF8(h, 64)), kind: ErrBadHandshake}
	}
	for _, p := range o.Subprotocols {
		if !handshake.IsToken(p) {
			return &fault{msg: fmt.Sprintf(prefix+"dial: the subprotocol %q is not a token", truncUTF8(p, 64)), kind: ErrBadHandshake}
		}
	}
	return nil
}

// clientExtensions checks the server's Sec-WebSocket-Extensions answer to
// offer (empty when nothing was offered) and returns the connection's
// compression state (nil without compression), or why the answer is
// refused.
func clientExtensions(h http.Header, offer string, comp *Compression) (*deflateState, string) {
	exts, err := deflate.ParseExtensions(h.Values("Sec-Websocket-Extensions"))
	if err != nil {
		return nil, err.Error()
	}
	if len(exts) > 0 && offer == "" {
		return nil, "the server chose an extension that was not offered"
	}
	if offer == "" {
		return nil, ""
	}
	p, ok, err := deflate.CheckResponse(exts, comp.config())
	if err != nil {
		return nil, "permessage-deflate: " + err.Error()
	}
	if !ok {
		return nil, ""
	}
	return newDeflateState(comp, p), ""
}
