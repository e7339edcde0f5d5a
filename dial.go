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
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/wsio/wsio/limits"
)

// DialOptions configure the client side of the opening handshake.
type DialOptions struct {
	Options

	// Header holds extra request headers (an Origin, cookies, an
	// Authorization). A "Host" entry overrides the Host header; Dial
	// refuses, before it dials, a Host value that is not a valid Host
	// header (as golang.org/x/net/http/httpguts.ValidHostHeader judges it:
	// no spaces, CR, LF or other control characters), with an error
	// matching ErrBadHandshake. Of the other entries, those whose name is
	// not a token, values holding CR or LF, and the headers the handshake
	// sets itself (Upgrade, Connection, Sec-WebSocket-Key, -Version,
	// -Protocol and -Extensions) are left out of the request, so no entry
	// can add a line to the request head.
	Header http.Header
	// Subprotocols lists the subprotocols to offer, most preferred first.
	// Each must be a token, as RFC 6455 (4.1) requires: one or more of the
	// RFC 7230 token characters (letters, digits and !#$%&'*+-.^_`|~), so
	// no spaces, commas or other separators, and no empty name. Dial
	// refuses any other name, before it dials, with an error matching
	// ErrBadHandshake.
	Subprotocols []string
	// TLSConfig configures wss:// connections. Its ServerName defaults to
	// the URL's host and its NextProtos to http/1.1.
	TLSConfig *tls.Config
	// NetDial, if set, opens the TCP connection instead of a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HandshakeTimeout bounds the dial and the handshake together.
	// Default 10 s.
	HandshakeTimeout time.Duration
	// MaxHeaderBytes caps the response head. Default 16 KiB.
	MaxHeaderBytes int
	// Proxy returns the proxy to reach a URL through (given a copy of the
	// URL passed to Dial), or nil to connect directly. A nil Proxy means
	// ProxyFromEnvironment, as in net/http's DefaultTransport; set
	// ProxyURL(nil) to connect directly whatever the environment says.
	// Proxy URL schemes: http and https (a CONNECT tunnel; https speaks TLS
	// to the proxy, verified with TLSConfig but with the proxy's host name
	// as ServerName), socks5 and socks5h (both let the proxy resolve the
	// host name, as in net/http). User info in the proxy URL is sent as
	// Basic Proxy-Authorization or SOCKS5 username/password. NetDial, if
	// set, opens the connection to the proxy; HandshakeTimeout and Dial's
	// ctx bound the proxy exchange too. Proxy failures match ErrProxy.
	// Their text names the proxy by its scheme and host alone: no error
	// shows the proxy URL's user info, path, query or fragment, where a
	// mistyped URL may have left credentials. ProxyFromEnvironment refuses
	// a proxy variable that names a scheme but is not a URL with a host
	// (httpproxy would read it with the credentials in the URL's path),
	// and its error does not show the variable's value.
	Proxy func(*url.URL) (*url.URL, error)
	// HTTP2, when set, opens the WebSocket as a stream of an HTTP/2
	// connection (RFC 8441's extended CONNECT): wss:// over TLS with ALPN
	// "h2", ws:// over h2c with prior knowledge. The response is checked as
	// over HTTP/1.1 (a 2xx status instead of 101, no Sec-WebSocket-Accept:
	// HTTP/2 has none), and the connection behaves the same. Dials share
	// HTTP/2 connections, as a browser's WebSockets to one origin do: all
	// Dials with no TLSConfig, NetDial and Proxy share one pool, and those
	// with only a TLSConfig one pool per *tls.Config (its settings are
	// taken when first used); a Dial with a NetDial or Proxy gets an HTTP/2
	// connection of its own, through them. When the server gives no
	// answer over HTTP/2 (it does not speak HTTP/2 or h2c, or its SETTINGS
	// do not allow extended CONNECT, as net/http's do not unless its
	// process runs with GODEBUG=http2xconnect=1), Dial falls back to
	// HTTP/1.1 within the same ctx and HandshakeTimeout; a refusal (a
	// non-2xx answer) is returned as over HTTP/1.1, without falling back.
	// MaxHeaderBytes does not apply (the HTTP/2 transport bounds headers).
	HTTP2 bool
}

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
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if o == nil {
		o = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: dial: %w", err)
	}
	secure := false
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, fmt.Errorf("websocket: dial: unsupported scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, errors.New("websocket: dial: the URL has no host")
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
	if timeout := or(o.HandshakeTimeout, limits.DefaultHandshakeTimeout); !deadlineWithin(ctx, timeout) {
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

	comp := o.Compression
	if comp == nil {
		comp = &Compression{}
	}
	offer := ""
	if comp.enabled() {
		offer = deflateOffer(comp)
	}

	var kb [16]byte
	_, _ = crand.Read(kb[:])
	key := base64.StdEncoding.EncodeToString(kb[:])
	bp := headBufs.Get().(*[]byte)
	_, err = nc.Write(buildRequest((*bp)[:0], u, key, offer, o))
	headBufs.Put(bp)
	if err != nil {
		return nil, nil, dialErr(ctx, "writing the request", err)
	}

	head, rest, err := readHead(nc, or(o.MaxHeaderBytes, limits.DefaultMaxHeaderBytes))
	if err != nil {
		return nil, nil, dialErr(ctx, "reading the response", err)
	}
	resp := &http.Response{
		Status:     statusLine(head.status, head.statusText),
		StatusCode: head.status,
		Proto:      head.proto,
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     head.header,
		Body:       http.NoBody,
	}
	if head.status != http.StatusSwitchingProtocols {
		resp.Body = io.NopCloser(bytes.NewReader(readBody(nc, head.status, head.header, rest)))
		return nil, resp, &HandshakeError{Status: head.status, Reason: "the server did not switch protocols"}
	}
	if reason := checkResponse(head.header, key, o.Subprotocols); reason != "" {
		return nil, resp, &HandshakeError{Status: head.status, Reason: reason}
	}
	exts, err := parseExtensions(head.header.Values("Sec-Websocket-Extensions"))
	if err != nil {
		return nil, resp, &HandshakeError{Status: head.status, Reason: err.Error()}
	}
	if len(exts) > 0 && offer == "" {
		return nil, resp, &HandshakeError{Status: head.status, Reason: "the server chose an extension that was not offered"}
	}
	var deflate *deflateState
	if offer != "" {
		if deflate, err = clientDeflate(exts, comp); err != nil {
			return nil, resp, &HandshakeError{Status: head.status, Reason: "permessage-deflate: " + err.Error()}
		}
	}
	if !stop() {
		// ctx ended as the handshake finished: the watch has set (or is
		// setting) a deadline in the past, so the connection is unusable.
		return nil, resp, dialErr(ctx, "finishing", ctx.Err())
	}
	ok = true
	c := newConn(nc, true, &o.Options, rest)
	c.protocol = head.header.Get("Sec-Websocket-Protocol")
	c.respHdr = head.header
	c.path = u.Path
	c.useDeflate(deflate)
	return c, resp, nil
}

// deadlineWithin reports whether ctx ends within d from now anyway.
func deadlineWithin(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) <= d
}

