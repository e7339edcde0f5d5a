package wsio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialOptions configure the client side of the opening handshake. As in
// Options, a zero or negative HandshakeTimeout or MaxHeaderBytes selects
// the default.
//
// On js/wasm the browser's WebSocket makes the handshake, and it lets a
// page choose only the URL and the subprotocols. Dial refuses there, with
// an error matching errors.ErrUnsupported and before it opens anything,
// the options the browser cannot honour: a non-empty Header, TLSConfig,
// NetDial, Proxy, HTTP2, Options.Compression, a positive
// Options.KeepaliveInterval (the browser cannot send pings),
// Options.OnPing and Options.OnPong (the browser answers pings itself and
// shows a page neither pings nor pongs). MaxHeaderBytes has no effect
// there (the browser reads the response head), nor has
// Options.FragmentSize on what is sent (the browser frames messages
// itself); on js/wasm it is the size of the pieces a BinaryWriter hands to
// JavaScript memory.
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
	// ErrBadHandshake. On js/wasm Dial also refuses a name offered twice,
	// as the browser's WebSocket constructor does.
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
	//
	// Flow control runs per stream in both directions, and Go's HTTP/2
	// servers (net/http's and golang.org/x/net/http2's, so a wsio Server
	// too) send a stream's WINDOW_UPDATE only after the DATA they have
	// queued on that stream: while such a server waits for this client's
	// window to send, it grants this client no window on that stream,
	// even when its handler has read everything. A client that reads the
	// next part of a message only after its own write returns (echoing a
	// large binary message by streaming it back, as io.Copy from Next's
	// Message into BeginBinary's writer does) therefore stalls against
	// such a server when the server sends more than the client's stream
	// window (4 MiB) while reading the echo. Over HTTP/1.1 the same
	// client does not stall. Against such servers, read on its own
	// goroutine while writing, or take the message whole (up to
	// Options.BufferCap) before answering it.
	HTTP2 bool
}

// startDial is what Dial does first in every build: it returns ctx.Err()
// when ctx is already done, takes the zero DialOptions for a nil o, and
// parses rawURL, which must have a host and the scheme ws or wss (http
// and https are taken as the same). secure reports wss or https. u keeps
// the scheme rawURL gave it.
func startDial(ctx context.Context, rawURL string, o *DialOptions) (u *url.URL, secure bool, _ *DialOptions, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, nil, err
	}
	if o == nil {
		o = &DialOptions{}
	}
	u, err = url.Parse(rawURL)
	if err != nil {
		return nil, false, nil, fmt.Errorf(prefix+"dial: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, false, nil, fmt.Errorf(prefix+"dial: unsupported scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, false, nil, errors.New(prefix + "dial: the URL has no host")
	}
	return u, secure, o, nil
}
