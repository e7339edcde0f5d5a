//go:build !js

package wsio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/wstest"
)

func TestEchoTextAndBinary(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, echo)
	c := dial(t, url, nil)
	ctx := context.Background()
	for _, size := range []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20} {
		text := strings.Repeat("é", size/2) + strings.Repeat("x", size%2)
		if err := c.SendText(ctx, text); err != nil {
			t.Fatal(err)
		}
		m, err := c.Next(ctx)
		if err != nil || m.Kind != Text || m.Text != text {
			t.Fatalf("size %d: text echo = %v %d bytes, %v", size, m.Kind, len(m.Text), err)
		}
		bin := make([]byte, size)
		for i := range bin {
			bin[i] = byte(i * 7)
		}
		if err := c.SendBinary(ctx, bin); err != nil {
			t.Fatal(err)
		}
		m, err = c.Next(ctx)
		if err != nil || m.Kind != Binary {
			t.Fatalf("size %d: binary echo: %v %v", size, m.Kind, err)
		}
		got, err := io.ReadAll(m)
		if err != nil || !bytes.Equal(got, bin) {
			t.Fatalf("size %d: binary echo differs (%d bytes, %v)", size, len(got), err)
		}
	}
	if err := c.Close(StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// wireTap records what a connection writes.
type wireTap struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (w *wireTap) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.out.Write(p)
	w.mu.Unlock()
	return w.Conn.Write(p)
}

// frames parses recorded client frames (masked) after the handshake.
func (w *wireTap) frames(t *testing.T) []conn.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.out.Bytes()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	b = b[i+4:]
	var hs []conn.Header
	for len(b) > 0 {
		h, n, err := conn.ParseHeader(b)
		if err != nil {
			t.Fatalf("recorded frame: %v", err)
		}
		hs = append(hs, h)
		b = b[n+int(h.Length):]
	}
	return hs
}

