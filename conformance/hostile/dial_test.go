package hostile

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// What the wsio client is given by a hostile or careless caller: option
// values that would add lines to the request head, and proxy URLs whose
// credentials could surface in an error.

// recordListener is a raw TCP listener on 127.0.0.1 that keeps what each
// accepted connection sent until it ended. It never answers.
type recordListener struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []string // per ended connection, in the order accepted
	done chan struct{}
}

// recordMark is what received's own connection sends.
const recordMark = "END OF TEST"

func startRecordListener(t *testing.T) *recordListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &recordListener{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			// One connection at a time, so got keeps the accept order.
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(nc)
			_ = nc.Close()
			l.mu.Lock()
			l.got = append(l.got, string(b))
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-l.done
	})
	return l
}

// received returns what the connections accepted so far sent. It opens a
// connection that sends recordMark and waits until that one is read: any
// connection opened before the call was accepted, and read to its end,
// first.
func (l *recordListener) received(t *testing.T) []string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", l.ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.WriteString(nc, recordMark)
	_ = nc.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ok := waitFor(10*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if n := len(l.got); n > 0 && l.got[n-1] == recordMark {
			got = l.got[: n-1 : n-1]
			return true
		}
		return false
	})
	if !ok {
		t.Fatal("the listener did not read its mark within 10 s")
	}
	return got
}

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
			l := startRecordListener(t)
			opts := tc.opts
			opts.Proxy = wsio.ProxyURL(nil)
			opts.HandshakeTimeout = time.Second // bounds the wait if the request goes out
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			c, resp, err := wsio.Dial(ctx, "ws://"+l.ln.Addr().String()+"/", &opts)
			took := time.Since(start)
			if c != nil {
				_ = c.Transport().Close()
			}
			got := l.received(t)
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

// secretShown returns the text of err, or of an error it wraps, that shows
// proxySecret (as it is, percent-encoded, or in Basic credentials), or "".
func secretShown(err error) string {
	forms := []string{proxySecret, url.QueryEscape(proxySecret), url.PathEscape(proxySecret),
		base64.StdEncoding.EncodeToString([]byte("user:" + proxySecret))}
	if err == nil {
		return ""
	}
	for _, f := range forms {
		if strings.Contains(err.Error(), f) {
			return err.Error()
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return secretShown(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, w := range u.Unwrap() {
			if s := secretShown(w); s != "" {
				return s
			}
		}
	}
	return ""
}

// refusingDialer is a NetDial that records what it was asked for and
// dials only the address allow (if set).
type refusingDialer struct {
	allow string
	mu    sync.Mutex
	asked []string
}

func (d *refusingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.asked = append(d.asked, addr)
	d.mu.Unlock()
	if d.allow != "" && addr == d.allow {
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
	return nil, fmt.Errorf("the test's dialer refuses %s", addr)
}

func (d *refusingDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

// checkProxyDial runs the Dial of a proxy row with d as NetDial: it must
// fail with ErrProxy, no error in the chain may show the password, and
// unless mayDial, nothing may be dialed.
func checkProxyDial(t *testing.T, r *row, o *wsio.DialOptions, d *refusingDialer, mayDial bool) {
	t.Helper()
	o.NetDial = d.dial
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, "ws://192.0.2.1:9/", o) // never reached: d dials loopback at most
	if c != nil {
		_ = c.Transport().Close()
	}
	if s := secretShown(err); s != "" {
		bug(t, r, "the error shows the proxy password: %q", s)
	}
	dialed := "nothing"
	if a := d.dialed(); len(a) > 0 {
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
	for _, v := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(v, "")
	}
	value := "http://user:" + proxySecret + "@proxy.example:99999x"
	t.Setenv("HTTP_PROXY", value)
	r := record(t, "Client", "HTTP_PROXY="+value+" (a port that does not parse), Dial of a ws:// URL with no Proxy set")
	checkProxyDial(t, r, &wsio.DialOptions{}, &refusingDialer{}, false)
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
			checkProxyDial(t, r, &wsio.DialOptions{Proxy: wsio.ProxyURL(pu)}, &refusingDialer{allow: closed}, true)
		})
	}
}
