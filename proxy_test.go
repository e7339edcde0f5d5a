//go:build !js

package wsio

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
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
	"sync"
	"testing"
	"time"
)

// The proxy tests run real proxy servers from Debian packages on
// 127.0.0.1: tinyproxy (HTTP CONNECT) and microsocks (SOCKS5). A missing
// one is installed once per test binary by testdata/proxies.sh (apt-get);
// one that is still missing fails the test, unless WSIO_SKIP_PEERS=1,
// which skips it. The https:// proxy is tinyproxy behind a small
// TLS-terminating forwarder written here, since tinyproxy's listener
// speaks no TLS.
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
	proxyInstallOnce sync.Once
	proxyInstallErr  error
)

// requireProxyServers makes sure tinyproxy and microsocks are installed,
// running testdata/proxies.sh once when they are not.
func requireProxyServers(t *testing.T) {
	t.Helper()
	if os.Getenv("WSIO_SKIP_PEERS") == "1" {
		t.Skip("WSIO_SKIP_PEERS=1: proxy tests with tinyproxy and microsocks skipped")
	}
	missing := func() []string {
		var m []string
		for _, p := range []string{"tinyproxy", "microsocks"} {
			if _, err := exec.LookPath(p); err != nil {
				m = append(m, p)
			}
		}
		return m
	}
	if len(missing()) == 0 {
		return
	}
	proxyInstallOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "bash", filepath.Join("testdata", "proxies.sh")).CombinedOutput()
		if err != nil {
			proxyInstallErr = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	})
	if m := missing(); len(m) > 0 {
		t.Fatalf("proxy servers missing: %s (testdata/proxies.sh: %v); install the Debian packages "+
			"tinyproxy and microsocks, or set WSIO_SKIP_PEERS=1 to skip the proxy tests",
			strings.Join(m, ", "), proxyInstallErr)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon runs the command argv(port) on a free port of 127.0.0.1,
// waits until the port accepts connections and returns its address. The
// process is killed and reaped at the end of the test.
func startDaemon(t *testing.T, name string, argv func(port int) []string) string {
	t.Helper()
	var lastLog string
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
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
	requireProxyServers(t)
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
	requireProxyServers(t)
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

func startEchoServer(t *testing.T, useTLS bool) *echoServer {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		echo(c)
		c.closeTransport()
	}))
	scheme := "ws"
	if useTLS {
		srv.StartTLS()
		scheme = "wss"
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	return &echoServer{srv: srv, url: fmt.Sprintf("%s://127.0.0.1:%d/echo", scheme, port), port: port}
}