func TestBinaryStreamFragmentsOnTheWire(t *testing.T) {
	t.Parallel()
	const frag = 1000
	sums := make(chan [32]byte, 1)
	url := testServer(t, nil, func(c *Conn) {
		m, err := c.Next(context.Background())
		if err != nil {
			return
		}
		h := sha256.New()
		_, _ = io.Copy(h, m)
		sums <- [32]byte(h.Sum(nil))
		_, _ = c.Next(context.Background())
	})
	var tap *wireTap
	c := dial(t, url, &DialOptions{
		Options: Options{FragmentSize: frag},
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			tap = &wireTap{Conn: nc}
			return tap, err
		},
	})
	data := wstest.RandomBytes(10_500, 1)
	w, err := c.BeginBinary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes, and a text send that must fail while the stream is open.
	for p := data; len(p) > 0; {
		n := min(len(p), 333)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := c.SendText(context.Background(), "no"); !errors.Is(err, ErrStreamOpen) {
		t.Fatalf("SendText during a stream: %v, want ErrStreamOpen", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-sums; got != sha256.Sum256(data) {
		t.Fatal("server received different bytes")
	}
	_ = c.Close(StatusNormalClosure, "")
	hs := tap.frames(t)
	var data11 []conn.Header
	for _, h := range hs {
		if !h.Op.IsControl() {
			data11 = append(data11, h)
		}
	}
	if len(data11) != 11 {
		t.Fatalf("%d data frames, want 11", len(data11))
	}
	for i, h := range data11 {
		wantOp := conn.OpContinuation
		if i == 0 {
			wantOp = conn.OpBinary
		}
		wantLen := int64(frag)
		if i == 10 {
			wantLen = 500
		}
		if h.Op != wantOp || h.Length != wantLen || h.Fin != (i == 10) || !h.Masked {
			t.Fatalf("frame %d: %+v", i, h)
		}
	}
}

func TestProtocolViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		send  func(p *rawPeer)
		code  StatusCode
		cause error
	}{
		{"unmasked client frame", func(p *rawPeer) { p.frame(true, 0, conn.OpText, []byte("hi"), true) }, StatusProtocolError, ErrProtocol},
		{"reserved bit", func(p *rawPeer) { p.frame(true, conn.Rsv2, conn.OpText, []byte("hi"), false) }, StatusProtocolError, ErrProtocol},
		{"reserved opcode", func(p *rawPeer) { p.frame(true, 0, conn.Opcode(3), nil, false) }, StatusProtocolError, ErrProtocol},
		{"reserved control opcode", func(p *rawPeer) { p.frame(true, 0, conn.Opcode(0xB), nil, false) }, StatusProtocolError, ErrProtocol},
		{"continuation without message", func(p *rawPeer) { p.frame(true, 0, conn.OpContinuation, []byte("x"), false) }, StatusProtocolError, ErrProtocol},
		{"fragmented ping", func(p *rawPeer) { p.frame(false, 0, conn.OpPing, nil, false) }, StatusProtocolError, ErrProtocol},
		{"ping over 125 bytes", func(p *rawPeer) { p.frame(true, 0, conn.OpPing, make([]byte, 126), false) }, StatusProtocolError, ErrProtocol},
		{"text inside fragmented text", func(p *rawPeer) {
			p.frame(false, 0, conn.OpText, []byte("a"), false)
			p.frame(true, 0, conn.OpText, []byte("b"), false)
		}, StatusProtocolError, ErrProtocol},
		{"binary inside fragmented binary", func(p *rawPeer) {
			p.frame(false, 0, conn.OpBinary, []byte("a"), false)
			p.frame(true, 0, conn.OpBinary, []byte("b"), false)
		}, StatusProtocolError, ErrProtocol},
		{"invalid UTF-8 split across fragments", func(p *rawPeer) {
			p.frame(false, 0, conn.OpText, []byte("ok \xF0\x9F"), false)
			p.frame(true, 0, conn.OpContinuation, []byte("\x98("), false)
		}, StatusInvalidPayload, ErrInvalidUTF8},
		{"text invalid in its last byte", func(p *rawPeer) {
			p.frame(false, 0, conn.OpText, []byte("abc"), false)
			p.frame(true, 0, conn.OpContinuation, []byte("def\xC3"), false)
		}, StatusInvalidPayload, ErrInvalidUTF8},
		{"close with 1-byte payload", func(p *rawPeer) { p.frame(true, 0, conn.OpClose, []byte{3}, false) }, StatusProtocolError, ErrProtocol},
		{"close with invalid code", func(p *rawPeer) { p.frame(true, 0, conn.OpClose, []byte{0x03, 0xED}, false) }, StatusProtocolError, ErrProtocol},
		{"close with invalid UTF-8 reason", func(p *rawPeer) { p.frame(true, 0, conn.OpClose, []byte{0x03, 0xE8, 0xFF}, false) }, StatusInvalidPayload, ErrInvalidUTF8},
		{"text over the buffer cap", func(p *rawPeer) { p.frame(true, 0, conn.OpText, make([]byte, 2001), false) }, StatusMessageTooBig, ErrMessageTooBig},
		{"fragmented text over the cap", func(p *rawPeer) {
			p.frame(false, 0, conn.OpText, make([]byte, 1500), false)
			p.frame(true, 0, conn.OpContinuation, make([]byte, 501), false)
		}, StatusMessageTooBig, ErrMessageTooBig},
		{"binary over the max", func(p *rawPeer) { p.frame(true, 0, conn.OpBinary, make([]byte, 3001), false) }, StatusMessageTooBig, ErrMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := make(chan error, 1)
			url := testServer(t, &ServerOptions{Options: Options{BufferCap: 2000, MaxBinaryMessage: 3000}}, func(c *Conn) {
				for {
					_, err := c.Next(context.Background())
					if err != nil {
						errs <- err
						return
					}
				}
			})
			p := rawDial(t, url)
			tt.send(p)
			if got := p.expectClose(); got != tt.code {
				t.Fatalf("close code %v, want %v", got, tt.code)
			}
			err := <-errs
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != tt.code || ce.Remote || !errors.Is(err, tt.cause) || !errors.Is(err, ErrClosed) {
				t.Fatalf("server error %v (%#v), want local close %v wrapping %v", err, ce, tt.code, tt.cause)
			}
		})
	}
}

