//go:build js

package wsio_test

// These tests run inside a browser: conformance/interop/wasm_test.go
// builds them with GOOS=js GOARCH=wasm go test -c, loads the binary in
// headless Chromium and serves, beside it, a native wsio server whose
// base URL it passes in WSIO_WASM_SERVER. Its endpoints:
//
//	/echo             echoes every message, binary streamed back
//	/close?code=&reason=  closes with that code and reason on the first message
//	/watch?id=        echoes; records how the connection ended under id
//	/report?id=       sends, as one text message, how /watch?id= ended
//	/rpc              net/rpc over stream.NetConn, with the Arith service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/rpc"
	"net/url"
	"os"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/stream"
)

// serverURL is the native test server's ws:// base URL.
func serverURL(t *testing.T) string {
	u := os.Getenv("WSIO_WASM_SERVER")
	if u == "" {
		t.Skip("WSIO_WASM_SERVER is not set: these tests run in a browser, from conformance/interop/wasm_test.go")
	}
	return u
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dialPath(t *testing.T, path string, o *wsio.DialOptions) *wsio.Conn {
	t.Helper()
	c, resp, err := wsio.Dial(testCtx(t, 20*time.Second), serverURL(t)+path, o)
	if err != nil {
		t.Fatalf("Dial %s: %v", path, err)
	}
	if resp != nil {
		t.Errorf("Dial returned a response %v; a browser shows none", resp.Status)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// pattern is a reproducible byte stream: seed picks it.
type pattern struct{ r *rand.ChaCha8 }

func newPattern(seed byte) *pattern {
	var s [32]byte
	s[0] = seed
	return &pattern{rand.NewChaCha8(s)}
}

func (p *pattern) Read(b []byte) (int, error) { return p.r.Read(b) }

// compareStream reads want's first n bytes and r to its end, failing at the
// first difference.
func compareStream(t *testing.T, r io.Reader, want io.Reader, n int64) {
	t.Helper()
	got := make([]byte, 256<<10)
	exp := make([]byte, 256<<10)
	var off int64
	for {
		k, err := io.ReadFull(r, got)
		if k > 0 {
			if off+int64(k) > n {
				t.Fatalf("more than %d bytes came back", n)
			}
			if _, err := io.ReadFull(want, exp[:k]); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got[:k], exp[:k]); i >= 0 {
				t.Fatalf("byte %d differs: got %#x, want %#x", off+int64(i), got[i], exp[i])
			}
			off += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("reading after %d bytes: %v", off, err)
		}
	}
	if off != n {
		t.Fatalf("%d bytes came back, want %d", off, n)
	}
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

func TestBrowserText(t *testing.T) {
	c := dialPath(t, "/echo", &wsio.DialOptions{Subprotocols: []string{"wsio.v2", "other"}})
	if c.Subprotocol() != "wsio.v2" {
		t.Errorf("Subprotocol %q, want wsio.v2", c.Subprotocol())
	}
	ctx := testCtx(t, 30*time.Second)
	for _, s := range []string{"hello", "", "héllo wörld — 你好 🌍", strings.Repeat("ü€😀a", 50000)} {
		if err := c.SendText(ctx, s); err != nil {
			t.Fatalf("SendText: %v", err)
		}
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if m.Kind != wsio.Text || m.Text != s {
			t.Fatalf("got %v of %d bytes, want the text of %d bytes back", m.Kind, len(m.Text), len(s))
		}
	}
	if err := c.SendText(ctx, "bad \xff"); !errors.Is(err, wsio.ErrInvalidUTF8) {
		t.Errorf("SendText of invalid UTF-8: %v, want ErrInvalidUTF8", err)
	}
	c.SetValue("v")
	if c.Value() != "v" {
		t.Errorf("Value %v", c.Value())
	}
	if err := c.Close(wsio.StatusNormalClosure, "done"); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done is open after Close")
	}
	var ce *wsio.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != wsio.StatusNormalClosure || ce.Remote {
		t.Errorf("Err after Close: %v", err)
	}
	if err := c.SendText(ctx, "late"); !errors.Is(err, wsio.ErrClosed) {
		t.Errorf("SendText after Close: %v, want ErrClosed", err)
	}
}

// TestBrowserBinary echoes binary messages of 4 MiB and 64 MiB, sent with
// SendBinary and with BeginBinary + io.Copy, and compares every byte.
func TestBrowserBinary(t *testing.T) {
	tests := []struct {
		name   string
		size   int64
		stream bool
	}{
		{"SendBinary 4 MiB", 4 << 20, false},
		{"BeginBinary 4 MiB", 4 << 20, true},
		{"BeginBinary 64 MiB", 64 << 20, true},
		{"BeginBinary empty", 0, true},
	}
	c := dialPath(t, "/echo", &wsio.DialOptions{Options: wsio.Options{BufferCap: 128 << 20}})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 2*time.Minute)
			start := time.Now()
			seed := byte(i + 1)
			if tt.stream {
				w, err := c.BeginBinary(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n, err := io.Copy(w, io.LimitReader(newPattern(seed), tt.size)); err != nil || n != tt.size {
					t.Fatalf("io.Copy: %d, %v", n, err)
				}
				if err := w.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			} else {
				p := make([]byte, tt.size)
				_, _ = newPattern(seed).Read(p)
				if err := c.SendBinary(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			m, err := c.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != wsio.Binary {
				t.Fatalf("got a %v message", m.Kind)
			}
			compareStream(t, m, newPattern(seed), tt.size)
			t.Logf("%d bytes there and back in %v", tt.size, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestBrowserCloseCodes: the server's close code and reason reach the
// page, and the page's reach the server.
func TestBrowserCloseCodes(t *testing.T) {
	t.Run("server closes", func(t *testing.T) {
		c := dialPath(t, "/close?code=4003&reason=bye+from+wsio+%E2%9C%93", nil)
		ctx := testCtx(t, 20*time.Second)
		if err := c.SendText(ctx, "close please"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := c.Next(ctx)
		t.Logf("the close took %v", time.Since(start))
		var ce *wsio.CloseError
		if !errors.As(err, &ce) || ce.Code != 4003 || ce.Reason != "bye from wsio ✓" || !ce.Remote {
			t.Fatalf("Next: %v, want the server's 4003 close", err)
		}
		if !errors.Is(err, wsio.ErrClosed) {
			t.Errorf("%v does not match ErrClosed", err)
		}
		if got := c.Err(); got != err {
			t.Errorf("Err %v, want %v", got, err)
		}
		if err := c.Close(wsio.StatusNormalClosure, ""); !errors.As(err, &ce) || ce.Code != 4003 {
			t.Errorf("Close after the server's close: %v", err)
		}
	})
	t.Run("page closes", func(t *testing.T) {
		for _, tt := range []struct {
			code   wsio.StatusCode
			reason string
		}{{4001, "from wasm ✓"}, {wsio.StatusNormalClosure, ""}, {3000, strings.Repeat("r", 200)}} {
			id := fmt.Sprintf("page-%d", tt.code)
			c := dialPath(t, "/watch?id="+id, nil)
			if err := c.Close(tt.code, tt.reason); err != nil {
				t.Fatalf("Close(%d): %v", tt.code, err)
			}
			want := fmt.Sprintf("peer %d %q", tt.code, tt.reason[:min(len(tt.reason), 123)])
			if got := report(t, id); got != want {
				t.Errorf("the server saw %s, want %s", got, want)
			}
		}
	})
	t.Run("codes a browser cannot send", func(t *testing.T) {
		c := dialPath(t, "/echo", nil)
		for _, code := range []wsio.StatusCode{wsio.StatusGoingAway, wsio.StatusMessageTooBig, wsio.StatusInternalError} {
			if err := c.Close(code, ""); !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("Close(%v): %v, want ErrUnsupported", code, err)
			}
		}
		if err := c.Close(wsio.StatusAbnormalClosure, ""); err == nil {
			t.Error("Close(1006) succeeded")
		}
		if c.Err() != nil {
			t.Fatalf("the refused Close calls closed the connection: %v", c.Err())
		}
		ctx := testCtx(t, 10*time.Second)
		if err := c.SendText(ctx, "still open"); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Next(ctx); err != nil || m.Text != "still open" {
			t.Fatalf("Next: %q, %v", m.Text, err)
		}
	})
	t.Run("CloseNow", func(t *testing.T) {
		c := dialPath(t, "/watch?id=closenow", nil)
		if err := c.CloseNow(); err != nil {
			t.Fatal(err)
		}
		var ce *wsio.CloseError
		if err := c.Err(); !errors.As(err, &ce) || ce.Code != wsio.StatusAbnormalClosure || !errors.Is(err, wsio.ErrClosed) {
			t.Errorf("Err after CloseNow: %v", err)
		}
		if _, err := c.Next(testCtx(t, 5*time.Second)); !errors.Is(err, wsio.ErrClosed) {
			t.Errorf("Next after CloseNow: %v", err)
		}
		if got := report(t, "closenow"); got != "peer 1005 \"\"" {
			t.Errorf("the server saw %s, want a close without a code", got)
		}
	})
}

// report asks the server how the /watch connection named id ended.
func report(t *testing.T, id string) string {
	t.Helper()
	c := dialPath(t, "/report?id="+id, nil)
	m, err := c.Next(testCtx(t, 20*time.Second))
	if err != nil {
		t.Fatalf("report %s: %v", id, err)
	}
	return m.Text
}

// TestBrowserLimits: a message over BufferCap (text) or MaxBinaryMessage
// (binary) ends the connection with 1009; a BeginBinary stream over
// BufferCap fails alone.
func TestBrowserLimits(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    wsio.Options
		send func(ctx context.Context, c *wsio.Conn) error
	}{
		{"text over BufferCap", wsio.Options{BufferCap: 1000}, func(ctx context.Context, c *wsio.Conn) error {
			return c.SendText(ctx, strings.Repeat("é", 501))
		}},
		{"binary over MaxBinaryMessage", wsio.Options{MaxBinaryMessage: 1 << 20}, func(ctx context.Context, c *wsio.Conn) error {
			return c.SendBinary(ctx, make([]byte, 1<<20+1))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "limit-" + strings.ReplaceAll(tt.name, " ", "-")
			c := dialPath(t, "/watch?id="+id, &wsio.DialOptions{Options: tt.o})
			ctx := testCtx(t, 20*time.Second)
			if err := c.SendText(ctx, "small first"); err != nil {
				t.Fatal(err)
			}
			if err := tt.send(ctx, c); err != nil {
				t.Fatal(err)
			}
			if m, err := c.Next(ctx); err != nil || m.Text != "small first" {
				t.Fatalf("the message before the big one: %q, %v", m.Text, err)
			}
			wantTooBig(t, ctx, c, id)
		})
	}
	t.Run("messages waiting over BufferCap", func(t *testing.T) {
		// Four echoes of 4,000 bytes arrive while the page reads none:
		// behind the first, 8,000 bytes fit in a BufferCap of 10,000, and
		// the fourth would make 12,000, so it ends the connection.
		id := "limit-backlog"
		c := dialPath(t, "/watch?id="+id, &wsio.DialOptions{Options: wsio.Options{BufferCap: 10000}})
		ctx := testCtx(t, 20*time.Second)
		line := strings.Repeat("x", 4000)
		for range 4 {
			if err := c.SendText(ctx, line); err != nil {
				t.Fatal(err)
			}
		}
		for c.State() == wsio.Open && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		for i := range 3 {
			if m, err := c.Next(ctx); err != nil || m.Text != line {
				t.Fatalf("message %d of those queued before the limit: %d bytes, %v", i+1, len(m.Text), err)
			}
		}
		wantTooBig(t, ctx, c, id)
	})
	t.Run("BeginBinary over BufferCap", func(t *testing.T) {
		c := dialPath(t, "/echo", &wsio.DialOptions{Options: wsio.Options{BufferCap: 64 << 10}})
		ctx := testCtx(t, 20*time.Second)
		w, err := c.BeginBinary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, io.LimitReader(newPattern(9), 64<<10+1)); !errors.Is(err, wsio.ErrMessageTooBig) {
			t.Fatalf("io.Copy over the cap: %v, want ErrMessageTooBig", err)
		}
		if err := w.Close(); !errors.Is(err, wsio.ErrMessageTooBig) {
			t.Fatalf("Close: %v", err)
		}
		if err := c.SendBinary(ctx, []byte("next")); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Next(ctx); err != nil {
			t.Fatal(err)
		} else if b, _ := io.ReadAll(m); string(b) != "next" {
			t.Fatalf("got %q back, want only the message after the failed stream", b)
		}
	})
}

// wantTooBig checks that c's next Next reports this side's 1009 and that
// the server's /watch?id= connection saw a close frame without a code (a
// browser cannot send 1009).
func wantTooBig(t *testing.T, ctx context.Context, c *wsio.Conn, id string) {
	t.Helper()
	_, err := c.Next(ctx)
	var ce *wsio.CloseError
	if !errors.Is(err, wsio.ErrMessageTooBig) || !errors.As(err, &ce) || ce.Code != wsio.StatusMessageTooBig || ce.Remote {
		t.Fatalf("Next: %v, want this side's 1009", err)
	}
	if got := report(t, id); got != "peer 1005 \"\"" {
		t.Errorf("the server saw %s, want a close without a code", got)
	}
}

// TestBrowserCancel: contexts cancel waits and leave the connection usable.
func TestBrowserCancel(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := wsio.Dial(done, serverURL(t)+"/echo", nil); err != context.Canceled {
		t.Errorf("Dial with a done ctx: %v", err)
	}
	c := dialPath(t, "/echo", nil)
	if _, err := c.Next(done); err != context.Canceled {
		t.Errorf("Next with a done ctx: %v", err)
	}
	if err := c.SendText(done, "x"); err != context.Canceled {
		t.Errorf("SendText with a done ctx: %v", err)
	}
	if w, err := c.BeginBinary(done); w != nil || err != context.Canceled {
		t.Errorf("BeginBinary with a done ctx: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, wsio.ErrClosed) {
		t.Fatalf("Next canceled while waiting: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Next returned %v after its ctx ended", d)
	}

	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Next(context.Background()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Next past the read deadline: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	// A stream whose ctx ends is not sent at all.
	sctx, scancel := context.WithCancel(context.Background())
	w, err := c.BeginBinary(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("never sent")); err != nil {
		t.Fatal(err)
	}
	scancel()
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close of a canceled stream: %v", err)
	}

	lctx := testCtx(t, 20*time.Second)
	if err := c.SendText(lctx, "after"); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Next(lctx); err != nil || m.Text != "after" {
		t.Fatalf("the connection after the cancellations: %q, %v", m.Text, err)
	}

	// A Dial that is canceled while the browser connects.
	dctx, dcancel := context.WithCancel(context.Background())
	dcancel2 := time.AfterFunc(time.Millisecond, dcancel)
	defer dcancel2.Stop()
	if c2, _, err := wsio.Dial(dctx, serverURL(t)+"/echo?slow=1", nil); err == nil {
		_ = c2.CloseNow()
		t.Log("the dial finished before its ctx ended")
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial canceled while connecting: %v", err)
	}
}

// TestBrowserUnsupported: what a browser cannot do is refused, not ignored.
func TestBrowserUnsupported(t *testing.T) {
	echoURL := serverURL(t) + "/echo"
	ctx := testCtx(t, 10*time.Second)
	for name, o := range map[string]*wsio.DialOptions{
		"Header":            {Header: http.Header{"Authorization": {"Bearer x"}}},
		"Compression":       {Options: wsio.Options{Compression: &wsio.Compression{}}},
		"KeepaliveInterval": {Options: wsio.Options{KeepaliveInterval: time.Second}},
		"Proxy":             {Proxy: func(*url.URL) (*url.URL, error) { return nil, nil }},
		"HTTP2":             {HTTP2: true},
	} {
		if _, _, err := wsio.Dial(ctx, echoURL, o); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Dial with %s: %v, want ErrUnsupported", name, err)
		}
	}
	if _, _, err := wsio.Dial(ctx, echoURL, &wsio.DialOptions{Subprotocols: []string{"a b"}}); !errors.Is(err, wsio.ErrBadHandshake) {
		t.Errorf("Dial with a bad subprotocol: %v", err)
	}
	if _, _, err := wsio.Dial(ctx, serverURL(t)+"/no-such-endpoint", nil); !errors.Is(err, wsio.ErrBadHandshake) {
		t.Errorf("Dial of a 404: %v, want ErrBadHandshake", err)
	}
	c := dialPath(t, "/echo", nil)
	if err := c.Ping(ctx, nil); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Ping: %v, want ErrUnsupported", err)
	}
}

// Arith is the net/rpc service the server's /rpc endpoint serves.
type Arith int

// Args are Arith's arguments.
type Args struct {
	A, B int
	Pad  string
}

// TestBrowserNetConnRPC runs net/rpc over stream.NetConn.
func TestBrowserNetConnRPC(t *testing.T) {
	c := dialPath(t, "/rpc", nil)
	nc := stream.NetConn(c)
	client := rpc.NewClient(nc)
	defer client.Close()
	for i := range 20 {
		var got int
		args := &Args{A: i, B: 7, Pad: strings.Repeat("p", i*10000)}
		if err := client.Call("Arith.Multiply", args, &got); err != nil {
			t.Fatalf("Arith.Multiply: %v", err)
		}
		if got != i*7+len(args.Pad) {
			t.Fatalf("Arith.Multiply(%d, 7) = %d", i, got)
		}
	}
	calls := make([]*rpc.Call, 10)
	for i := range calls {
		calls[i] = client.Go("Arith.Multiply", &Args{A: i, B: 3}, new(int), nil)
	}
	for i, call := range calls {
		<-call.Done
		if call.Error != nil || *call.Reply.(*int) != i*3 {
			t.Fatalf("call %d: %v, %v", i, call.Error, *call.Reply.(*int))
		}
	}
}

// TestBrowserWebSocketStream measures what WebSocketStream, where the
// browser has it, would give BeginBinary: two 4 MiB chunks written to its
// writable come back from the echo as two whole messages of 4 MiB, so
// each write is a message of its own and no API of the browser sends one
// message in pieces. BeginBinary therefore buffers to the message's end
// with the plain WebSocket, which every browser has.
func TestBrowserWebSocketStream(t *testing.T) {
	t.Logf("navigator.userAgent: %s", js.Global().Get("navigator").Get("userAgent").String())
	if js.Global().Get("WebSocketStream").Type() != js.TypeFunction {
		t.Skip("this browser has no WebSocketStream")
	}
	probe := js.Global().Get("Function").New("url", `return (async () => {
		const wss = new WebSocketStream(url);
		const { readable, writable } = await wss.opened;
		const w = writable.getWriter(), r = readable.getReader();
		const t0 = performance.now();
		await w.write(new Uint8Array(4 << 20));
		await w.write(new Uint8Array(4 << 20));
		const a = await r.read(), b = await r.read();
		const ms = performance.now() - t0;
		wss.close();
		return [a.value.byteLength, b.value.byteLength, ms];
	})()`)
	res, err := await(testCtx(t, time.Minute), probe.Invoke(serverURL(t)+"/echo"))
	if err != nil {
		t.Fatal(err)
	}
	first, second, ms := res.Index(0).Int(), res.Index(1).Int(), res.Index(2).Float()
	t.Logf("WebSocketStream: two 4 MiB writes came back as messages of %d and %d bytes, in %.0f ms", first, second, ms)
	if first != 4<<20 || second != 4<<20 {
		t.Errorf("the writes came back as %d and %d bytes", first, second)
	}
}

// await waits for a JavaScript promise.
func await(ctx context.Context, promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any { ch <- result{v: args[0]}; return nil })
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	promise.Call("then", ok, fail)
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return js.Undefined(), ctx.Err()
	}
}
