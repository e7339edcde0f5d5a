//go:build !js

package wsio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/internal/wstest"
)

// The proxy tests here need no proxy server but the scripted or silent
// ones they write in Go; the tests that dial through real proxies
// (tinyproxy, microsocks) are in the conformance module, at
// conformance/interop/proxy_test.go.

func TestProxyFromEnvironment(t *testing.T) {
	type env map[string]string
	const (
		hp = "http://hp.example:3128"
		sp = "https://sp.example:8443"
		ap = "socks5h://ap.example:1080"
	)
	for _, tc := range []struct {
		name    string
		env     env
		url     string
		want    string // "" = direct
		wantErr bool
	}{
		{"nothing set, ws", env{}, "ws://example.com/", "", false},
		{"nothing set, wss", env{}, "wss://example.com/", "", false},
		{"HTTP_PROXY for ws", env{"HTTP_PROXY": hp}, "ws://example.com/chat", hp, false},
		{"HTTP_PROXY for http", env{"HTTP_PROXY": hp}, "http://example.com/chat", hp, false},
		{"HTTP_PROXY not for wss", env{"HTTP_PROXY": hp}, "wss://example.com/", "", false},
		{"HTTPS_PROXY for wss", env{"HTTPS_PROXY": sp}, "wss://example.com/", sp, false},
		{"HTTPS_PROXY for https", env{"HTTPS_PROXY": sp}, "https://example.com/", sp, false},
		{"HTTPS_PROXY not for ws", env{"HTTPS_PROXY": sp}, "ws://example.com/", "", false},
		{"both, ws", env{"HTTP_PROXY": hp, "HTTPS_PROXY": sp}, "ws://example.com/", hp, false},
		{"both, wss", env{"HTTP_PROXY": hp, "HTTPS_PROXY": sp}, "wss://example.com/", sp, false},
		{"lowercase wins", env{"HTTP_PROXY": hp, "http_proxy": "http://lower.example:1"}, "ws://example.com/", "http://lower.example:1", false},
		{"lowercase https_proxy", env{"https_proxy": sp}, "wss://example.com/", sp, false},
		{"no scheme means http", env{"HTTP_PROXY": "hp.example:3128"}, "ws://example.com/", "http://hp.example:3128", false},
		{"credentials kept", env{"HTTPS_PROXY": "http://u:p@hp.example:3128"}, "wss://example.com/", "http://u:p@hp.example:3128", false},
		{"ALL_PROXY for ws", env{"ALL_PROXY": ap}, "ws://example.com/", ap, false},
		{"ALL_PROXY for wss", env{"ALL_PROXY": ap}, "wss://example.com/", ap, false},
		{"all_proxy lowercase", env{"all_proxy": ap, "ALL_PROXY": "socks5://other:1"}, "ws://example.com/", ap, false},
		{"HTTP_PROXY before ALL_PROXY", env{"HTTP_PROXY": hp, "ALL_PROXY": ap}, "ws://example.com/", hp, false},
		{"ALL_PROXY fills in for wss", env{"HTTP_PROXY": hp, "ALL_PROXY": ap}, "wss://example.com/", ap, false},
		{"NO_PROXY domain", env{"HTTP_PROXY": hp, "NO_PROXY": "example.com"}, "ws://example.com/", "", false},
		{"NO_PROXY domain matches subdomains", env{"HTTP_PROXY": hp, "NO_PROXY": "example.com"}, "ws://a.b.example.com/", "", false},
		{"NO_PROXY other domain", env{"HTTP_PROXY": hp, "NO_PROXY": "example.com"}, "ws://example.org/", hp, false},
		{"NO_PROXY not a suffix match", env{"HTTP_PROXY": hp, "NO_PROXY": "example.com"}, "ws://notexample.com/", hp, false},
		{"NO_PROXY leading dot: subdomains only", env{"HTTP_PROXY": hp, "NO_PROXY": ".example.com"}, "ws://example.com/", hp, false},
		{"NO_PROXY leading dot: subdomain", env{"HTTP_PROXY": hp, "NO_PROXY": ".example.com"}, "ws://x.example.com/", "", false},
		{"NO_PROXY list with spaces", env{"HTTP_PROXY": hp, "NO_PROXY": "foo.org, example.com ,bar.net"}, "ws://example.com/", "", false},
		{"no_proxy lowercase", env{"HTTP_PROXY": hp, "no_proxy": "example.com"}, "ws://example.com/", "", false},
		{"NO_PROXY star", env{"HTTPS_PROXY": sp, "NO_PROXY": "*"}, "wss://anything.example/", "", false},
		{"NO_PROXY with port, same port", env{"HTTP_PROXY": hp, "NO_PROXY": "example.com:8080"}, "ws://example.com:8080/", "", false},
		{"NO_PROXY with port, other port", env{"HTTP_PROXY": hp, "NO_PROXY": "example.com:8080"}, "ws://example.com/", hp, false},
		{"NO_PROXY port 443 for wss", env{"HTTPS_PROXY": sp, "NO_PROXY": "example.com:443"}, "wss://example.com/", "", false},
		{"NO_PROXY port 80 for ws", env{"HTTP_PROXY": hp, "NO_PROXY": "example.com:80"}, "ws://example.com/", "", false},
		{"NO_PROXY CIDR inside", env{"HTTP_PROXY": hp, "NO_PROXY": "10.0.0.0/8"}, "ws://10.1.2.3:9000/", "", false},
		{"NO_PROXY CIDR outside", env{"HTTP_PROXY": hp, "NO_PROXY": "10.0.0.0/8"}, "ws://11.1.2.3:9000/", hp, false},
		{"NO_PROXY IP", env{"HTTP_PROXY": hp, "NO_PROXY": "192.0.2.7"}, "ws://192.0.2.7/", "", false},
		{"NO_PROXY IPv6", env{"HTTP_PROXY": hp, "NO_PROXY": "2001:db8::1"}, "ws://[2001:db8::1]:80/", "", false},
		{"NO_PROXY applies to ALL_PROXY", env{"ALL_PROXY": ap, "NO_PROXY": "example.com"}, "wss://example.com/", "", false},
		{"localhost never proxied", env{"HTTP_PROXY": hp}, "ws://localhost:8080/", "", false},
		{"127.0.0.1 never proxied", env{"HTTPS_PROXY": sp}, "wss://127.0.0.1/", "", false},
		{"127.0.0.2 never proxied", env{"ALL_PROXY": ap}, "ws://127.0.0.2:1/", "", false},
		{"::1 never proxied", env{"HTTP_PROXY": hp}, "ws://[::1]:8080/", "", false},
		{"127.1 is not seen as loopback", env{"HTTP_PROXY": hp}, "ws://127.1:8080/", hp, false},
		{"CGI refuses HTTP_PROXY", env{"HTTP_PROXY": hp, "REQUEST_METHOD": "GET"}, "ws://example.com/", "", true},
		{"CGI allows HTTPS_PROXY", env{"HTTPS_PROXY": sp, "REQUEST_METHOD": "GET"}, "wss://example.com/", sp, false},
		{"other scheme", env{"HTTP_PROXY": hp, "ALL_PROXY": ap}, "ftp://example.com/", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wstest.ClearProxyEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			u := wstest.ParseURL(t, tc.url)
			before := u.String()
			got, err := ProxyFromEnvironment(u)
			if u.String() != before {
				t.Errorf("ProxyFromEnvironment changed its argument to %s", u)
			}
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			gs := ""
			if got != nil {
				gs = got.String()
			}
			if gs != tc.want {
				t.Fatalf("got %q, want %q", gs, tc.want)
			}
		})
	}
}