// A frame header that declares more than the cap is refused before any of
// its payload arrives.
func TestTooBigRefusedOnHeader(t *testing.T) {
	t.Parallel()
	url := testServer(t, &ServerOptions{Options: Options{BufferCap: 1 << 20}}, echo)
	p := rawDial(t, url)
	var hdr [conn.MaxHeaderSize]byte
	key := [4]byte{1, 2, 3, 4}
	n := conn.PutHeader(hdr[:], true, 0, conn.OpText, 10<<30, &key)
	if _, err := p.nc.Write(hdr[:n]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := p.expectClose(); got != StatusMessageTooBig {
		t.Fatalf("close code %v, want 1009", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v to refuse", d)
	}
}

func TestPingInsideFragmentedMessage(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, echo)
	p := rawDial(t, url)
	p.frame(false, 0, conn.OpText, []byte("Hello, "), false)
	p.frame(true, 0, conn.OpPing, []byte("are you there"), false)
	p.frame(false, 0, conn.OpContinuation, []byte("wor"), false)
	p.frame(true, 0, conn.OpPing, []byte("still?"), false)
	p.frame(true, 0, conn.OpContinuation, []byte("ld"), false)
	var got []string
	for len(got) < 3 {
		h, payload, err := p.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Op.String()+":"+string(payload))
	}
	// RFC 6455 lets the peer answer only the latest ping, so the first
	// pong may be dropped when the second arrives first; we answer both
	// here because the writer is idle.
	want := []string{"pong:are you there", "pong:still?", "text:Hello, world"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	p.frame(true, 0, conn.OpClose, []byte{0x03, 0xE8}, false)
	if h, payload, err := p.readFrame(); err != nil || h.Op != conn.OpClose || !bytes.Equal(payload, []byte{0x03, 0xE8}) {
		t.Fatalf("close echo: %+v %x %v", h, payload, err)
	}
}

// nextErrServer starts a server whose handler waits in Next and reports
// the error that ends it.
func nextErrServer(t *testing.T) (url string, errs <-chan error) {
	t.Helper()
	ch := make(chan error, 1)
	url = testServer(t, nil, func(c *Conn) {
		_, err := c.Next(context.Background())
		ch <- err
	})
	return url, ch
}

func TestCloseHandshake(t *testing.T) {
	t.Parallel()
	t.Run("client closes", func(t *testing.T) {
		t.Parallel()
		url, errs := nextErrServer(t)
		c := dial(t, url, nil)
		if err := c.Close(4000, "done here"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		var ce *CloseError
		if err := <-errs; !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "done here" || !ce.Remote {
			t.Fatalf("server saw %v", err)
		}
		if c.State() != Closed {
			t.Fatalf("state %v", c.State())
		}
		if err := c.SendText(context.Background(), "late"); !errors.Is(err, ErrClosed) {
			t.Fatalf("send after close: %v", err)
		}
	})
	t.Run("server closes while client reads", func(t *testing.T) {
		t.Parallel()
		url := testServer(t, nil, func(c *Conn) {
			if err := c.Close(StatusGoingAway, "restart"); err != nil {
				t.Errorf("server Close: %v", err)
			}
		})
		c := dial(t, url, nil)
		_, err := c.Next(context.Background())
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusGoingAway || ce.Reason != "restart" || !ce.Remote {
			t.Fatalf("client saw %v", err)
		}
		<-c.Done()
	})
	t.Run("close while another goroutine reads", func(t *testing.T) {
		t.Parallel()
		url := testServer(t, nil, echo)
		c := dial(t, url, nil)
		errs := make(chan error, 1)
		go func() {
			for {
				if _, err := c.Next(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}()
		time.Sleep(20 * time.Millisecond)
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("reader got %v", err)
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		url := testServer(t, nil, func(c *Conn) { <-release })
		c := dial(t, url, &DialOptions{Options: Options{CloseTimeout: 200 * time.Millisecond}})
		// The server never reads, so it never answers.
		start := time.Now()
		err := c.Close(StatusNormalClosure, "")
		close(release)
		if err == nil || time.Since(start) > 2*time.Second {
			t.Fatalf("Close = %v after %v; want a timeout error near 200ms", err, time.Since(start))
		}
	})
	t.Run("abnormal closure", func(t *testing.T) {
		t.Parallel()
		url := testServer(t, nil, func(c *Conn) { _ = c.Transport().Close() })
		c := dial(t, url, nil)
		_, err := c.Next(context.Background())
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("got %v, want 1006 wrapping io.ErrUnexpectedEOF", err)
		}
	})
}

func TestBinaryCutShort(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, func(c *Conn) {
		w, _ := c.BeginBinary(context.Background())
		_, _ = w.Write(make([]byte, 100))
		_, _ = w.Write(make([]byte, 600<<10)) // one full frame goes out
		_ = c.Transport().Close()
	})
	c := dial(t, url, nil)
	m, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, m)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d bytes then %v; want io.ErrUnexpectedEOF", n, err)
	}
}

