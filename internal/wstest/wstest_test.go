package wstest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio/internal/wstest"
)

func TestMain(m *testing.M) { wstest.Main(m) }

func TestAcceptKey(t *testing.T) {
	t.Parallel()
	// The sample of RFC 6455, section 1.3.
	if got := wstest.AcceptKey(wstest.Key); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey(%q) = %q", wstest.Key, got)
	}
}

func TestFrame(t *testing.T) {
	t.Parallel()
	key := [4]byte{1, 2, 3, 4}
	for _, tc := range []struct {
		n      int
		header []byte // without the mask key
	}{
		{0, []byte{0x82, 0}},
		{125, []byte{0x82, 125}},
		{126, []byte{0x82, 126, 0, 126}},
		{0xFFFF, []byte{0x82, 126, 0xFF, 0xFF}},
		{0x10000, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		payload := wstest.Pattern(tc.n, 3)
		if got := wstest.Frame(true, 0, 2, payload, nil); !bytes.Equal(got, append(tc.header, payload...)) {
			t.Errorf("%d bytes unmasked: header % x", tc.n, got[:min(len(got), 10)])
		}
		got := wstest.Frame(true, 0, 2, payload, &key)
		h := append(bytes.Clone(tc.header), key[:]...)
		h[1] |= 0x80
		if !bytes.Equal(got[:len(h)], h) {
			t.Errorf("%d bytes masked: header % x, want % x", tc.n, got[:len(h)], h)
		}
		if !bytes.Equal(wstest.Mask(key, got[len(h):]), payload) {
			t.Errorf("%d bytes masked: the payload does not unmask", tc.n)
		}
		if !bytes.Equal(wstest.FrameHeader(0x82, tc.n, nil), tc.header) {
			t.Errorf("FrameHeader(%d) = % x", tc.n, wstest.FrameHeader(0x82, tc.n, nil))
		}
	}
	if got := wstest.Frame(false, 0x40, 1, nil, nil); got[0] != 0x41 {
		t.Errorf("first byte of a non-final RSV1 text frame = %#x, want 0x41", got[0])
	}
	if got := wstest.ClosePayload(1001, "bye"); !bytes.Equal(got, []byte{0x03, 0xE9, 'b', 'y', 'e'}) {
		t.Errorf("ClosePayload = % x", got)
	}
}

func TestPayloads(t *testing.T) {
	t.Parallel()
	if !bytes.Equal(wstest.RandomBytes(1000, 7), wstest.RandomBytes(1000, 7)) {
		t.Error("RandomBytes differs for the same seed")
	}
	if bytes.Equal(wstest.RandomBytes(1000, 7), wstest.RandomBytes(1000, 8)) {
		t.Error("RandomBytes is the same for two seeds")
	}
	p := wstest.Pattern(1<<12, 0)
	if bytes.Equal(p[:512], p[512:1024]) {
		t.Error("Pattern repeats within 512 bytes")
	}
}

// blockHere parks a goroutine where TestGoroutinesAndLeaks looks for it.
func blockHere(started chan<- struct{}, release <-chan struct{}) {
	close(started)
	<-release
}

func TestGoroutinesAndLeaks(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		blockHere(started, release)
	}()
	<-started
	wstest.WaitUntil(t, "blockHere waits on its channel", func() bool {
		return wstest.Goroutines("[chan receive", "wstest_test.blockHere") == 1
	})
	if n := wstest.Goroutines("[IO wait", "wstest_test.blockHere"); n != 0 {
		t.Errorf("Goroutines counts %d goroutines in the wrong state", n)
	}
	if leaked := wstest.Leaks(0); !strings.Contains(leaked, "wstest_test.blockHere") {
		t.Fatalf("Leaks does not report the blocked goroutine:\n%s", leaked)
	}
	close(release)
	<-ended
	wstest.WaitUntil(t, "blockHere is gone", func() bool {
		return wstest.Goroutines("", "wstest_test.blockHere") == 0
	})
}

