//go:build !js

package wsio

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"
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
	if hp := c.head.Load(); c.req.Load() != nil || hp == nil || *hp != head {
		t.Fatalf("after the handshake: parsed request kept = %v, head kept = %v", c.req.Load() != nil, hp)
	}
	if c.Path() != "/room/7" {
		t.Errorf("Path = %q", c.Path())
	}
	// The path is a copy, so it does not keep the head alive once an event
	// server lets the head go.
	if h := *c.head.Load(); pointsInto(c.path, h) {
		t.Error("Path points into the request head")
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

// TestAcceptConnDeadlines: AcceptConn reads a request that is already
// there without setting a deadline, but one that arrives in pieces, or
// never, is still bounded by HandshakeTimeout; and no deadline is left on
// an accepted connection, however the head came.
func TestAcceptConnDeadlines(t *testing.T) {
	t.Parallel()
	const hsTimeout = 300 * time.Millisecond
	head := "GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	for _, tc := range []struct {
		name   string
		pieces []string // written 100 ms apart, the first at once
		ok     bool
	}{
		{"whole head at once", []string{head}, true},
		{"head in two pieces", []string{head[:20], head[20:]}, true},
		{"head in pieces past the timeout", []string{head[:10], head[10:20], head[20:30], head[30:40], head[40:50], head[50:]}, false},
		{"nothing", nil, false},
		{"part of a head, then silence", []string{head[:20]}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl, nc := tcpPair(t)
			if len(tc.pieces) > 0 {
				if _, err := cl.Write([]byte(tc.pieces[0])); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // so the first piece is there to be tried
			}
			go func() {
				for _, p := range tc.pieces[min(1, len(tc.pieces)):] {
					time.Sleep(100 * time.Millisecond)
					if _, err := cl.Write([]byte(p)); err != nil {
						return
					}
				}
			}()
			start := time.Now()
			c, err := AcceptConn(context.Background(), nc, &ServerOptions{HandshakeTimeout: hsTimeout})
			took := time.Since(start)
			if !tc.ok {
				if err == nil {
					c.closeTransport()
					t.Fatal("accepted")
				}
				if took < hsTimeout-50*time.Millisecond || took > hsTimeout+2*time.Second {
					t.Fatalf("failed after %v (%v), want about %v", took, err, hsTimeout)
				}
				return
			}
			if err != nil {
				t.Fatalf("AcceptConn: %v", err)
			}
			defer c.closeTransport()
			// A frame that comes after the handshake timeout has passed is
			// read: no deadline was left behind.
			time.Sleep(hsTimeout + 100*time.Millisecond)
			if _, err := cl.Write([]byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if m, err := c.Next(ctx); err != nil || m.Text != "hi" {
				t.Fatalf("Next after the handshake timeout = %+v, %v", m, err)
			}
		})
	}
}

// pointsInto reports whether s's bytes lie inside within's.
func pointsInto(s, within string) bool {
	if len(s) == 0 || len(within) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(within)))
	return p >= lo && p < lo+uintptr(len(within))
}