func TestConcurrentSenders(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, echo)
	c := dial(t, url, &DialOptions{Options: Options{FragmentSize: 4096}})
	const senders, each = 8, 40
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Sprintf("%d:%d:%s", g, i, strings.Repeat("z", (g*131+i*17)%9000))
				var err error
				if i%2 == 0 {
					err = c.SendText(ctx, msg)
				} else {
					err = c.SendBinary(ctx, []byte(msg))
				}
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
		})
	}
	pings := make(chan error, 1)
	go func() { pings <- c.Ping(ctx, []byte("mid-flight")) }()
	seen := map[string]bool{}
	for len(seen) < senders*each {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := m.Text
		if m.Kind == Binary {
			b, _ := io.ReadAll(m)
			s = string(b)
		}
		var g, i int
		if _, err := fmt.Sscanf(s, "%d:%d:", &g, &i); err != nil || seen[s] {
			t.Fatalf("garbled or repeated message %.40q", s)
		}
		if want := fmt.Sprintf("%d:%d:%s", g, i, strings.Repeat("z", (g*131+i*17)%9000)); s != want {
			t.Fatalf("message %d:%d corrupted", g, i)
		}
		seen[s] = true
	}
	wg.Wait()
	// The pong can come after the last echo (the ping goroutine may run
	// last): Ping sees it only while something reads, so read on.
	rctx, stop := context.WithCancel(ctx)
	reading := make(chan error, 1)
	go func() {
		_, err := c.Next(rctx)
		if err == nil {
			err = errors.New("a message nobody sent")
		}
		reading <- err
	}()
	select {
	case err := <-pings:
		if err != nil {
			t.Fatalf("Ping: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ping never saw its pong")
	}
	stop()
	if err := <-reading; !errors.Is(err, context.Canceled) {
		t.Fatalf("reading for the pong: %v", err)
	}
}

func TestNextCancelKeepsConnection(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, echo)
	c := dial(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, want context.DeadlineExceeded", err)
	}
	// A read deadline behaves the same way.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.Next(context.Background()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Next = %v, want os.ErrDeadlineExceeded", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	if err := c.SendText(context.Background(), "still here"); err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(context.Background())
	if err != nil || m.Text != "still here" {
		t.Fatalf("after cancel: %q %v", m.Text, err)
	}
}

// A deadline that passes in the middle of a fragmented text message does
// not lose the part already read.
func TestDeadlineMidMessageResumes(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, func(c *Conn) {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := c.Next(context.Background())
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("first Next: %v", err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		m, err := c.Next(context.Background())
		if err != nil {
			t.Errorf("second Next: %v", err)
			return
		}
		_ = c.SendText(context.Background(), m.Text)
		_, _ = c.Next(context.Background())
	})
	p := rawDial(t, url)
	p.frame(false, 0, conn.OpText, []byte("first half, "), false)
	time.Sleep(300 * time.Millisecond)
	p.frame(true, 0, conn.OpContinuation, []byte("second half"), false)
	h, payload, err := p.readFrame()
	if err != nil || h.Op != conn.OpText || string(payload) != "first half, second half" {
		t.Fatalf("got %v %q %v", h.Op, payload, err)
	}
}