func TestWaits(t *testing.T) {
	t.Parallel()
	n := 0
	if !wstest.Poll(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("Poll returned after %d calls", n)
	}
	if wstest.Poll(20*time.Millisecond, func() bool { return false }) {
		t.Error("Poll reported a condition that never held")
	}
	ch := make(chan int, 1)
	ch <- 5
	if got := wstest.Receive(t, ch, "five"); got != 5 {
		t.Errorf("Receive = %d", got)
	}
	ctx := wstest.Context(t)
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > wstest.Timeout {
		t.Errorf("Context's deadline is %v (%v)", d, ok)
	}
}

func TestBuffer(t *testing.T) {
	t.Parallel()
	var b wstest.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("%d bytes written, want 800", n)
	}
}

// wrapped and joined are errors whose own text shows nothing of what
// they wrap.
type wrapped struct{ err error }

func (*wrapped) Error() string   { return "wrapped" }
func (e *wrapped) Unwrap() error { return e.err }

type joined struct{ errs []error }

func (*joined) Error() string     { return "joined" }
func (e *joined) Unwrap() []error { return e.errs }

func TestSecretShown(t *testing.T) {
	t.Parallel()
	const secret = "s3 cr/et"
	inner := errors.New("dial http://user:" + secret + "@host")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"clean", errors.New("proxy refused"), ""},
		{"as it is", inner, inner.Error()},
		{"wrapped", fmt.Errorf("websocket: %w", errors.New("s3+cr%2Fet")), "websocket: s3+cr%2Fet"},
		{"only the wrapped error", &wrapped{errors.New("s3+cr%2Fet")}, "s3+cr%2Fet"},
		{"joined", &joined{[]error{errors.New("a"), errors.New("Basic dXNlcjpzMyBjci9ldA==")}}, "Basic dXNlcjpzMyBjci9ldA=="},
		{"path-escaped", errors.New("s3%20cr%2Fet"), "s3%20cr%2Fet"},
	} {
		if got := wstest.SecretShown(tc.err, "user", secret); got != tc.want {
			t.Errorf("%s: SecretShown = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDialer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := wstest.ServeConns(t, ln, func(c net.Conn) { _, _ = io.WriteString(c, "hi") })
	ctx := wstest.Context(t)

	d := &wstest.Dialer{Map: map[string]string{"proxy.test:1": addr}}
	c, err := d.Dial(ctx, "tcp", "proxy.test:1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "hi" {
		t.Errorf("read %q through the mapped address", b)
	}
	refusing := &wstest.Dialer{Allow: wstest.Nowhere}
	if _, err := refusing.Dial(ctx, "tcp", addr); err == nil {
		t.Error("a Dialer that allows nothing dialed")
	}
	if got := append(d.Dialed(), refusing.Dialed()...); len(got) != 2 || got[0] != "proxy.test:1" || got[1] != addr {
		t.Errorf("Dialed = %q", got)
	}
	if _, err := wstest.LoopbackOnly(ctx, "tcp", "192.0.2.1:9"); err == nil {
		t.Error("LoopbackOnly dialed 192.0.2.1")
	}
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	r := wstest.StartRecorder(t)
	for _, s := range []string{"first", "", "third"} {
		c, err := net.Dial("tcp", r.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, s)
		c.Close()
	}
	if got := r.Received(t); strings.Join(got, "|") != "first||third" {
		t.Fatalf("Received = %q", got)
	}
	if got := r.Received(t); len(got) != 3 {
		t.Fatalf("a second Received = %q, want the three connections again", got)
	}
}

// rawServer answers an upgrade with a 101 carrying accept and ext, then
// sends "after" and echoes what it reads.
func rawServer(t *testing.T, accept func(key string) string, ext string) string {
	t.Helper()
	srv := wstest.HTTPServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: %s\r\nX-Path: %s\r\n\r\nafter",
			accept(r.Header.Get("Sec-WebSocket-Key")), ext, r.URL.Path)
		_, _ = io.Copy(nc, brw)
	})
	return wstest.WSURL(srv.URL)
}

