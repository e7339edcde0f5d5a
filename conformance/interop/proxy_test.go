package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// The proxy tests dial through real proxy servers from Debian packages,
// run on 127.0.0.1: tinyproxy (HTTP CONNECT) and microsocks (SOCKS5). They
// are peers like the others: peers/install.sh installs a missing one once
// per test binary, and one still missing afterwards fails the test, unless
// WSIO_SKIP_PEERS=1, which skips it. The https:// proxy is tinyproxy
// behind a small TLS-terminating forwarder written here, since tinyproxy's
// listener speaks no TLS. The proxy tests that need no real proxy (a
// scripted or silent one written in Go) are the root package's
// proxy_test.go.
//
// ProxyFromEnvironment never proxies localhost or loopback addresses (the
// rule of net/http and httpproxy), so the tests that go through a proxy
// either give DialOptions.Proxy explicitly or, to exercise the
// environment, dial the host "127.1": httpproxy does not take it for a
// loopback address (it is no canonical IP literal), while the proxy's
// getaddrinfo reads it as 127.0.0.1 without a DNS query. Where such a
// URL is dialed directly, a NetDial maps it to 127.0.0.1, so that Go's
// resolver never looks it up either.

var (
	tinyproxyPeer  = &peer{name: "tinyproxy", check: commandCheck("tinyproxy")}
	microsocksPeer = &peer{name: "microsocks", check: commandCheck("microsocks")}
)

// commandCheck is the check of a peer that is one command on PATH, from
// the Debian package of the same name.
func commandCheck(name string) func() error {
	return func() error {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s is not on PATH (Debian package %s)", name, name)
		}
		return nil
	}
}

// startDaemon runs the command argv(port) on a free port of 127.0.0.1,
// waits until the port accepts connections and returns its address. The
// process is killed and reaped at the end of the test.
func startDaemon(t *testing.T, name string, argv func(port int) []string) string {
	t.Helper()
	var lastLog string
	for attempt := 0; attempt < 3; attempt++ {
		port := wstest.FreePort(t)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		logPath := filepath.Join(t.TempDir(), name+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		args := argv(port)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("starting %s: %v", name, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); logf.Close() }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			select {
			case err := <-exited:
				b, _ := os.ReadFile(logPath)
				lastLog = fmt.Sprintf("%s exited (%v): %s", name, err, bytes.TrimSpace(b))
			default:
				if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					c.Close()
					t.Cleanup(func() {
						_ = cmd.Process.Kill()
						<-exited
					})
					return addr
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					<-exited
					t.Fatalf("%s did not listen on %s within 10 s", name, addr)
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			break
		}
	}
	t.Fatalf("could not start %s: %s", name, lastLog)
	return ""
}

// startTinyproxy runs tinyproxy on 127.0.0.1, allowing CONNECT to the
// given ports only, and requiring Basic credentials user:pass when user
// is set. It returns the proxy's host:port.
func startTinyproxy(t *testing.T, connectPorts []int, user, pass string) string {
	t.Helper()
	requirePeer(t, tinyproxyPeer)
	dir := t.TempDir()
	return startDaemon(t, "tinyproxy", func(port int) []string {
		var b strings.Builder
		fmt.Fprintf(&b, "Port %d\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nMaxClients 50\nLogLevel Info\n", port)
		for _, p := range connectPorts {
			fmt.Fprintf(&b, "ConnectPort %d\n", p)
		}
		if user != "" {
			fmt.Fprintf(&b, "BasicAuth %s %s\n", user, pass)
		}
		cfg := filepath.Join(dir, fmt.Sprintf("tinyproxy-%d.conf", port))
		if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"tinyproxy", "-d", "-c", cfg}
	})
}

// startMicrosocks runs the SOCKS5 server microsocks on 127.0.0.1,
// requiring user:pass when user is set. It returns its host:port.
func startMicrosocks(t *testing.T, user, pass string) string {
	t.Helper()
	requirePeer(t, microsocksPeer)
	return startDaemon(t, "microsocks", func(port int) []string {
		args := []string{"microsocks", "-i", "127.0.0.1", "-p", strconv.Itoa(port)}
		if user != "" {
			args = append(args, "-u", user, "-P", pass)
		}
		return args
	})
}

