package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wsio/wsio"
)

// connectProxy is a minimal HTTP CONNECT proxy that wants the Basic
// credentials user:secret and records the tunnels it opened.
type connectProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	tunnels []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("user:secret")) {
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.tunnels = append(p.tunnels, req.Host)
	p.mu.Unlock()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(up, br) // br: bytes the client sent may already be buffered
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	<-done
}

func echoServer(t *testing.T) string {
	ts := httptest.NewServer(wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		for {
			m, err := c.Next(context.Background())
			if err != nil {
				return
			}
			c.SendText(context.Background(), "echo: "+m.Text)
		}
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/"
}

func TestThroughConnectProxy(t *testing.T) {
	target := echoServer(t)
	p := newConnectProxy(t)
	var out strings.Builder
	err := run(context.Background(), &out, target, "http://user:secret@"+p.ln.Addr().String(), "hi")
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("output:\n%s", out.String())
	for _, want := range []string{
		"proxy    http://" + p.ln.Addr().String(), // neither user nor password is printed
		"response 101 Switching Protocols",
		`received "echo: hi"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "secret") {
		t.Errorf("the output shows the proxy password")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if host := strings.TrimSuffix(strings.TrimPrefix(target, "ws://"), "/"); len(p.tunnels) != 1 || p.tunnels[0] != host {
		t.Errorf("proxy opened tunnels %q, want one to %s", p.tunnels, host)
	}
}

func TestProxyRefuses(t *testing.T) {
	target := echoServer(t)
	p := newConnectProxy(t)
	var out strings.Builder
	err := run(context.Background(), &out, target, "http://"+p.ln.Addr().String(), "hi")
	if err == nil || !strings.Contains(err.Error(), "407") {
		t.Errorf("got error %v, want the proxy's 407", err)
	}
	if !strings.Contains(out.String(), "refused  407 Proxy Authentication Required") {
		t.Errorf("output lacks the refusal:\n%s", out.String())
	}
}

func TestEnvironmentLoopbackIsDirect(t *testing.T) {
	target := echoServer(t)
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1") // nothing listens there
	t.Setenv("http_proxy", "")
	var out strings.Builder
	if err := run(context.Background(), &out, target, "", "hi"); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "none, dialing directly") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestMalformedProxyHidesPassword: a -proxy value that does not parse is
// refused without quoting it, since url.Parse's error would show the
// password.
func TestMalformedProxyHidesPassword(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), &out, "ws://127.0.0.1:1/", "http://user:s3cret@proxy.example:99999x", "hi")
	if err == nil {
		t.Fatal("run accepted a malformed proxy URL")
	}
	if strings.Contains(err.Error()+out.String(), "s3cret") {
		t.Errorf("the password shows: %v\n%s", err, out.String())
	}
}
