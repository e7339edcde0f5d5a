//go:build !js

package wsio

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
	"golang.org/x/net/proxy"

	"github.com/wsio/wsio/internal/handshake"
	"github.com/wsio/wsio/limits"
)

// ErrProxy reports a failure at the proxy Dial went through: the proxy
// could not be chosen or reached, it refused the tunnel (an HTTP proxy's
// status line, such as "407 Proxy Authentication Required", is in the
// error's text), or its SOCKS5 exchange failed. When an HTTP proxy refused
// CONNECT, Dial also returns the proxy's *http.Response.
var ErrProxy = errors.New("websocket: proxy failed")

// ProxyFromEnvironment returns the proxy to use for the WebSocket URL u,
// as the environment configures it, or nil to connect directly. It follows
// net/http's rules (through golang.org/x/net/http/httpproxy): ws:// (and
// http://) URLs use HTTP_PROXY, wss:// (and https://) URLs use
// HTTPS_PROXY, the lowercase spelling of each variable taking precedence.
// When that variable is empty, ALL_PROXY (or all_proxy), the usual place
// of a socks5:// or socks5h:// proxy, is used instead. NO_PROXY (or
// no_proxy) lists the hosts to reach directly, and, as in net/http,
// "localhost" and loopback addresses are never proxied. A value without a
// scheme is taken as an http:// proxy. As in net/http, HTTP_PROXY is
// refused with an error in a CGI process (REQUEST_METHOD is set). The
// environment is read at each call.
//
// A value that names a scheme ("scheme://...") but does not parse as a
// URL with a host (a mistyped port, say) is refused with an error
// matching ErrProxy, when the variable applies to u. The error names the
// variable and shows nothing of its value, which may hold credentials.
// (httpproxy would take such a value for a URL whose host is the scheme's
// name and whose path is the rest of the value, credentials included.)
func ProxyFromEnvironment(u *url.URL) (*url.URL, error) {
	var vars [2]string
	r := *u
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		vars = [2]string{"http_proxy", "HTTP_PROXY"}
		r.Scheme = "http"
	case "wss", "https":
		vars = [2]string{"https_proxy", "HTTPS_PROXY"}
		r.Scheme = "https"
	default:
		return nil, nil
	}
	// The variable httpproxy would read for u's scheme, or else ALL_PROXY.
	name, value := getenvAny(vars[0], vars[1])
	if value == "" {
		name, value = getenvAny("all_proxy", "ALL_PROXY")
	}
	if value == "" {
		return nil, nil // the usual case, without building httpproxy's configuration
	}
	cfg := httpproxy.FromEnvironment()
	if r.Scheme == "http" {
		cfg.HTTPProxy = value
	} else {
		cfg.HTTPSProxy = value
	}
	pu, err := cfg.ProxyFunc()(&r)
	if pu != nil && !wellFormedProxy(value) {
		return nil, &fault{msg: prefix + "the proxy URL in " + name + " is malformed", kind: ErrProxy}
	}
	return pu, err
}

// getenvAny returns the first of the environment variables names that is
// set and not empty, with its value, or "", "".
func getenvAny(names ...string) (name, value string) {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return n, v
		}
	}
	return "", ""
}

// wellFormedProxy reports whether httpproxy reads the proxy variable's
// value v as the user meant it: a URL with a scheme and a host, or a
// value without "://" (such as "host:port"), which httpproxy reads as an
// http:// URL. A value with "://" that does not parse as a URL with a
// host is not: httpproxy would parse "http://" + v instead, which makes
// the scheme's name the host and puts the rest of v in the path.
func wellFormedProxy(v string) bool {
	if !strings.Contains(v, "://") {
		return true
	}
	pu, err := url.Parse(v)
	return err == nil && pu.Scheme != "" && pu.Host != ""
}

// ProxyURL returns a proxy function, for DialOptions.Proxy, that always
// returns fixed. ProxyURL(nil) makes Dial connect directly whatever the
// environment says.
func ProxyURL(fixed *url.URL) func(*url.URL) (*url.URL, error) {
	return func(*url.URL) (*url.URL, error) { return fixed, nil }
}

// dialNet opens the byte stream to addr, the host:port of the WebSocket
// URL u: directly, or through the proxy that o.Proxy (by default
// ProxyFromEnvironment) chooses. A refusing HTTP proxy's response is
// returned with the error.
func dialNet(ctx context.Context, u *url.URL, addr string, o *DialOptions) (net.Conn, *http.Response, error) {
	var pu *url.URL
	var err error
	if o.Proxy == nil {
		pu, err = ProxyFromEnvironment(u) // which neither keeps nor changes u
	} else {
		uc := *u // the user's function gets a copy it may change
		pu, err = o.Proxy(&uc)
	}
	if err != nil {
		// ProxyFromEnvironment's own errors begin with the prefix.
		msg := ErrProxy.Error() + ": choosing the proxy for " + addr + ": " + strings.TrimPrefix(err.Error(), prefix)
		return nil, nil, &fault{msg: msg, kind: ErrProxy, cause: err}
	}
	if pu == nil {
		nc, err := o.dialTCP(ctx, addr)
		if err != nil {
			return nil, nil, fmt.Errorf(prefix+"%w", err)
		}
		return nc, nil, nil
	}
	return dialProxy(ctx, pu, addr, o)
}