// echoServer is a WebSocket echo server on 127.0.0.1, plain or TLS.
type echoServer struct {
	srv  *httptest.Server
	url  string // ws:// or wss://
	port int
}

// clientTLS returns a client TLS configuration trusting the server.
func (s *echoServer) clientTLS() *tls.Config {
	return s.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

// startEchoServer starts an echo server (wstest.Echo behind wsio.Accept),
// which the test's cleanup stops.
func startEchoServer(t *testing.T, useTLS bool) *echoServer {
	t.Helper()
	srv := wstest.HTTPServer(t, useTLS, func(w http.ResponseWriter, r *http.Request) {
		c, err := wsio.Accept(w, r, nil)
		if err != nil {
			return
		}
		wstest.Echo(c, func(m wsio.Message) (string, bool) { return m.Text, m.Kind == wsio.Text })
		_ = c.CloseNow()
	})
	scheme := "ws"
	if useTLS {
		scheme = "wss"
	}
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	return &echoServer{srv: srv, url: fmt.Sprintf("%s://127.0.0.1:%d/echo", scheme, port), port: port}
}

// tlsFront is a TLS-terminating forwarder: each TLS connection it accepts
// (with certs) is relayed, decrypted, to backend. Put in front of
// tinyproxy, it makes an https:// proxy.
func tlsFront(t *testing.T, certs []tls.Certificate, backend string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: certs})
	if err != nil {
		t.Fatal(err)
	}
	return wstest.ServeConns(t, ln, func(c net.Conn) {
		b, err := net.DialTimeout("tcp", backend, 5*time.Second)
		if err != nil {
			return
		}
		defer b.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(b, c)
			_ = b.Close() // unblocks the copy below
			close(done)
		}()
		_, _ = io.Copy(c, b)
		_ = c.Close()
		<-done
	})
}

