//go:build !js

package wsio

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/handshake"
)

// TestMain fails the run if any goroutine started by this package is
// still alive once every test has finished (a leak check for the whole
// package, which parallel tests cannot confuse).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForLeaks returns the stacks of goroutines running this package's
// code (other than the test runner), waiting up to d for them to end.
func waitForLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		var leaked []string
		for _, g := range strings.Split(AllStacks(), "\n\n") {
			if strings.Contains(g, "wsio/wsio/") && !strings.Contains(g, "waitForLeaks") &&
				!strings.Contains(g, "testing.(*M)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// AllStacks returns the stacks of all goroutines, however many there are.
// It is exported for the external tests (package wsio_test) and exists
// only in test builds.
func AllStacks() string {
	for n := 1 << 16; ; n *= 2 {
		buf := make([]byte, n)
		if k := runtime.Stack(buf, true); k < n {
			return string(buf[:k])
		}
	}
}

// testServer starts an httptest server that accepts WebSocket upgrades
// with o and runs handler; it returns the ws:// URL.
func testServer(t testing.TB, o *ServerOptions, handler func(c *Conn)) string {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		c, err := Accept(w, r, o)
		if err != nil {
			return
		}
		handler(c)
		c.closeTransport()
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// echo is a server handler that echoes text as text and binary as a stream.
func echo(c *Conn) {
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return
		}
		switch m.Kind {
		case Text:
			if c.SendText(ctx, m.Text) != nil {
				return
			}
		case Binary:
			w, err := c.BeginBinary(ctx)
			if err != nil {
				return
			}
			if _, err := io.Copy(w, m); err != nil {
				_ = w.Close()
				return
			}
			if w.Close() != nil {
				return
			}
		}
	}
}

func dial(t *testing.T, url string, o *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.closeTransport() })
	return c
}

// rawPeer is a hand-driven WebSocket client speaking raw frames, for
// sending what a correct implementation never would.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, url string) *rawPeer {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", addr, key)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != handshake.AcceptKey(key) {
		t.Fatalf("handshake: %v %v", resp.Status, resp.Header)
	}
	return &rawPeer{t: t, nc: nc, br: br}
}

// frame writes one frame; masked unless unmasked is set.
func (p *rawPeer) frame(fin bool, rsv byte, op conn.Opcode, payload []byte, unmasked bool) {
	p.t.Helper()
	var hdr [conn.MaxHeaderSize]byte
	var mask *[4]byte
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	if !unmasked {
		mask = &key
	}
	n := conn.PutHeader(hdr[:], fin, rsv, op, int64(len(payload)), mask)
	b := append(hdr[:n:n], payload...)
	if !unmasked {
		conn.Mask(key, 0, b[n:])
	}
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("raw write: %v", err)
	}
}

// readFrame reads one unmasked frame from the server.
func (p *rawPeer) readFrame() (conn.Header, []byte, error) {
	var b [conn.MaxHeaderSize]byte
	if _, err := io.ReadFull(p.br, b[:2]); err != nil {
		return conn.Header{}, nil, err
	}
	n := conn.HeaderSize(b[1])
	if _, err := io.ReadFull(p.br, b[2:n]); err != nil {
		return conn.Header{}, nil, err
	}
	h, _, err := conn.ParseHeader(b[:n])
	if err != nil {
		return h, nil, err
	}
	payload := make([]byte, h.Length)
	_, err = io.ReadFull(p.br, payload)
	return h, payload, err
}

// expectClose reads frames until a close frame and returns its code; it
// then expects the server to close the TCP connection.
func (p *rawPeer) expectClose() StatusCode {
	p.t.Helper()
	for {
		h, payload, err := p.readFrame()
		if err != nil {
			p.t.Fatalf("reading for a close frame: %v", err)
		}
		if h.Op == conn.OpClose {
			if len(payload) < 2 {
				return StatusNoStatus
			}
			code := StatusCode(binary.BigEndian.Uint16(payload))
			p.frame(true, 0, conn.OpClose, payload[:2], false)
			if _, err := p.br.ReadByte(); err != io.EOF && !isReset(err) {
				p.t.Fatalf("after close: read %v, want EOF", err)
			}
			_ = p.nc.Close()
			return code
		}
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// readHTTPHead reads an HTTP head up to the blank line.
func readHTTPHead(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" {
			return b.String(), nil
		}
	}
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