func TestProxyURLFunc(t *testing.T) {
	u := wstest.ParseURL(t, "socks5://p.example:1080")
	if got, err := ProxyURL(u)(wstest.ParseURL(t, "ws://x/")); got != u || err != nil {
		t.Errorf("ProxyURL(u) = %v, %v", got, err)
	}
	if got, err := ProxyURL(nil)(wstest.ParseURL(t, "ws://x/")); got != nil || err != nil {
		t.Errorf("ProxyURL(nil) = %v, %v", got, err)
	}
}

// TestProxyTimeout checks that HandshakeTimeout bounds a proxy that
// accepts the connection and then says nothing.
func TestProxyTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := wstest.ServeConns(t, ln, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	for _, scheme := range []string{"http", "https", "socks5"} {
		t.Run(scheme, func(t *testing.T) {
			start := time.Now()
			_, _, err := Dial(context.Background(), "ws://192.0.2.1:9/", &DialOptions{
				Proxy:            ProxyURL(wstest.ParseURL(t, scheme+"://"+silent)),
				HandshakeTimeout: 300 * time.Millisecond,
				NetDial:          wstest.LoopbackOnly,
			})
			if !errors.Is(err, ErrProxy) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want ErrProxy and context.DeadlineExceeded", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("Dial took %v with a 300 ms handshake timeout", el)
			}
		})
	}
	t.Run("ctx cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, _, err := Dial(ctx, "ws://192.0.2.1:9/", &DialOptions{
			Proxy:   ProxyURL(wstest.ParseURL(t, "http://"+silent)),
			NetDial: wstest.LoopbackOnly,
		})
		if !errors.Is(err, ErrProxy) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrProxy and context.Canceled", err)
		}
	})
	t.Run("unreachable proxy", func(t *testing.T) {
		port := wstest.FreePort(t) // nothing listens there now
		_, _, err := Dial(context.Background(), "ws://192.0.2.1:9/", &DialOptions{
			Proxy:   ProxyURL(wstest.ParseURL(t, fmt.Sprintf("http://127.0.0.1:%d", port))),
			NetDial: wstest.LoopbackOnly,
		})
		if !errors.Is(err, ErrProxy) {
			t.Fatalf("err = %v, want ErrProxy", err)
		}
	})
}