// dialVia dials url with o and fails the test on an error; the connection
// is torn down at the end of the test.
func dialVia(t *testing.T, url string, o *wsio.DialOptions) *wsio.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, resp, err := wsio.Dial(ctx, url, o)
	if err != nil {
		status := ""
		if resp != nil {
			status = " (response " + resp.Status + ")"
		}
		t.Fatalf("Dial %s: %v%s", url, err, status)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// checkEcho sends a text message and a 1 MiB binary message and expects
// both back unchanged, then closes the connection cleanly.
func checkEcho(t *testing.T, c *wsio.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const text = "hello through the proxy ✓"
	if err := c.SendText(ctx, text); err != nil {
		t.Fatalf("SendText: %v", err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if m.Kind != wsio.Text || m.Text != text {
		t.Fatalf("echoed %v %q, want text %q", m.Kind, m.Text, text)
	}

	data := wstest.RandomBytes(1<<20, 1)
	// Send while reading: the echo comes back while the message goes out,
	// and the buffers on the way may hold less than 1 MiB.
	sent := make(chan error, 1)
	go func() { sent <- c.SendBinary(ctx, data) }()
	m, err = c.Next(ctx)
	if err != nil {
		<-sent
		t.Fatalf("Next: %v", err)
	}
	got, rerr := io.ReadAll(m)
	if err := <-sent; err != nil {
		t.Fatalf("SendBinary: %v", err)
	}
	if rerr != nil {
		t.Fatalf("reading the binary echo: %v", rerr)
	}
	if m.Kind != wsio.Binary || !bytes.Equal(got, data) {
		t.Fatalf("echoed %v of %d bytes, want the same %d binary bytes", m.Kind, len(got), len(data))
	}
	if err := c.Close(wsio.StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestProxyHTTPConnect(t *testing.T) {
	ws := startEchoServer(t, false)
	wss := startEchoServer(t, true)
	tp := startTinyproxy(t, []int{ws.port, wss.port}, "", "")

	t.Run("ws", func(t *testing.T) {
		var got *url.URL
		c := dialVia(t, ws.url, &wsio.DialOptions{Proxy: func(u *url.URL) (*url.URL, error) {
			got = u
			return url.Parse("http://" + tp)
		}})
		if got == nil || got.String() != ws.url {
			t.Errorf("Proxy was given %v, want %s", got, ws.url)
		}
		checkEcho(t, c)
	})
	t.Run("wss", func(t *testing.T) {
		c := dialVia(t, wss.url, &wsio.DialOptions{
			Proxy:     wsio.ProxyURL(wstest.ParseURL(t, "http://"+tp)),
			TLSConfig: wss.clientTLS(),
		})
		if _, ok := c.Transport().(*tls.Conn); !ok {
			t.Errorf("wss through CONNECT: the stream is %T, want *tls.Conn", c.Transport())
		}
		checkEcho(t, c)
	})
	t.Run("NetDial reaches the proxy", func(t *testing.T) {
		// The proxy's name exists only in NetDial's map.
		md := &wstest.Dialer{Map: map[string]string{"proxy.test:3128": tp}}
		c := dialVia(t, ws.url, &wsio.DialOptions{
			Proxy:   wsio.ProxyURL(wstest.ParseURL(t, "http://proxy.test:3128")),
			NetDial: md.Dial,
		})
		if d := md.Dialed(); len(d) != 1 || d[0] != "proxy.test:3128" {
			t.Errorf("NetDial was asked for %v, want [proxy.test:3128]", d)
		}
		checkEcho(t, c)
	})
	t.Run("403 for a port the proxy refuses", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		other := wstest.FreePort(t)
		c, resp, err := wsio.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", other), &wsio.DialOptions{
			Proxy: wsio.ProxyURL(wstest.ParseURL(t, "http://"+tp)),
		})
		if c != nil {
			c.CloseNow()
			t.Fatal("Dial succeeded through a refusing proxy")
		}
		if !errors.Is(err, wsio.ErrProxy) || !strings.Contains(err.Error(), "403") {
			t.Fatalf("err = %v, want wsio.ErrProxy with the 403 status line", err)
		}
		if errors.Is(err, wsio.ErrBadHandshake) {
			t.Errorf("a proxy refusal matches wsio.ErrBadHandshake: %v", err)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("resp = %+v, want the proxy's 403", resp)
		}
		body, _ := io.ReadAll(resp.Body)
		if !bytes.Contains(body, []byte("tinyproxy")) {
			t.Errorf("403 body %q does not look like tinyproxy's page", body)
		}
	})
}

func TestProxyHTTPConnectAuth(t *testing.T) {
	ws := startEchoServer(t, false)
	tp := startTinyproxy(t, []int{ws.port}, "user", "s3cret")

	// tinyproxy answers 407 to a CONNECT without credentials but, as of
	// 1.11, 401 Unauthorized (with WWW-Authenticate) to wrong ones.
	for _, tc := range []struct {
		name, userinfo string
		status         int
	}{
		{"no credentials", "", http.StatusProxyAuthRequired},
		{"wrong password", "user:wrong@", http.StatusUnauthorized},
		{"wrong user", "nobody:s3cret@", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := wsio.Dial(ctx, ws.url, &wsio.DialOptions{
				Proxy: wsio.ProxyURL(wstest.ParseURL(t, "http://"+tc.userinfo+tp)),
			})
			if c != nil {
				c.CloseNow()
				t.Fatal("Dial succeeded without valid proxy credentials")
			}
			line := fmt.Sprintf("%d %s", tc.status, http.StatusText(tc.status))
			if !errors.Is(err, wsio.ErrProxy) || !strings.HasSuffix(err.Error(), " with "+line) {
				t.Fatalf("err = %v, want wsio.ErrProxy ending with the status line %q", err, line)
			}
			if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the proxy password: %v", err)
			}
			if resp == nil || resp.StatusCode != tc.status || resp.Status != line {
				t.Fatalf("resp = %+v, want the proxy's %s", resp, line)
			}
			body, _ := io.ReadAll(resp.Body)
			if !bytes.Contains(body, []byte(http.StatusText(tc.status))) {
				t.Errorf("body %q does not carry the proxy's page", body)
			}
		})
	}
	t.Run("right credentials", func(t *testing.T) {
		checkEcho(t, dialVia(t, ws.url, &wsio.DialOptions{
			Proxy: wsio.ProxyURL(wstest.ParseURL(t, "http://user:s3cret@"+tp)),
		}))
	})
}