// dialTCP opens a TCP connection with o.NetDial or a net.Dialer.
func (o *DialOptions) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if o.NetDial != nil {
		return o.NetDial(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// proxyForward is how x/net/proxy's SOCKS5 dialer reaches the proxy: with
// the DialOptions' NetDial or a net.Dialer.
type proxyForward struct{ o *DialOptions }

func (f proxyForward) Dial(network, addr string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, addr)
}

func (f proxyForward) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" {
		return nil, fmt.Errorf("network %q not supported", network)
	}
	return f.o.dialTCP(ctx, addr)
}

// dialProxy opens a tunnel to addr through the proxy pu. ctx bounds the
// whole exchange.
func dialProxy(ctx context.Context, pu *url.URL, addr string, o *DialOptions) (net.Conn, *http.Response, error) {
	scheme := strings.ToLower(pu.Scheme)
	name := proxyName(pu)
	if pu.Host == "" {
		return nil, nil, fmt.Errorf("%w: proxy URL %s has no host", ErrProxy, name)
	}
	port := pu.Port()
	switch scheme {
	case "http":
		port = orDefault(port, "80")
	case "https":
		port = orDefault(port, "443")
	case "socks5", "socks5h":
		port = orDefault(port, "1080")
	default:
		return nil, nil, fmt.Errorf("%w: unsupported proxy scheme %q in %s", ErrProxy, pu.Scheme, name)
	}
	paddr := net.JoinHostPort(pu.Hostname(), port)

	if scheme == "socks5" || scheme == "socks5h" {
		var auth *proxy.Auth
		if pu.User != nil {
			auth = &proxy.Auth{User: pu.User.Username()}
			auth.Password, _ = pu.User.Password()
		}
		d, err := proxy.SOCKS5("tcp", paddr, auth, proxyForward{o})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrProxy, name, err)
		}
		nc, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, proxyErr(ctx, name, "SOCKS5 CONNECT "+addr, err)
		}
		return nc, nil, nil
	}

	nc, err := o.dialTCP(ctx, paddr)
	if err != nil {
		return nil, nil, proxyErr(ctx, name, "dialing", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = nc.Close()
		}
	}()
	if d, has := ctx.Deadline(); has {
		_ = nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	defer stop()

	if scheme == "https" {
		cfg := &tls.Config{}
		if o.TLSConfig != nil {
			cfg = o.TLSConfig.Clone()
		}
		cfg.ServerName = pu.Hostname()
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, proxyErr(ctx, name, "TLS handshake", err)
		}
		nc = tc
	}

	if _, err := nc.Write(handshake.AppendConnect(make([]byte, 0, 128), addr, pu.User)); err != nil {
		return nil, nil, proxyErr(ctx, name, "writing CONNECT", err)
	}
	head, rest, err := handshake.ReadResponseHead(nc, positiveOr(o.MaxHeaderBytes, limits.DefaultMaxHeaderBytes))
	if err != nil {
		return nil, nil, proxyErr(ctx, name, "reading the CONNECT response", err)
	}
	status := strconv.Itoa(head.Status) + " " + head.StatusText
	if head.Status < 200 || head.Status > 299 {
		minor := 1
		if head.Proto == "HTTP/1.0" {
			minor = 0
		}
		resp := &http.Response{
			Status:     status,
			StatusCode: head.Status,
			Proto:      head.Proto,
			ProtoMajor: 1,
			ProtoMinor: minor,
			Header:     head.Header,
			Body:       io.NopCloser(bytes.NewReader(handshake.ReadBody(nc, head.Status, head.Header, rest))),
		}
		return nil, resp, fmt.Errorf("%w: %s answered CONNECT %s with %s", ErrProxy, name, addr, status)
	}
	if !stop() {
		return nil, nil, proxyErr(ctx, name, "CONNECT", ctx.Err())
	}
	_ = nc.SetDeadline(time.Time{})
	ok = true
	if len(rest) > 0 {
		return &prefixConn{Conn: nc, buf: rest}, nil, nil
	}
	return nc, nil, nil
}

// proxyName names the proxy pu in errors by its scheme and host alone.
// The rest of the URL is never shown: the user info holds credentials,
// and so may the path, query or fragment of a mistyped URL.
func proxyName(pu *url.URL) string {
	return (&url.URL{Scheme: pu.Scheme, Host: pu.Host}).String()
}

// proxyErr wraps a failure of the exchange with the proxy name, as both
// ErrProxy and its cause (the context's error when ctx ended).
func proxyErr(ctx context.Context, name, what string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	} else if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d.Add(-10*time.Millisecond)) {
		err = context.DeadlineExceeded
	}
	return fmt.Errorf("%w: %s: %s: %w", ErrProxy, name, what, err)
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// prefixConn is a connection whose first reads return buf: bytes a proxy
// sent right after its CONNECT response head, which belong to the tunnel.
type prefixConn struct {
	net.Conn
	buf []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