func TestDialRaw(t *testing.T) {
	t.Parallel()
	url := rawServer(t, wstest.AcceptKey, "permessage-deflate")
	nc, br, err := wstest.DialRaw(url+"/chat", wstest.RawOptions{Extensions: "permessage-deflate; client_no_context_takeover"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(wstest.Timeout))
	b := make([]byte, 5)
	if _, err := io.ReadFull(br, b); err != nil || string(b) != "after" {
		t.Fatalf("read %q, %v; want the bytes after the 101", b, err)
	}

	for _, tc := range []struct {
		name string
		url  string
		o    wstest.RawOptions
	}{
		{"wrong accept", rawServer(t, func(string) string { return "wrong" }, ""), wstest.RawOptions{}},
		{"extension refused", rawServer(t, wstest.AcceptKey, ""), wstest.RawOptions{Extensions: "permessage-deflate"}},
		{"nothing listens", fmt.Sprintf("ws://127.0.0.1:%d/", wstest.FreePort(t)), wstest.RawOptions{}},
	} {
		if nc, _, err := wstest.DialRaw(tc.url, tc.o); err == nil {
			nc.Close()
			t.Errorf("%s: DialRaw succeeded", tc.name)
		}
	}
}

func TestSelfSigned(t *testing.T) {
	t.Parallel()
	cert, pool := wstest.SelfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	addr := wstest.ServeConns(t, ln, func(c net.Conn) { _, _ = io.Copy(c, c) })
	for _, name := range []string{wstest.CertName, "127.0.0.1"} {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Fatalf("ServerName %s: %v", name, err)
		}
		_, _ = io.WriteString(c, "x")
		_, err = bufio.NewReader(c).ReadByte()
		c.Close()
		if err != nil {
			t.Fatalf("ServerName %s: echo: %v", name, err)
		}
	}
}

// fakeMsg and fakeConn are just enough of a connection for Echo.
type fakeMsg struct {
	io.Reader
	text   string
	isText bool
}

type fakeConn struct {
	in  []fakeMsg
	out []string
}

type sink struct {
	b   bytes.Buffer
	out *[]string
}

func (s *sink) Write(p []byte) (int, error) { return s.b.Write(p) }
func (s *sink) Close() error                { *s.out = append(*s.out, "binary:"+s.b.String()); return nil }

func (c *fakeConn) Next(context.Context) (fakeMsg, error) {
	if len(c.in) == 0 {
		return fakeMsg{}, io.EOF
	}
	m := c.in[0]
	c.in = c.in[1:]
	return m, nil
}

func (c *fakeConn) SendText(_ context.Context, s string) error {
	c.out = append(c.out, "text:"+s)
	return nil
}

func (c *fakeConn) BeginBinary(context.Context) (*sink, error) { return &sink{out: &c.out}, nil }

func TestEcho(t *testing.T) {
	t.Parallel()
	c := &fakeConn{in: []fakeMsg{
		{text: "hello", isText: true},
		{Reader: strings.NewReader("stream")},
		{text: "", isText: true},
	}}
	wstest.Echo(c, func(m fakeMsg) (string, bool) { return m.text, m.isText })
	if got := strings.Join(c.out, ","); got != "text:hello,binary:stream,text:" {
		t.Fatalf("echoed %s", got)
	}
}

func TestHTTPServerWaitsForHijackedHandlers(t *testing.T) {
	t.Parallel()
	var ended sync.WaitGroup
	ended.Add(1)
	done := false
	t.Run("server", func(t *testing.T) {
		srv := wstest.HTTPServer(t, false, func(w http.ResponseWriter, r *http.Request) {
			defer ended.Done()
			nc, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // outlives the client's request
			nc.Close()
			done = true // read after the subtest's cleanup: the WaitGroup orders it
		})
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_, _ = c.Read(make([]byte, 1)) // until the handler closes
	})
	if !done {
		t.Error("the server's cleanup returned before its hijacked handler")
	}
	ended.Wait()
}