func TestProxyHTTPS(t *testing.T) {
	ws := startEchoServer(t, false)
	wss := startEchoServer(t, true)
	tp := startTinyproxy(t, []int{ws.port, wss.port}, "user", "pass.word-2")
	// The forwarder serves the httptest certificate (valid for 127.0.0.1),
	// which the client trusts through wss.clientTLS().
	front := tlsFront(t, wss.srv.TLS.Certificates, tp)
	proxyURL := &url.URL{Scheme: "https", Host: front, User: url.UserPassword("user", "pass.word-2")}

	for _, target := range []*echoServer{ws, wss} {
		t.Run(strings.SplitN(target.url, ":", 2)[0], func(t *testing.T) {
			c := dialVia(t, target.url, &wsio.DialOptions{Proxy: wsio.ProxyURL(proxyURL), TLSConfig: wss.clientTLS()})
			checkEcho(t, c)
		})
	}
	t.Run("untrusted proxy certificate", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := wsio.Dial(ctx, ws.url, &wsio.DialOptions{Proxy: wsio.ProxyURL(proxyURL)})
		var uerr x509.UnknownAuthorityError
		if !errors.Is(err, wsio.ErrProxy) || !errors.As(err, &uerr) {
			t.Fatalf("err = %v, want wsio.ErrProxy for an unknown certificate authority", err)
		}
	})
}

func TestProxySOCKS5(t *testing.T) {
	ws := startEchoServer(t, false)
	wss := startEchoServer(t, true)

	t.Run("no auth", func(t *testing.T) {
		ms := startMicrosocks(t, "", "")
		for _, scheme := range []string{"socks5", "socks5h"} {
			for _, target := range []*echoServer{ws, wss} {
				t.Run(scheme+" "+strings.SplitN(target.url, ":", 2)[0], func(t *testing.T) {
					checkEcho(t, dialVia(t, target.url, &wsio.DialOptions{
						Proxy:     wsio.ProxyURL(wstest.ParseURL(t, scheme+"://"+ms)),
						TLSConfig: wss.clientTLS(),
					}))
				})
			}
		}
		t.Run("NetDial reaches the proxy", func(t *testing.T) {
			md := &wstest.Dialer{Map: map[string]string{"socks.test:1080": ms}}
			checkEcho(t, dialVia(t, ws.url, &wsio.DialOptions{
				Proxy:   wsio.ProxyURL(wstest.ParseURL(t, "socks5://socks.test")),
				NetDial: md.Dial,
			}))
			if d := md.Dialed(); len(d) != 1 || d[0] != "socks.test:1080" {
				t.Errorf("NetDial was asked for %v, want [socks.test:1080]", d)
			}
		})
	})

	t.Run("auth", func(t *testing.T) {
		ms := startMicrosocks(t, "sockuser", "sockpass")
		for _, target := range []*echoServer{ws, wss} {
			t.Run(strings.SplitN(target.url, ":", 2)[0], func(t *testing.T) {
				checkEcho(t, dialVia(t, target.url, &wsio.DialOptions{
					Proxy:     wsio.ProxyURL(wstest.ParseURL(t, "socks5h://sockuser:sockpass@"+ms)),
					TLSConfig: wss.clientTLS(),
				}))
			})
		}
		for _, tc := range []struct{ name, userinfo, want string }{
			{"no credentials", "", "no acceptable authentication methods"},
			{"wrong password", "sockuser:nope@", "authentication failed"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, resp, err := wsio.Dial(ctx, ws.url, &wsio.DialOptions{
					Proxy: wsio.ProxyURL(wstest.ParseURL(t, "socks5://"+tc.userinfo+ms)),
				})
				if c != nil {
					c.CloseNow()
					t.Fatal("Dial succeeded without valid SOCKS5 credentials")
				}
				if resp != nil {
					t.Errorf("a SOCKS5 failure returned an HTTP response: %+v", resp)
				}
				if !errors.Is(err, wsio.ErrProxy) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want wsio.ErrProxy mentioning %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "nope") {
					t.Errorf("the error shows the proxy password: %v", err)
				}
			})
		}
	})
}