// TestProxyConnectExchange checks the CONNECT request the client writes
// and that bytes the proxy sends right after its 200 head reach the
// tunnel's reader, against a scripted proxy.
func TestProxyConnectExchange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	heads := make(chan string, 1)
	addr := wstest.ServeConns(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		head, err := readHTTPHead(br)
		heads <- head
		if err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\nearly tunnel bytes")
		_, _ = io.Copy(c, br) // then echo
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pu := wstest.ParseURL(t, "http://al%20ice:p%3Ass@"+addr)
	nc, resp, err := dialProxy(ctx, pu, "target.example:443", &DialOptions{})
	if err != nil || resp != nil {
		t.Fatalf("dialProxy: %v, %v", err, resp)
	}
	defer nc.Close()
	want := "CONNECT target.example:443 HTTP/1.1\r\nHost: target.example:443\r\n" +
		"Proxy-Authorization: Basic YWwgaWNlOnA6c3M=\r\n\r\n" // "al ice:p:ss"
	if got := <-heads; got != want {
		t.Errorf("request head:\n%q\nwant\n%q", got, want)
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, len("early tunnel bytes"))
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "early tunnel bytes" {
		t.Fatalf("read %q, %v; want the bytes after the head", buf, err)
	}
	if _, err := io.WriteString(nc, "ping"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(nc, buf[:4]); err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("echo %q, %v", buf[:4], err)
	}
}

// proxySecret is the password of the proxy URLs below; no error may show
// it, in any form.
const proxySecret = "s3cret"

// checkNoSecret fails the test if the text of err, or of any error it
// wraps, shows proxySecret: as it is, percent-encoded or in the base64 of
// Basic Proxy-Authorization (wstest.SecretShown).
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if s := wstest.SecretShown(err, "user", proxySecret); s != "" {
		t.Errorf("error text shows the proxy password: %q", s)
	}
}