// statusLine is http.Response.Status: "101 Switching Protocols".
func statusLine(code int, text string) string {
	if code == http.StatusSwitchingProtocols && text == "Switching Protocols" {
		return "101 Switching Protocols"
	}
	return strconv.Itoa(code) + " " + text
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

// checkRequestOptions refuses the options whose values buildRequest would
// write into the request head as they are but that are not what their
// field allows: a Host override that is not a valid Host header value and
// a subprotocol that is not a token. Either could hold CR or LF and so add
// header lines, or whole requests, to what Dial sends.
func checkRequestOptions(o *DialOptions) error {
	if h := o.Header.Get("Host"); h != "" && !httpguts.ValidHostHeader(h) {
		return &fault{msg: fmt.Sprintf(prefix+"dial: the Host header %q is not a valid host", truncUTF8(h, 64)), kind: ErrBadHandshake}
	}
	for _, p := range o.Subprotocols {
		if !isToken(p) {
			return &fault{msg: fmt.Sprintf(prefix+"dial: the subprotocol %q is not a token", truncUTF8(p, 64)), kind: ErrBadHandshake}
		}
	}
	return nil
}

// buildRequest appends the opening handshake's request head to b. The
// Host override and the subprotocols have passed checkRequestOptions;
// appendHeader filters the other headers.
func buildRequest(b []byte, u *url.URL, key, extensions string, o *DialOptions) []byte {
	host := u.Host
	if h := o.Header.Get("Host"); h != "" {
		host = h
	}
	b = append(b, "GET "...)
	b = append(b, u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if extensions != "" {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = append(b, extensions...)
		b = append(b, "\r\n"...)
	}
	if len(o.Subprotocols) > 0 {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, strings.Join(o.Subprotocols, ", ")...)
		b = append(b, "\r\n"...)
	}
	b = appendHeader(b, o.Header, "Host", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Protocol", "Sec-Websocket-Extensions")
	return append(b, "\r\n"...)
}

// readHead reads until a whole response head has arrived, at most
// maxBytes of it plus its final empty line, and returns it with the bytes
// read past it.
func readHead(r io.Reader, maxBytes int) (*responseHead, []byte, error) {
	bp, _, err := readHeadBytes(r, maxBytes+4, nil)
	if err == errHeadTooLarge {
		err = fmt.Errorf("response head larger than %d bytes", maxBytes)
	}
	if err != nil {
		return nil, nil, err
	}
	defer headBufs.Put(bp)
	head, hn, err := parseResponseHead(*bp)
	if err != nil {
		return nil, nil, err
	}
	var rest []byte
	if hn < len(*bp) {
		rest = append([]byte(nil), (*bp)[hn:]...)
	}
	return head, rest, nil
}

// readBody reads the body of a refusing server's response, up to 64 KiB:
// by Content-Length, by chunks, or to the end of the connection, as
// RFC 9112 (6.3) says. The handshake deadline bounds the wait.
func readBody(r io.Reader, status int, h http.Header, rest []byte) []byte {
	const maxBody = 64 << 10
	if status < 200 || status == http.StatusNoContent || status == http.StatusNotModified {
		return nil
	}
	src := io.MultiReader(bytes.NewReader(rest), r)
	switch {
	case hasToken(h, "Transfer-Encoding", "chunked"):
		src = httputil.NewChunkedReader(src)
	case h.Get("Content-Length") != "":
		cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
		if err != nil || cl < 0 {
			return nil
		}
		src = io.LimitReader(src, cl)
	}
	body, _ := io.ReadAll(io.LimitReader(src, maxBody))
	return body
}

// checkResponse validates a 101 response (RFC 6455, 4.1) and returns why
// it is not acceptable, or "".
func checkResponse(h http.Header, key string, offered []string) string {
	var accept [28]byte
	switch {
	case !hasToken(h, "Upgrade", "websocket"):
		return `the Upgrade header does not contain "websocket"`
	case !hasToken(h, "Connection", "upgrade"):
		return `the Connection header does not contain "Upgrade"`
	case first(h["Sec-Websocket-Accept"]) != string(appendAcceptKey(accept[:0], key)):
		return "Sec-WebSocket-Accept does not match the key"
	}
	if p := h["Sec-Websocket-Protocol"]; len(p) > 0 {
		if len(p) > 1 || !slices.Contains(offered, p[0]) {
			return "the server chose a subprotocol that was not offered: " + strings.Join(p, ", ")
		}
	}
	return ""
}