func TestKeepaliveDetectsSilentPeer(t *testing.T) {
	t.Parallel()
	url := testServer(t, &ServerOptions{Options: Options{KeepaliveInterval: 50 * time.Millisecond, KeepaliveTimeout: 100 * time.Millisecond}},
		func(c *Conn) {
			_, err := c.Next(context.Background())
			if !errors.Is(err, ErrKeepalive) {
				t.Errorf("server Next = %v, want ErrKeepalive", err)
			}
			// Close afterwards reports how the connection ended.
			var ce *CloseError
			if err := c.Close(StatusNormalClosure, ""); !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure ||
				!errors.Is(err, ErrKeepalive) || !errors.Is(err, ErrClosed) {
				t.Errorf("Close after the keepalive failure = %v, want the *CloseError (1006, ErrKeepalive)", err)
			}
		})
	p := rawDial(t, url) // never answers pings
	h, _, err := p.readFrame()
	if err != nil || h.Op != conn.OpPing {
		t.Fatalf("expected a ping, got %v %v", h.Op, err)
	}
	start := time.Now()
	_ = p.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, _, err := p.readFrame(); err != nil {
			break
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v to drop a silent peer", d)
	}
}

// TestKeepaliveCountsTraffic: a peer that never answers pings but keeps
// sending (here a message trickling in, a frame every 20 ms, for four
// keepalive timeouts) stays connected; once it falls silent it is dropped.
func TestKeepaliveCountsTraffic(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	ended := make(chan error, 1)
	url := testServer(t, &ServerOptions{Options: Options{KeepaliveInterval: 50 * time.Millisecond, KeepaliveTimeout: 150 * time.Millisecond}},
		func(c *Conn) {
			ctx := context.Background()
			m, err := c.Next(ctx)
			if err != nil {
				got <- "Next: " + err.Error()
				return
			}
			b, err := io.ReadAll(m)
			if err != nil {
				got <- "reading: " + err.Error()
				return
			}
			got <- string(b)
			_, err = c.Next(ctx)
			ended <- err
		})
	p := rawDial(t, url) // never answers pings
	go func() {
		for { // drain the pings so the server's writes never block
			if _, _, err := p.readFrame(); err != nil {
				return
			}
		}
	}()
	const n = 30
	for i := range n {
		op := conn.OpContinuation
		if i == 0 {
			op = conn.OpBinary
		}
		p.frame(i == n-1, 0, op, []byte{'a' + byte(i%26)}, false)
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case s := <-got:
		if len(s) != n {
			t.Fatalf("the server got %q, want the %d-byte message: the trickling peer was dropped", s, n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not finish reading")
	}
	select {
	case err := <-ended:
		if !errors.Is(err, ErrKeepalive) {
			t.Fatalf("after the peer fell silent, Next = %v, want ErrKeepalive", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the silent peer was not dropped")
	}
}

func TestKeepaliveStaysUpWithLivePeer(t *testing.T) {
	t.Parallel()
	// The timeout is generous so that a loaded machine (-race, parallel
	// tests) does not make a pong late; the test waits for the pings
	// rather than for a fixed time.
	url := testServer(t, &ServerOptions{Options: Options{KeepaliveInterval: 20 * time.Millisecond, KeepaliveTimeout: 2 * time.Second}}, echo)
	var pings atomic.Int32
	c := dial(t, url, &DialOptions{Options: Options{OnPing: func([]byte) { pings.Add(1) }}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := c.Next(ctx)
		got <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for pings.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v", err)
	}
	if n := pings.Load(); n < 5 || c.State() != Open {
		t.Fatalf("%d pings, state %v", n, c.State())
	}
}

func TestSendTextRejectsInvalidUTF8(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, echo)
	c := dial(t, url, nil)
	if err := c.SendText(context.Background(), "bad \xff"); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("SendText = %v", err)
	}
}

func TestStaleMessage(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, echo)
	c := dial(t, url, nil)
	ctx := context.Background()
	_ = c.SendBinary(ctx, []byte("first message"))
	_ = c.SendBinary(ctx, []byte("second"))
	m1, _ := c.Next(ctx)
	var b [5]byte
	if _, err := io.ReadFull(m1, b[:]); err != nil || string(b[:]) != "first" {
		t.Fatalf("read %q %v", b, err)
	}
	m2, err := c.Next(ctx) // discards the rest of m1
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Read(b[:]); !errors.Is(err, ErrStaleMessage) {
		t.Fatalf("stale read: %v", err)
	}
	got, _ := io.ReadAll(m2)
	if string(got) != "second" {
		t.Fatalf("second = %q", got)
	}
}

// Close discarding the rest of a binary message the caller is reading must
// not let the caller mistake the truncated stream for a complete one.
func TestCloseDuringBinaryReadIsNotEOF(t *testing.T) {
	t.Parallel()
	url := testServer(t, nil, func(c *Conn) {
		w, _ := c.BeginBinary(context.Background())
		_, _ = w.Write(make([]byte, 64<<10))
		_ = w.Close()
		_, _ = c.Next(context.Background()) // answers the close
	})
	c := dial(t, url, &DialOptions{Options: Options{CloseTimeout: time.Second}})
	m, err := c.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b [10]byte
	if _, err := io.ReadFull(m, b[:]); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = io.Copy(io.Discard, m)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrClosed) {
		t.Fatalf("reading the rest after Close: %v, want io.ErrUnexpectedEOF and ErrClosed", err)
	}
}

func TestFirstPingSpread(t *testing.T) {
	t.Parallel()
	for _, interval := range []time.Duration{0, 5, time.Millisecond, 30 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := firstPing(interval)
			if d > interval || d < interval-interval/10 {
				t.Fatalf("firstPing(%v) = %v, want within the last tenth", interval, d)
			}
			seen[d] = true
		}
		if interval >= time.Millisecond && len(seen) < 50 {
			t.Errorf("firstPing(%v): %d distinct values in 200 draws", interval, len(seen))
		}
	}
}