// TestProxyEnvMalformedURL: a proxy variable that names a scheme but does
// not parse is refused when it would be used, with an error that names
// the variable and shows nothing of its value. (httpproxy would read
// "http://user:pass@host:99999x" as the host "http:" and a path holding
// the credentials.) Not parallel: it sets the environment.
func TestProxyEnvMalformedURL(t *testing.T) {
	bad := "user:" + proxySecret + "@proxy.example:99999x"
	for _, tc := range []struct {
		name, variable, value, target string
	}{
		{"HTTP_PROXY", "HTTP_PROXY", "http://" + bad, "ws://192.0.2.1:9/"},
		{"http_proxy", "http_proxy", "http://" + bad, "ws://192.0.2.1:9/"},
		{"HTTPS_PROXY", "HTTPS_PROXY", "https://" + bad, "wss://192.0.2.1:9/"},
		{"https_proxy socks5", "https_proxy", "socks5://" + bad, "wss://192.0.2.1:9/"},
		{"ALL_PROXY", "ALL_PROXY", "socks5h://" + bad, "ws://192.0.2.1:9/"},
		{"no host", "HTTP_PROXY", "http:///user:" + proxySecret + "@proxy.example", "ws://192.0.2.1:9/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wstest.ClearProxyEnv(t)
			t.Setenv(tc.variable, tc.value)

			pu, err := ProxyFromEnvironment(wstest.ParseURL(t, tc.target))
			if pu != nil || !errors.Is(err, ErrProxy) || !strings.Contains(fmt.Sprint(err), tc.variable) {
				t.Errorf("ProxyFromEnvironment = %v, %v; want an error matching ErrProxy that names %s", pu, err, tc.variable)
			}
			checkNoSecret(t, err)

			nd := &wstest.Dialer{Allow: wstest.Nowhere}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, tc.target, &DialOptions{NetDial: nd.Dial})
			if c != nil || resp != nil || !errors.Is(err, ErrProxy) {
				t.Errorf("Dial = %v, %v, %v; want an error matching ErrProxy", c, resp, err)
			}
			if err != nil && strings.Count(err.Error(), "websocket: ") != 1 {
				t.Errorf("error text %q: want one \"websocket: \" prefix", err)
			}
			checkNoSecret(t, err)
			if d := nd.Dialed(); len(d) > 0 {
				t.Errorf("Dial dialed %q; want no dial with a malformed proxy variable", d)
			}
		})
	}
	t.Run("not used", func(t *testing.T) {
		// A malformed variable that does not apply to the URL is no error.
		wstest.ClearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+bad)
		t.Setenv("NO_PROXY", "example.com")
		for _, target := range []string{"ws://127.0.0.1:9/", "ws://localhost/", "ws://example.com/", "wss://192.0.2.1/"} {
			if pu, err := ProxyFromEnvironment(wstest.ParseURL(t, target)); pu != nil || err != nil {
				t.Errorf("%s: ProxyFromEnvironment = %v, %v; want nil, nil", target, pu, err)
			}
		}
	})
}

// TestProxyErrorsHideCredentials: whatever a proxy URL holds (user info,
// or credentials a mistyped URL left in its path), the errors of a dial
// through it show none of it.
func TestProxyErrorsHideCredentials(t *testing.T) {
	t.Parallel()
	closed := fmt.Sprintf("127.0.0.1:%d", wstest.FreePort(t)) // nothing listens there now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := wstest.ServeConns(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := readHTTPHead(bufio.NewReader(c)); err == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
		}
	})
	user := "user:" + proxySecret + "@"
	for _, tc := range []struct {
		name, proxy string
	}{
		// What httpproxy makes of HTTP_PROXY=http://user:s3cret@proxy.example:99999x.
		{"credentials in the path", "http://http://" + user + "proxy.example:99999x"},
		{"credentials in the query", "http://" + closed + "/?password=" + proxySecret},
		{"credentials in the fragment", "http://" + closed + "/#" + proxySecret},
		{"http, unreachable", "http://" + user + closed},
		{"https, unreachable", "https://" + user + closed},
		{"socks5, unreachable", "socks5://" + user + closed},
		{"socks5h, unreachable", "socks5h://" + user + closed},
		{"http, 407", "http://" + user + refusing},
		{"unsupported scheme", "ftp://" + user + closed},
		{"no host", "http://" + user},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pu := wstest.ParseURL(t, tc.proxy)
			c, _, err := Dial(ctx, "ws://192.0.2.1:9/", &DialOptions{
				Proxy:   func(*url.URL) (*url.URL, error) { return pu, nil },
				NetDial: wstest.LoopbackOnly,
			})
			if c != nil || !errors.Is(err, ErrProxy) {
				t.Fatalf("Dial = %v, %v; want an error matching ErrProxy", c, err)
			}
			if strings.Count(err.Error(), "websocket: ") != 1 {
				t.Errorf("error text %q: want one \"websocket: \" prefix", err)
			}
			checkNoSecret(t, err)
		})
	}
}
