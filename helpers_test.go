//go:build !js

package wsio

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/wstest"
)

// TestMain fails the run if any goroutine running code of the module is
// still alive once every test has finished (a leak check for the whole
// package, which parallel tests cannot confuse); it is the kit's one check.
func TestMain(m *testing.M) { wstest.Main(m) }

// testServer starts an httptest server that accepts WebSocket upgrades
// with o and runs handler; it returns the ws:// URL. The test's cleanup
// waits for every handler to return.
func testServer(t testing.TB, o *ServerOptions, handler func(c *Conn)) string {
	t.Helper()
	srv := wstest.HTTPServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, o)
		if err != nil {
			return
		}
		handler(c)
		c.closeTransport()
	})
	return wstest.WSURL(srv.URL)
}

// echo is a server handler that echoes text as text and binary as a
// stream (wstest.Echo).
func echo(c *Conn) { wstest.Echo(c, messageText) }

// messageText is the text of m and whether m is a text message, as
// wstest.Echo asks.
func messageText(m Message) (string, bool) { return m.Text, m.Kind == Text }

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
	return rawDialExt(t, url, "", 10*time.Second)
}

// rawDialExt performs the handshake by hand (wstest.DialRaw), offering the
// extensions ext when it is not empty (then the server must accept them),
// and leaves a deadline of d on the connection.
func rawDialExt(t *testing.T, url, ext string, d time.Duration) *rawPeer {
	t.Helper()
	nc, br, err := wstest.DialRaw(url, wstest.RawOptions{Extensions: ext})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(d))
	return &rawPeer{t: t, nc: nc, br: br}
}

// frame writes one frame; masked unless unmasked is set.
func (p *rawPeer) frame(fin bool, rsv byte, op conn.Opcode, payload []byte, unmasked bool) {
	p.t.Helper()
	key := &[4]byte{0x11, 0x22, 0x33, 0x44}
	if unmasked {
		key = nil
	}
	if _, err := p.nc.Write(wstest.Frame(fin, rsv, byte(op), payload, key)); err != nil {
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

// nextUntilClosed reads from c until the connection ends;
// TestLeakCheckSeesThisPackage looks for it by its name.
func nextUntilClosed(c *Conn, done chan<- struct{}) {
	defer close(done)
	for {
		if _, err := c.Next(context.Background()); err != nil {
			return
		}
	}
}

// TestLeakCheckSeesThisPackage: the leak check of TestMain reports a
// goroutine that runs this package's code ("github.com/wsio/wsio." in its
// stack), not only one that runs a subpackage's.
func TestLeakCheckSeesThisPackage(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, echo)
	c := dial(t, url, nil)
	done := make(chan struct{})
	go nextUntilClosed(c, done)
	wstest.WaitUntil(t, "nextUntilClosed runs", func() bool {
		return wstest.Goroutines("", "wsio.nextUntilClosed") > 0
	})
	leaked := wstest.Leaks(0)
	c.closeTransport()
	<-done
	if !strings.Contains(leaked, "github.com/wsio/wsio.nextUntilClosed") {
		t.Fatalf("the leak check does not report a goroutine blocked in this package's code; it reports:\n%s", leaked)
	}
}