// TestConnFitsItsSizeClass guards the memory of every connection: Conn is
// allocated in Go's 896-byte size class, and one more field of padding
// would move it to the 1024-byte one.
func TestConnFitsItsSizeClass(t *testing.T) {
	t.Parallel()
	if n := unsafe.Sizeof(Conn{}); n > 896 {
		t.Fatalf("Conn is %d bytes, over the 896-byte size class", n)
	}
}

// TestCloseNow ends a connection without the closing handshake: the peer
// sees 1006, a read in progress here is released with 1006, and a second
// call reports how the connection ended.
func TestCloseNow(t *testing.T) {
	t.Parallel()
	url, errs := nextErrServer(t)
	c := dial(t, url, nil)
	reading := make(chan error, 1)
	go func() {
		_, err := c.Next(context.Background())
		reading <- err
	}()
	if err := c.CloseNow(); err != nil {
		t.Fatalf("CloseNow: %v", err)
	}
	var ce *CloseError
	select {
	case err := <-reading:
		if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure || !errors.Is(err, ErrClosed) {
			t.Fatalf("local reader got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("CloseNow did not release the local reader")
	}
	select {
	case err := <-errs:
		if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure || ce.Remote {
			t.Fatalf("server saw %v, want 1006 without a close frame", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not see the connection end")
	}
	if c.State() != Closed {
		t.Fatalf("state %v", c.State())
	}
	if err := c.CloseNow(); !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("second CloseNow = %v", err)
	}
}

// TestSetValueAnyType checks that SetValue takes nil and values of
// different types in turn (an atomic.Value would panic on both).
func TestSetValueAnyType(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := NewConn(a, false, nil)
	defer c.CloseNow()
	if v := c.Value(); v != nil {
		t.Fatalf("Value before SetValue = %v, want nil", v)
	}
	for _, v := range []any{"ann", nil, 42, []string{"x"}, nil} {
		c.SetValue(v)
		if got := c.Value(); fmt.Sprint(got) != fmt.Sprint(v) {
			t.Fatalf("Value after SetValue(%v) = %v", v, got)
		}
	}
}

// An idle connection's memory is mostly its Conn, which the runtime
// allocates in the size class that holds it and its 8-byte malloc header
// (objects over 512 B with pointers carry one). The Conn fills the 896 B
// class; a field that pushes it past costs every connection the next
// class, 128 B more.
func TestConnSizeClass(t *testing.T) {
	const class, header = 896, 8
	if size := unsafe.Sizeof(Conn{}); size+header > class {
		t.Fatalf("Conn is %d bytes (+%d header), past the %d B size class: every connection would cost 128 B more", size, header, class)
	}
}
