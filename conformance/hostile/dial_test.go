package hostile

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// What the wsio client is given by a hostile or careless caller: option
// values that would add lines to the request head, and proxy URLs whose
// credentials could surface in an error.

// TestClientRequestInjection: option values that would add header lines,
// or a whole second request, to the handshake request. Dial must refuse
// them before it dials, with an error matching ErrBadHandshake, and the
// server must receive nothing.
func TestClientRequestInjection(t *testing.T) {
	t.Parallel()
	const smuggled = "\r\n\r\nGET /admin HTTP/1.1\r\nHost: internal"
	cases := []struct {
		name, tried string
		opts        wsio.DialOptions
	}{
		{"host-request", `DialOptions.Header "Host" = "a` + strings.ReplaceAll(strings.ReplaceAll(smuggled, "\r", `\r`), "\n", `\n`) + `" (a second request after the head)`,
			wsio.DialOptions{Header: http.Header{"Host": {"a" + smuggled}}}},
		{"host-header", `DialOptions.Header "Host" = "a\r\nX-Injected: 1" (an extra header line)`,
			wsio.DialOptions{Header: http.Header{"Host": {"a\r\nX-Injected: 1"}}}},
		{"host-space", `DialOptions.Header "Host" = "a b"`,
			wsio.DialOptions{Header: http.Header{"Host": {"a b"}}}},
		{"subprotocol-header", `DialOptions.Subprotocols = ["chat", "chat\r\nX-Injected: 1"] (an extra header line)`,
			wsio.DialOptions{Subprotocols: []string{"chat", "chat\r\nX-Injected: 1"}}},
		{"subprotocol-request", `DialOptions.Subprotocols = ["chat\r\n\r\nGET /admin HTTP/1.1"] (a second request after the head)`,
			wsio.DialOptions{Subprotocols: []string{"chat\r\n\r\nGET /admin HTTP/1.1"}}},
		{"subprotocol-comma", `DialOptions.Subprotocols = ["chat,admin"] (two offers in one name)`,
			wsio.DialOptions{Subprotocols: []string{"chat,admin"}}},
		{"subprotocol-empty", `DialOptions.Subprotocols = ["chat", ""]`,
			wsio.DialOptions{Subprotocols: []string{"chat", ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Client", "Dial with "+tc.tried+", to a raw listener that records what arrives")
			l := wstest.StartRecorder(t)
			opts := tc.opts
			opts.Proxy = wsio.ProxyURL(nil)
			opts.HandshakeTimeout = time.Second // bounds the wait if the request goes out
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			c, resp, err := wsio.Dial(ctx, "ws://"+l.Addr()+"/", &opts)
			took := time.Since(start)
			if c != nil {
				_ = c.Transport().Close()
			}
			got := l.Received(t)
			if len(got) > 0 {
				bug(t, r, "the listener received %d connection(s), the first with %d request line(s): %q; Dial returned %s",
					len(got), strings.Count(got[0], "GET "), got[0], desc(err))
			}
			matches := errors.Is(err, wsio.ErrBadHandshake)
			r.saw("Dial failed after %v, before dialing, with %s (matches ErrBadHandshake: %v); the listener received no connection",
				fmtDur(took), errText(err), matches)
			if c != nil || resp != nil || !matches {
				t.Fatalf("Dial = %v, %v, %v; want an error matching ErrBadHandshake", c, resp, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || strings.Count(msg, "websocket: ") != 1 {
				t.Errorf("error text %q: want one line with one \"websocket: \" prefix", msg)
			}
		})
	}
}

// errText is err's whole text, for a row; desc would cut it short.
func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return "`" + err.Error() + "`"
}

// proxySecret is the password in the proxy URLs below.
const proxySecret = "s3cret"

// checkProxyDial runs the Dial of a proxy row with d as NetDial: it must
// fail with ErrProxy, no error in the chain may show the password, and
// unless mayDial, nothing may be dialed.
func checkProxyDial(t *testing.T, r *row, o *wsio.DialOptions, d *wstest.Dialer, mayDial bool) {
	t.Helper()
	o.NetDial = d.Dial
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, "ws://192.0.2.1:9/", o) // never reached: d dials loopback at most
	if c != nil {
		_ = c.Transport().Close()
	}
	if s := wstest.SecretShown(err, "user", proxySecret); s != "" {
		bug(t, r, "the error shows the proxy password: %q", s)
	}
	dialed := "nothing"
	if a := d.Dialed(); len(a) > 0 {
		dialed = strings.Join(a, ", ")
	}
	r.saw("Dial failed with %s (matches ErrProxy: %v); dialed %s; the password appears in no error of the chain",
		errText(err), errors.Is(err, wsio.ErrProxy), dialed)
	if c != nil || !errors.Is(err, wsio.ErrProxy) {
		t.Fatalf("Dial = %v, %v; want an error matching ErrProxy", c, err)
	}
	if !mayDial && dialed != "nothing" {
		t.Errorf("Dial dialed %s; want no dial", dialed)
	}
}

// TestClientProxyEnvCredentials: HTTP_PROXY holds credentials and a port
// that does not parse. httpproxy would read it as the host "http:" with
// the credentials in the path. Dial must fail without dialing, and no
// error may show the password. Not parallel: it sets the environment.
func TestClientProxyEnvCredentials(t *testing.T) {
	wstest.ClearProxyEnv(t)
	value := "http://user:" + proxySecret + "@proxy.example:99999x"
	t.Setenv("HTTP_PROXY", value)
	r := record(t, "Client", "HTTP_PROXY="+value+" (a port that does not parse), Dial of a ws:// URL with no Proxy set")
	checkProxyDial(t, r, &wsio.DialOptions{}, &wstest.Dialer{Allow: wstest.Nowhere}, false)
}

// TestClientProxyCredentials: proxy URLs with credentials, from a Proxy
// func, that lead nowhere; no error may show the password.
func TestClientProxyCredentials(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	user := "user:" + proxySecret + "@"
	cases := []struct {
		name, tried, proxy string
	}{
		{"misparsed", "Proxy func returns what httpproxy makes of http://" + user + "proxy.example:99999x (host \"http:\", the credentials in the path)",
			"http://http://" + user + "proxy.example:99999x"},
		{"http-unreachable", "Proxy func returns http://" + user + "<closed loopback port>", "http://" + user + closed},
		{"socks5-unreachable", "Proxy func returns socks5://" + user + "<closed loopback port>", "socks5://" + user + closed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Client", tc.tried)
			pu, err := url.Parse(tc.proxy)
			if err != nil {
				t.Fatal(err)
			}
			checkProxyDial(t, r, &wsio.DialOptions{Proxy: wsio.ProxyURL(pu)}, &wstest.Dialer{Allow: func(addr string) bool { return addr == closed }}, true)
		})
	}
}