// TestProxyEnvironmentDial checks that Dial consults the environment by
// default, and that wsio.ProxyURL(nil) and NO_PROXY make it connect directly.
func TestProxyEnvironmentDial(t *testing.T) {
	ws := startEchoServer(t, false)
	tp := startTinyproxy(t, []int{ws.port}, "envuser", "envpass")
	// "127.1" is proxied by the environment rules; see the comment at the
	// top of this file.
	target := fmt.Sprintf("ws://127.1:%d/echo", ws.port)
	direct := map[string]string{fmt.Sprintf("127.1:%d", ws.port): fmt.Sprintf("127.0.0.1:%d", ws.port)}

	t.Run("HTTP_PROXY without credentials", func(t *testing.T) {
		wstest.ClearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, resp, err := wsio.Dial(ctx, target, nil)
		if !errors.Is(err, wsio.ErrProxy) || resp == nil || resp.StatusCode != http.StatusProxyAuthRequired {
			t.Fatalf("err = %v, resp = %v: want the env proxy's 407", err, resp)
		}
	})
	t.Run("HTTP_PROXY with credentials", func(t *testing.T) {
		wstest.ClearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://envuser:envpass@"+tp)
		checkEcho(t, dialVia(t, target, nil))
	})
	t.Run("host:port in http_proxy", func(t *testing.T) {
		wstest.ClearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://127.0.0.1:1") // the lowercase one wins
		t.Setenv("http_proxy", "envuser:envpass@"+tp)
		checkEcho(t, dialVia(t, target, &wsio.DialOptions{}))
	})
	t.Run("loopback is never proxied", func(t *testing.T) {
		wstest.ClearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp) // would answer 407
		checkEcho(t, dialVia(t, ws.url, nil))
	})
	t.Run("wsio.ProxyURL(nil) forces direct", func(t *testing.T) {
		wstest.ClearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp)
		md := &wstest.Dialer{Map: direct}
		checkEcho(t, dialVia(t, target, &wsio.DialOptions{Proxy: wsio.ProxyURL(nil), NetDial: md.Dial}))
		if d := md.Dialed(); len(d) != 1 || d[0] != fmt.Sprintf("127.1:%d", ws.port) {
			t.Errorf("NetDial was asked for %v, want the target itself", d)
		}
	})
	t.Run("NO_PROXY", func(t *testing.T) {
		wstest.ClearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp)
		t.Setenv("NO_PROXY", "example.com, 127.1")
		md := &wstest.Dialer{Map: direct}
		checkEcho(t, dialVia(t, target, &wsio.DialOptions{NetDial: md.Dial}))
		if d := md.Dialed(); len(d) != 1 || d[0] != fmt.Sprintf("127.1:%d", ws.port) {
			t.Errorf("NetDial was asked for %v, want the target itself", d)
		}
	})
	t.Run("ALL_PROXY socks5h", func(t *testing.T) {
		ms := startMicrosocks(t, "", "")
		wstest.ClearProxyEnv(t)
		t.Setenv("ALL_PROXY", "socks5h://"+ms)
		checkEcho(t, dialVia(t, target, nil))
	})
	t.Run("bad proxy URL from Proxy", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range []string{"ftp://" + tp, "http:///nohost"} {
			_, _, err := wsio.Dial(ctx, target, &wsio.DialOptions{Proxy: wsio.ProxyURL(wstest.ParseURL(t, p))})
			if !errors.Is(err, wsio.ErrProxy) {
				t.Errorf("proxy %s: err = %v, want wsio.ErrProxy", p, err)
			}
		}
		boom := errors.New("boom")
		_, _, err := wsio.Dial(ctx, target, &wsio.DialOptions{Proxy: func(*url.URL) (*url.URL, error) { return nil, boom }})
		if !errors.Is(err, wsio.ErrProxy) || !errors.Is(err, boom) {
			t.Errorf("err = %v, want wsio.ErrProxy wrapping the Proxy func's error", err)
		}
	})
}