// serveConns accepts connections on 127.0.0.1 and runs handle on each,
// in its own goroutine; at the end of the test it stops accepting, closes
// every connection and waits for the handlers. It returns the address.
func serveConns(t *testing.T, ln net.Listener, handle func(c net.Conn)) string {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		done  bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if done {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		done = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
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
	return serveConns(t, ln, func(c net.Conn) {
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
func dialVia(t *testing.T, url string, o *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, resp, err := Dial(ctx, url, o)
	if err != nil {
		status := ""
		if resp != nil {
			status = " (response " + resp.Status + ")"
		}
		t.Fatalf("Dial %s: %v%s", url, err, status)
	}
	t.Cleanup(func() { c.closeTransport() })
	return c
}

// checkEcho sends a text message and a 1 MiB binary message and expects
// both back unchanged, then closes the connection cleanly.
func checkEcho(t *testing.T, c *Conn) {
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
	if m.Kind != Text || m.Text != text {
		t.Fatalf("echoed %v %q, want text %q", m.Kind, m.Text, text)
	}

	data := make([]byte, 1<<20)
	_, _ = crand.Read(data)
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
	if m.Kind != Binary || !bytes.Equal(got, data) {
		t.Fatalf("echoed %v of %d bytes, want the same %d binary bytes", m.Kind, len(got), len(data))
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// mappedDial is a NetDial that records each address it is asked for and
// dials the address that names maps it to (or the address itself).
type mappedDial struct {
	mu    sync.Mutex
	names map[string]string
	asked []string
}

func (m *mappedDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	m.mu.Lock()
	m.asked = append(m.asked, addr)
	if to, ok := m.names[addr]; ok {
		addr = to
	}
	m.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (m *mappedDial) dialed() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.asked...)
}

// loopbackOnly is a NetDial that dials 127.0.0.1 only, for tests whose
// target address must never be dialed.
func loopbackOnly(ctx context.Context, network, addr string) (net.Conn, error) {
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		return nil, fmt.Errorf("test refuses to dial %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// clearProxyEnv empties every variable ProxyFromEnvironment reads.
func clearProxyEnv(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
		"ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		t.Setenv(k, "")
	}
}

func TestProxyHTTPConnect(t *testing.T) {
	ws := startEchoServer(t, false)
	wss := startEchoServer(t, true)
	tp := startTinyproxy(t, []int{ws.port, wss.port}, "", "")

	t.Run("ws", func(t *testing.T) {
		var got *url.URL
		c := dialVia(t, ws.url, &DialOptions{Proxy: func(u *url.URL) (*url.URL, error) {
			got = u
			return url.Parse("http://" + tp)
		}})
		if got == nil || got.String() != ws.url {
			t.Errorf("Proxy was given %v, want %s", got, ws.url)
		}
		checkEcho(t, c)
	})
	t.Run("wss", func(t *testing.T) {
		c := dialVia(t, wss.url, &DialOptions{
			Proxy:     ProxyURL(mustURL(t, "http://"+tp)),
			TLSConfig: wss.clientTLS(),
		})
		if _, ok := c.Transport().(*tls.Conn); !ok {
			t.Errorf("wss through CONNECT: the stream is %T, want *tls.Conn", c.Transport())
		}
		checkEcho(t, c)
	})
	t.Run("NetDial reaches the proxy", func(t *testing.T) {
		// The proxy's name exists only in NetDial's map.
		md := &mappedDial{names: map[string]string{"proxy.test:3128": tp}}
		c := dialVia(t, ws.url, &DialOptions{
			Proxy:   ProxyURL(mustURL(t, "http://proxy.test:3128")),
			NetDial: md.dial,
		})
		if d := md.dialed(); len(d) != 1 || d[0] != "proxy.test:3128" {
			t.Errorf("NetDial was asked for %v, want [proxy.test:3128]", d)
		}
		checkEcho(t, c)
	})
	t.Run("403 for a port the proxy refuses", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		other := freePort(t)
		c, resp, err := Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", other), &DialOptions{
			Proxy: ProxyURL(mustURL(t, "http://"+tp)),
		})
		if c != nil {
			c.closeTransport()
			t.Fatal("Dial succeeded through a refusing proxy")
		}
		if !errors.Is(err, ErrProxy) || !strings.Contains(err.Error(), "403") {
			t.Fatalf("err = %v, want ErrProxy with the 403 status line", err)
		}
		if errors.Is(err, ErrBadHandshake) {
			t.Errorf("a proxy refusal matches ErrBadHandshake: %v", err)
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
			c, resp, err := Dial(ctx, ws.url, &DialOptions{
				Proxy: ProxyURL(mustURL(t, "http://"+tc.userinfo+tp)),
			})
			if c != nil {
				c.closeTransport()
				t.Fatal("Dial succeeded without valid proxy credentials")
			}
			line := fmt.Sprintf("%d %s", tc.status, http.StatusText(tc.status))
			if !errors.Is(err, ErrProxy) || !strings.HasSuffix(err.Error(), " with "+line) {
				t.Fatalf("err = %v, want ErrProxy ending with the status line %q", err, line)
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
		checkEcho(t, dialVia(t, ws.url, &DialOptions{
			Proxy: ProxyURL(mustURL(t, "http://user:s3cret@"+tp)),
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
			c := dialVia(t, target.url, &DialOptions{Proxy: ProxyURL(proxyURL), TLSConfig: wss.clientTLS()})
			checkEcho(t, c)
		})
	}
	t.Run("untrusted proxy certificate", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := Dial(ctx, ws.url, &DialOptions{Proxy: ProxyURL(proxyURL)})
		var uerr x509.UnknownAuthorityError
		if !errors.Is(err, ErrProxy) || !errors.As(err, &uerr) {
			t.Fatalf("err = %v, want ErrProxy for an unknown certificate authority", err)
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
					checkEcho(t, dialVia(t, target.url, &DialOptions{
						Proxy:     ProxyURL(mustURL(t, scheme+"://"+ms)),
						TLSConfig: wss.clientTLS(),
					}))
				})
			}
		}
		t.Run("NetDial reaches the proxy", func(t *testing.T) {
			md := &mappedDial{names: map[string]string{"socks.test:1080": ms}}
			checkEcho(t, dialVia(t, ws.url, &DialOptions{
				Proxy:   ProxyURL(mustURL(t, "socks5://socks.test")),
				NetDial: md.dial,
			}))
			if d := md.dialed(); len(d) != 1 || d[0] != "socks.test:1080" {
				t.Errorf("NetDial was asked for %v, want [socks.test:1080]", d)
			}
		})
	})

	t.Run("auth", func(t *testing.T) {
		ms := startMicrosocks(t, "sockuser", "sockpass")
		for _, target := range []*echoServer{ws, wss} {
			t.Run(strings.SplitN(target.url, ":", 2)[0], func(t *testing.T) {
				checkEcho(t, dialVia(t, target.url, &DialOptions{
					Proxy:     ProxyURL(mustURL(t, "socks5h://sockuser:sockpass@"+ms)),
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
				c, resp, err := Dial(ctx, ws.url, &DialOptions{
					Proxy: ProxyURL(mustURL(t, "socks5://"+tc.userinfo+ms)),
				})
				if c != nil {
					c.closeTransport()
					t.Fatal("Dial succeeded without valid SOCKS5 credentials")
				}
				if resp != nil {
					t.Errorf("a SOCKS5 failure returned an HTTP response: %+v", resp)
				}
				if !errors.Is(err, ErrProxy) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want ErrProxy mentioning %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "nope") {
					t.Errorf("the error shows the proxy password: %v", err)
				}
			})
		}
	})
}

// TestProxyEnvironmentDial checks that Dial consults the environment by
// default, and that ProxyURL(nil) and NO_PROXY make it connect directly.
func TestProxyEnvironmentDial(t *testing.T) {
	ws := startEchoServer(t, false)
	tp := startTinyproxy(t, []int{ws.port}, "envuser", "envpass")
	// "127.1" is proxied by the environment rules; see the comment at the
	// top of this file.
	target := fmt.Sprintf("ws://127.1:%d/echo", ws.port)
	direct := map[string]string{fmt.Sprintf("127.1:%d", ws.port): fmt.Sprintf("127.0.0.1:%d", ws.port)}

	t.Run("HTTP_PROXY without credentials", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, resp, err := Dial(ctx, target, nil)
		if !errors.Is(err, ErrProxy) || resp == nil || resp.StatusCode != http.StatusProxyAuthRequired {
			t.Fatalf("err = %v, resp = %v: want the env proxy's 407", err, resp)
		}
	})
	t.Run("HTTP_PROXY with credentials", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://envuser:envpass@"+tp)
		checkEcho(t, dialVia(t, target, nil))
	})
	t.Run("host:port in http_proxy", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://127.0.0.1:1") // the lowercase one wins
		t.Setenv("http_proxy", "envuser:envpass@"+tp)
		checkEcho(t, dialVia(t, target, &DialOptions{}))
	})
	t.Run("loopback is never proxied", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp) // would answer 407
		checkEcho(t, dialVia(t, ws.url, nil))
	})
	t.Run("ProxyURL(nil) forces direct", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp)
		md := &mappedDial{names: direct}
		checkEcho(t, dialVia(t, target, &DialOptions{Proxy: ProxyURL(nil), NetDial: md.dial}))
		if d := md.dialed(); len(d) != 1 || d[0] != fmt.Sprintf("127.1:%d", ws.port) {
			t.Errorf("NetDial was asked for %v, want the target itself", d)
		}
	})
	t.Run("NO_PROXY", func(t *testing.T) {
		clearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+tp)
		t.Setenv("NO_PROXY", "example.com, 127.1")
		md := &mappedDial{names: direct}
		checkEcho(t, dialVia(t, target, &DialOptions{NetDial: md.dial}))
		if d := md.dialed(); len(d) != 1 || d[0] != fmt.Sprintf("127.1:%d", ws.port) {
			t.Errorf("NetDial was asked for %v, want the target itself", d)
		}
	})
	t.Run("ALL_PROXY socks5h", func(t *testing.T) {
		ms := startMicrosocks(t, "", "")
		clearProxyEnv(t)
		t.Setenv("ALL_PROXY", "socks5h://"+ms)
		checkEcho(t, dialVia(t, target, nil))
	})
	t.Run("bad proxy URL from Proxy", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range []string{"ftp://" + tp, "http:///nohost"} {
			_, _, err := Dial(ctx, target, &DialOptions{Proxy: ProxyURL(mustURL(t, p))})
			if !errors.Is(err, ErrProxy) {
				t.Errorf("proxy %s: err = %v, want ErrProxy", p, err)
			}
		}
		boom := errors.New("boom")
		_, _, err := Dial(ctx, target, &DialOptions{Proxy: func(*url.URL) (*url.URL, error) { return nil, boom }})
		if !errors.Is(err, ErrProxy) || !errors.Is(err, boom) {
			t.Errorf("err = %v, want ErrProxy wrapping the Proxy func's error", err)
		}
	})
}

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
			clearProxyEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			u := mustURL(t, tc.url)
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
	u := mustURL(t, "socks5://p.example:1080")
	if got, err := ProxyURL(u)(mustURL(t, "ws://x/")); got != u || err != nil {
		t.Errorf("ProxyURL(u) = %v, %v", got, err)
	}
	if got, err := ProxyURL(nil)(mustURL(t, "ws://x/")); got != nil || err != nil {
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
	silent := serveConns(t, ln, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	for _, scheme := range []string{"http", "https", "socks5"} {
		t.Run(scheme, func(t *testing.T) {
			start := time.Now()
			_, _, err := Dial(context.Background(), "ws://192.0.2.1:9/", &DialOptions{
				Proxy:            ProxyURL(mustURL(t, scheme+"://"+silent)),
				HandshakeTimeout: 300 * time.Millisecond,
				NetDial:          loopbackOnly,
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
			Proxy:   ProxyURL(mustURL(t, "http://"+silent)),
			NetDial: loopbackOnly,
		})
		if !errors.Is(err, ErrProxy) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrProxy and context.Canceled", err)
		}
	})
	t.Run("unreachable proxy", func(t *testing.T) {
		port := freePort(t) // nothing listens there now
		_, _, err := Dial(context.Background(), "ws://192.0.2.1:9/", &DialOptions{
			Proxy:   ProxyURL(mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", port))),
			NetDial: loopbackOnly,
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
	addr := serveConns(t, ln, func(c net.Conn) {
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
	pu := mustURL(t, "http://al%20ice:p%3Ass@"+addr)
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
// Basic Proxy-Authorization.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	forms := []string{proxySecret, url.QueryEscape(proxySecret), url.PathEscape(proxySecret),
		base64.StdEncoding.EncodeToString([]byte("user:" + proxySecret))}
	var walk func(e error)
	walk = func(e error) {
		if e == nil {
			return
		}
		for _, f := range forms {
			if strings.Contains(e.Error(), f) {
				t.Errorf("error text shows the proxy password (%q) in %q (%T)", f, e.Error(), e)
				break
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
}

// refuseDial is a NetDial that records the addresses it is asked for and
// dials none of them.
type refuseDial struct {
	mu    sync.Mutex
	asked []string
}

func (d *refuseDial) dial(_ context.Context, _, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.asked = append(d.asked, addr)
	d.mu.Unlock()
	return nil, fmt.Errorf("test refuses to dial %s", addr)
}

func (d *refuseDial) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
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
			clearProxyEnv(t)
			t.Setenv(tc.variable, tc.value)

			pu, err := ProxyFromEnvironment(mustURL(t, tc.target))
			if pu != nil || !errors.Is(err, ErrProxy) || !strings.Contains(fmt.Sprint(err), tc.variable) {
				t.Errorf("ProxyFromEnvironment = %v, %v; want an error matching ErrProxy that names %s", pu, err, tc.variable)
			}
			checkNoSecret(t, err)

			nd := &refuseDial{}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, tc.target, &DialOptions{NetDial: nd.dial})
			if c != nil || resp != nil || !errors.Is(err, ErrProxy) {
				t.Errorf("Dial = %v, %v, %v; want an error matching ErrProxy", c, resp, err)
			}
			if err != nil && strings.Count(err.Error(), "websocket: ") != 1 {
				t.Errorf("error text %q: want one \"websocket: \" prefix", err)
			}
			checkNoSecret(t, err)
			if d := nd.dialed(); len(d) > 0 {
				t.Errorf("Dial dialed %q; want no dial with a malformed proxy variable", d)
			}
		})
	}
	t.Run("not used", func(t *testing.T) {
		// A malformed variable that does not apply to the URL is no error.
		clearProxyEnv(t)
		t.Setenv("HTTP_PROXY", "http://"+bad)
		t.Setenv("NO_PROXY", "example.com")
		for _, target := range []string{"ws://127.0.0.1:9/", "ws://localhost/", "ws://example.com/", "wss://192.0.2.1/"} {
			if pu, err := ProxyFromEnvironment(mustURL(t, target)); pu != nil || err != nil {
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
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := serveConns(t, ln, func(c net.Conn) {
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
			pu := mustURL(t, tc.proxy)
			c, _, err := Dial(ctx, "ws://192.0.2.1:9/", &DialOptions{
				Proxy:   func(*url.URL) (*url.URL, error) { return pu, nil },
				NetDial: loopbackOnly,
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
