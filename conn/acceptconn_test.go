package conn

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// TestAcceptConnKeepsHeadNotRequest checks that a connection accepted by
// AcceptConn holds its request head rather than the parsed request, that
// Request parses it on demand (once, whoever asks first), and that bytes
// the client sent right behind the head are not lost.
func TestAcceptConnKeepsHeadNotRequest(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		c, err := AcceptConn(context.Background(), nc, nil)
		if err != nil {
			t.Errorf("AcceptConn: %v", err)
		}
		accepted <- c
	}()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	head := "GET /room/7?user=ann HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Token: secret\r\n\r\n"
	// A masked text frame "hi" in the same write as the head.
	frame := []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}
	if _, err := cl.Write(append([]byte(head), frame...)); err != nil {
		t.Fatal(err)
	}
	var c *Conn
	select {
	case c = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("AcceptConn did not return")
	}
	if c == nil {
		t.FailNow()
	}
	defer c.closeTransport()
	if c.req.Load() != nil || c.head != head {
		t.Fatalf("after the handshake: parsed request kept = %v, head kept = %q", c.req.Load() != nil, c.head)
	}
	if c.Path() != "/room/7" {
		t.Errorf("Path = %q", c.Path())
	}
	var wg sync.WaitGroup
	got := make([]any, 4)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = c.Request() }()
	}
	wg.Wait()
	r := c.Request()
	for i, g := range got {
		if g != any(r) {
			t.Errorf("call %d returned another request", i)
		}
	}
	if r == nil {
		t.Fatal("Request() = nil")
	}
	switch {
	case r.URL.Path != "/room/7" || r.URL.Query().Get("user") != "ann":
		t.Errorf("URL = %v", r.URL)
	case r.Host != "example.test" || r.Header.Get("X-Token") != "secret":
		t.Errorf("Host %q, X-Token %q", r.Host, r.Header.Get("X-Token"))
	case r.RemoteAddr != cl.LocalAddr().String():
		t.Errorf("RemoteAddr = %q, want %q", r.RemoteAddr, cl.LocalAddr())
	case r.TLS != nil:
		t.Errorf("TLS set on a plain connection")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.Next(ctx)
	if err != nil || m.Kind != Text || m.Text != "hi" {
		t.Fatalf("Next = %+v, %v; want the text frame sent behind the head", m, err)
	}
}
