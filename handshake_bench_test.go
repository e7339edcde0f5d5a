//go:build !js

package wsio

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/internal/handshake"
)

// cannedConn is a peer that answers at once from memory: as a server it
// answers Dial's request with a valid 101, as a client it holds a request
// head for AcceptConn. It lets the handshake's own cost be measured
// without the network's.
type cannedConn struct {
	net.Conn
	in strings.Reader
}

func (c *cannedConn) Write(p []byte) (int, error) {
	if s := string(p); strings.HasPrefix(s, "GET ") {
		i := strings.Index(s, "Sec-WebSocket-Key: ") + len("Sec-WebSocket-Key: ")
		c.in.Reset("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			handshake.AcceptKey(s[i:i+24]) + "\r\n\r\n")
	}
	return len(p), nil
}
func (c *cannedConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *cannedConn) SetDeadline(time.Time) error      { return nil }
func (c *cannedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cannedConn) SetWriteDeadline(time.Time) error { return nil }
func (c *cannedConn) Close() error                     { return nil }
func (c *cannedConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *cannedConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// BenchmarkDialCanned is Dial's user-space cost: a ctx with a deadline
// (as the side-by-side benchmark passes), a NetDial that returns a peer
// answering from memory.
func BenchmarkDialCanned(b *testing.B) {
	o := &DialOptions{NetDial: func(context.Context, string, string) (net.Conn, error) { return &cannedConn{}, nil }}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if _, _, err := Dial(ctx, "ws://127.0.0.1:8080/", o); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}

// BenchmarkAcceptConnCanned is AcceptConn's user-space cost for a
// browser's request head.
func BenchmarkAcceptConnCanned(b *testing.B) {
	head := "GET /chat?room=7 HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nPragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36\r\n" +
		"Upgrade: websocket\r\nOrigin: http://example.test\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-US\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
	o := &ServerOptions{OriginPatterns: []string{"*"}}
	b.ReportAllocs()
	for b.Loop() {
		nc := &cannedConn{}
		nc.in.Reset(head)
		if _, err := AcceptConn(context.Background(), nc, o); err != nil {
			b.Fatal(err)
		}
	}
}
