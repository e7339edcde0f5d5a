//go:build !js

package wsio_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
	"github.com/wsio/wsio/stream"
)

// TestHTTP2 runs the WebSocket-over-HTTP/2 (RFC 8441) tests. net/http's
// HTTP/2 server takes extended CONNECT only in a process started with
// GODEBUG=http2xconnect=1 (it reads the variable at start-up), so when
// this process was not, the test runs itself again in a child process of
// the same test binary with the variable added, and passes or fails with
// it: plain `go test ./...` covers HTTP/2 with no setup. The child has
// its own TestMain, so its goroutine-leak check covers these tests.
func TestHTTP2(t *testing.T) {
	if !wsio.ExtendedConnectEnabled() {
		wstest.RerunWithGODEBUG(t, "TestHTTP2", "http2xconnect=1", 10*time.Minute)
		return
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Text", h2Text},
		{"Binary4MiB", h2Binary4MiB},
		{"Compression", h2Compression},
		{"CloseCodes", h2CloseCodes},
		{"Ping", h2Ping},
		{"MessageTooBig", h2MessageTooBig},
		{"Shutdown", h2Shutdown},
		{"ContextCancel", h2ContextCancel},
		{"DialContextCancel", h2DialContextCancel},
		{"ResetMidMessage", h2ResetMidMessage},
		{"ConnectionDies", h2ConnectionDies},
		{"ThousandOnOneConnection", h2Thousand},
		{"FallbackNoHTTP2", h2FallbackNoHTTP2},
		{"H2C", h2H2C},
		{"Hostile", h2Hostile},
		{"Refused", h2Refused},
		{"EventServer", h2EventServer},
		{"StreamFlood", h2StreamFlood},
		{"SlowReader", h2SlowReader},
		{"StreamListener", h2StreamListener},
		{"FailEndsStream", h2FailEndsStream},
		{"IdleClientMemory", h2IdleClientMemory},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// h2Env is a wsio Server mounted on an httptest server speaking HTTP/2
// over TLS (and HTTP/1.1 for clients that ask for it).
type h2Env struct {
	srv   *wsio.Server
	ts    *httptest.Server
	url   string // wss://
	tls   *tls.Config
	conns atomic.Int32 // TCP connections the HTTP server accepted
}

// newH2Server starts an h2Env. mode is "h2" (TLS, ALPN h2 and http/1.1),
// "h1" (TLS, HTTP/1.1 only) or "h2c" (plain TCP, HTTP/1.1 and h2c with
// prior knowledge). Cleanup shuts the Server down.
func newH2Server(t *testing.T, mode string, opts wsio.ServerOptions, handler func(*wsio.Conn)) *h2Env {
	t.Helper()
	e := &h2Env{srv: wsio.NewServer(opts, handler)}
	e.ts = httptest.NewUnstartedServer(e.srv)
	e.ts.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 2000}
	e.ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			e.conns.Add(1)
		}
	}
	e.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	switch mode {
	case "h2":
		e.ts.EnableHTTP2 = true
		e.ts.StartTLS()
	case "h1":
		e.ts.StartTLS()
	case "h2c":
		e.ts.Config.Protocols = new(http.Protocols)
		e.ts.Config.Protocols.SetHTTP1(true)
		e.ts.Config.Protocols.SetUnencryptedHTTP2(true)
		e.ts.Start()
	}
	e.url = wsURL(e.ts.URL)
	if e.ts.Certificate() != nil {
		pool := x509.NewCertPool()
		pool.AddCert(e.ts.Certificate())
		e.tls = &tls.Config{RootCAs: pool}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("cleanup: Shutdown: %v", err)
		}
		e.ts.Close()
	})
	return e
}

// opts returns DialOptions for HTTP/2 to e.
func (e *h2Env) opts() *wsio.DialOptions {
	return &wsio.DialOptions{HTTP2: true, TLSConfig: e.tls}
}

// protoRecorder wraps a handler and records the protocol of each request
// it was given.
type protoRecorder struct {
	mu     sync.Mutex
	protos []string
}

func (p *protoRecorder) wrap(h func(*wsio.Conn)) func(*wsio.Conn) {
	return func(c *wsio.Conn) {
		p.mu.Lock()
		p.protos = append(p.protos, c.Request().Proto)
		p.mu.Unlock()
		h(c)
	}
}

func (p *protoRecorder) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.protos...)
}

func h2Text(t *testing.T) {
	t.Parallel()
	var rec protoRecorder
	e := newH2Server(t, "h2", wsio.ServerOptions{Subprotocols: []string{"chat"}}, rec.wrap(echo))
	o := e.opts()
	o.Subprotocols = []string{"other", "chat"}
	c := dial(t, e.url+"/text", o)
	if c.Subprotocol() != "chat" {
		t.Errorf("Subprotocol = %q, want chat", c.Subprotocol())
	}
	for _, s := range []string{"hello", "", strings.Repeat("é", 5000)} {
		roundTrip(t, c, s)
	}
	if got := rec.all(); len(got) != 1 || got[0] != "HTTP/2.0" {
		t.Errorf("the server saw %v, want one HTTP/2.0 request", got)
	}
}

func h2Binary4MiB(t *testing.T) {
	t.Parallel()
	e := newH2Server(t, "h2", wsio.ServerOptions{}, echo)
	c := dial(t, e.url, e.opts())
	ctx := testCtx(t)
	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	sent := make(chan error, 1)
	go func() {
		w, err := c.BeginBinary(ctx)
		if err == nil {
			_, err = io.Copy(w, bytes.NewReader(data))
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		sent <- err
	}()
	kind, got, err := readMessage(ctx, c)
	if err != nil || kind != wsio.Binary {
		t.Fatalf("readMessage: %v %v", kind, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo of %d bytes differs (got %d bytes)", len(data), len(got))
	}
}

func h2Compression(t *testing.T) {
	t.Parallel()
	e := newH2Server(t, "h2", wsio.ServerOptions{Options: wsio.Options{Compression: &wsio.Compression{Threshold: 1}}}, echo)
	c := dial(t, e.url, e.opts())
	if ext := c.ResponseHeader().Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("Sec-WebSocket-Extensions = %q, want permessage-deflate", ext)
	}
	roundTrip(t, c, strings.Repeat("compress me ", 10000))
	ctx := testCtx(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	if err := c.SendBinary(ctx, data); err != nil {
		t.Fatal(err)
	}
	_, got, err := readMessage(ctx, c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("compressed binary echo: %v, equal %v", err, bytes.Equal(got, data))
	}
}

func h2CloseCodes(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	e := newH2Server(t, "h2", wsio.ServerOptions{}, func(c *wsio.Conn) {
		m, err := c.Next(context.Background())
		if err != nil {
			got <- err
			return
		}
		if m.Text == "close me" {
			_ = c.Close(4002, "server says bye")
			return
		}
		_, err = c.Next(context.Background())
		got <- err
	})
	// The client closes: the server sees its code and reason.
	c := dial(t, e.url, e.opts())
	ctx := testCtx(t)
	if err := c.SendText(ctx, "wait"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(4001, "client says bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ce := wantClose(t, <-got, 4001, true); ce.Reason != "client says bye" {
		t.Errorf("server saw reason %q", ce.Reason)
	}
	// The server closes: the client sees its code and reason.
	c = dial(t, e.url, e.opts())
	if err := c.SendText(ctx, "close me"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Next(ctx)
	if ce := wantClose(t, err, 4002, true); ce.Reason != "server says bye" {
		t.Errorf("client saw reason %q", ce.Reason)
	}
}

func h2Ping(t *testing.T) {
	t.Parallel()
	pinged := make(chan []byte, 1)
	e := newH2Server(t, "h2", wsio.ServerOptions{Options: wsio.Options{OnPong: func(p []byte) {
		select {
		case pinged <- bytes.Clone(p):
		default:
		}
	}}}, func(c *wsio.Conn) {
		go func() { _ = c.Ping(context.Background(), []byte("from server")) }()
		echo(c)
	})
	c := dial(t, e.url, e.opts())
	ctx := testCtx(t)
	go drainUntilClosed(c)
	if err := c.Ping(ctx, []byte("from client")); err != nil {
		t.Fatalf("client Ping: %v", err)
	}
	select {
	case p := <-pinged:
		if string(p) != "from server" {
			t.Errorf("server's pong payload %q", p)
		}
	case <-ctx.Done():
		t.Fatal("the server's ping was not answered")
	}
}

// drainUntilClosed reads c until it ends.
func drainUntilClosed(c *wsio.Conn) {
	for {
		if _, err := c.Next(context.Background()); err != nil {
			return
		}
	}
}

func h2MessageTooBig(t *testing.T) {
	t.Parallel()
	srvErr := make(chan error, 1)
	e := newH2Server(t, "h2", wsio.ServerOptions{Options: wsio.Options{MaxBinaryMessage: 1000}}, func(c *wsio.Conn) {
		_, _, err := readMessage(context.Background(), c)
		srvErr <- err
	})
	c := dial(t, e.url, e.opts())
	ctx := testCtx(t)
	if err := c.SendBinary(ctx, make([]byte, 2000)); err != nil {
		t.Fatalf("SendBinary: %v", err)
	}
	_, err := c.Next(ctx)
	wantClose(t, err, wsio.StatusMessageTooBig, true)
	if !errors.Is(err, wsio.ErrMessageTooBig) {
		t.Errorf("client error %v does not match ErrMessageTooBig", err)
	}
	if err := <-srvErr; !errors.Is(err, wsio.ErrMessageTooBig) {
		t.Errorf("server error %v does not match ErrMessageTooBig", err)
	}
}

func h2Shutdown(t *testing.T) {
	t.Parallel()
	e := newH2Server(t, "h2", wsio.ServerOptions{}, echo)
	c := dial(t, e.url, e.opts())
	roundTrip(t, c, "before")
	waitUntil(t, "the server holds the connection", func() bool { return e.srv.Len() == 1 })
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(testCtx(t)) }()
	_, err := c.Next(testCtx(t))
	wantClose(t, err, wsio.StatusGoingAway, true)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := e.srv.Len(); n != 0 {
		t.Errorf("Len after Shutdown = %d", n)
	}
}

func h2ContextCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	e := newH2Server(t, "h2", wsio.ServerOptions{}, func(c *wsio.Conn) {
		<-release
		_ = c.SendText(context.Background(), "late")
		drain(c)
	})
	c := dial(t, e.url, e.opts())
	// A Next canceled while it waits returns ctx's error and leaves the
	// connection usable.
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with an expiring ctx = %v, want DeadlineExceeded", err)
	}
	close(release)
	if got := nextText(t, testCtx(t), c); got != "late" {
		t.Fatalf("after the canceled Next: %q", got)
	}
	// A ctx already done touches nothing.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := c.SendText(done, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendText with a done ctx = %v", err)
	}
	if _, _, err := wsio.Dial(done, e.url, e.opts()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a done ctx = %v", err)
	}
}

func h2DialContextCancel(t *testing.T) {
	t.Parallel()
	// The server never answers the extended CONNECT: Dial's ctx ends it.
	hold := make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(hold) })
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := wsio.Dial(ctx, wsURL(ts.URL), &wsio.DialOptions{HTTP2: true, TLSConfig: &tls.Config{RootCAs: pool}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > timeout {
		t.Fatalf("Dial took %v", d)
	}
}

func h2ResetMidMessage(t *testing.T) {
	t.Parallel()
	srvErr := make(chan error, 1)
	e := newH2Server(t, "h2", wsio.ServerOptions{}, func(c *wsio.Conn) {
		_, _, err := readMessage(context.Background(), c)
		srvErr <- err
	})
	// A hand-made client: an extended CONNECT whose stream gets the start
	// of a masked binary frame, then is reset (RST_STREAM CANCEL).
	tr := &http2.Transport{TLSClientConfig: e.tls}
	t.Cleanup(tr.CloseIdleConnections)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(testCtx(t))
	req, _ := http.NewRequestWithContext(ctx, http.MethodConnect, strings.Replace(e.url, "wss", "https", 1), pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// FIN binary, masked, 127 => 64-bit length 1 MiB; then 1000 bytes.
	frame := []byte{0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4}
	frame = append(frame, make([]byte, 1000)...)
	if _, err := pw.Write(frame); err != nil {
		t.Fatal(err)
	}
	cancel()
	_ = resp.Body.Close()
	_ = pw.Close()
	select {
	case err := <-srvErr:
		wantClose(t, err, wsio.StatusAbnormalClosure, false)
	case <-time.After(2 * timeout):
		t.Fatal("the server's read did not end after the reset")
	}
	waitUntil(t, "the server drops the connection", func() bool { return e.srv.Len() == 0 })
}

func h2ConnectionDies(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	e := newH2Server(t, "h2", wsio.ServerOptions{}, func(c *wsio.Conn) {
		started <- struct{}{}
		drain(c)
	})
	c := dial(t, e.url, &wsio.DialOptions{HTTP2: true, TLSConfig: e.tls.Clone()})
	<-started
	e.ts.CloseClientConnections() // the TCP connection under the stream dies
	_, err := c.Next(testCtx(t))
	wantClose(t, err, wsio.StatusAbnormalClosure, false)
	waitUntil(t, "the server drops the connection", func() bool { return e.srv.Len() == 0 })
}

func h2Thousand(t *testing.T) {
	const n = 1000
	e := newH2Server(t, "h2", wsio.ServerOptions{}, echo)
	o := &wsio.DialOptions{HTTP2: true, TLSConfig: e.tls.Clone()} // a pool of their own
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	conns := make([]*wsio.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	// The first Dial opens the HTTP/2 connection; the others, dialed all
	// at once, find it (with the server's SETTINGS known, so its stream
	// limit rather than the default 100 applies) and add their streams.
	for i := range conns {
		if i == 1 {
			wg.Wait()
		}
		wg.Go(func() {
			c, _, err := wsio.Dial(ctx, e.url, o)
			if err != nil {
				errs <- fmt.Errorf("dial %d: %w", i, err)
				return
			}
			conns[i] = c
			msg := make([]byte, 1024+i)
			_, _ = rand.Read(msg)
			if err := c.SendBinary(ctx, msg); err != nil {
				errs <- fmt.Errorf("send %d: %w", i, err)
				return
			}
			_, got, err := readMessage(ctx, c)
			if err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("echo %d: %v (equal %v)", i, err, bytes.Equal(got, msg))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.srv.Len(); got != n {
		t.Errorf("the server holds %d connections, want %d", got, n)
	}
	if got := e.conns.Load(); got != 1 {
		t.Errorf("%d TCP connections carried the %d WebSockets, want 1", got, n)
	}
	for _, c := range conns {
		if c != nil {
			wg.Go(func() { _ = c.Close(wsio.StatusNormalClosure, "") })
		}
	}
	wg.Wait()
}

func h2FallbackNoHTTP2(t *testing.T) {
	t.Parallel()
	var rec protoRecorder
	e := newH2Server(t, "h1", wsio.ServerOptions{}, rec.wrap(echo))
	c := dial(t, e.url, e.opts())
	roundTrip(t, c, "over HTTP/1.1")
	if got := rec.all(); len(got) != 1 || got[0] != "HTTP/1.1" {
		t.Errorf("the server saw %v, want one HTTP/1.1 request", got)
	}
}

func h2H2C(t *testing.T) {
	t.Parallel()
	var rec protoRecorder
	e := newH2Server(t, "h2c", wsio.ServerOptions{}, rec.wrap(echo))
	c := dial(t, e.url, &wsio.DialOptions{HTTP2: true})
	roundTrip(t, c, "over h2c")
	c2 := dial(t, e.url, &wsio.DialOptions{HTTP2: true})
	roundTrip(t, c2, "again")
	if got := rec.all(); len(got) != 2 || got[0] != "HTTP/2.0" || got[1] != "HTTP/2.0" {
		t.Errorf("the server saw %v, want two HTTP/2.0 requests", got)
	}
}

// h2Request sends an HTTP/2 request with method and header to e and
// returns the response's status and body.
func h2Request(t *testing.T, e *h2Env, method string, h http.Header) (int, string, http.Header) {
	t.Helper()
	tr := &http2.Transport{TLSClientConfig: e.tls}
	defer tr.CloseIdleConnections()
	pr, pw := io.Pipe()
	defer pw.Close()
	var body io.Reader = pr
	if method == http.MethodGet {
		body = nil
	}
	req, _ := http.NewRequestWithContext(testCtx(t), method, strings.Replace(e.url, "wss", "https", 1)+"/ws", body)
	if method == http.MethodConnect && h.Get(":protocol") == "" {
		req.URL.Path = "" // a plain CONNECT: :authority only
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("the answer came over %s", resp.Proto)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func h2Hostile(t *testing.T) {
	t.Parallel()
	handled := atomic.Int32{}
	e := newH2Server(t, "h2", wsio.ServerOptions{}, func(c *wsio.Conn) { handled.Add(1) })
	for _, tc := range []struct {
		name   string
		method string
		h      http.Header
		status int
		says   string
	}{
		{"no :protocol", http.MethodConnect, http.Header{"Sec-Websocket-Version": {"13"}}, http.StatusBadRequest, "tunnel"},
		{"other :protocol", http.MethodConnect, http.Header{":protocol": {"webtransport"}, "Sec-Websocket-Version": {"13"}}, http.StatusBadRequest, "webtransport"},
		{"wrong version", http.MethodConnect, http.Header{":protocol": {"websocket"}, "Sec-Websocket-Version": {"8"}}, http.StatusUpgradeRequired, "13"},
		{"no version", http.MethodConnect, http.Header{":protocol": {"websocket"}}, http.StatusUpgradeRequired, "13"},
		{"forbidden origin", http.MethodConnect, http.Header{":protocol": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Origin": {"https://evil.example"}}, http.StatusForbidden, "evil.example"},
		{"plain GET", http.MethodGet, http.Header{"Sec-Websocket-Version": {"13"}}, http.StatusBadRequest, "extended CONNECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := h2Request(t, e, tc.method, tc.h)
			if status != tc.status || !strings.Contains(body, tc.says) {
				t.Errorf("answer %d %q, want %d saying %q", status, body, tc.status, tc.says)
			}
			if status == http.StatusUpgradeRequired && h.Get("Sec-Websocket-Version") != "13" {
				t.Errorf("426 without Sec-WebSocket-Version: 13: %v", h)
			}
		})
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("the handler ran %d times", n)
	}
}

func h2Refused(t *testing.T) {
	t.Parallel()
	e := newH2Server(t, "h2", wsio.ServerOptions{Hosts: []string{"only.example"}}, echo)
	_, resp, err := wsio.Dial(testCtx(t), e.url, e.opts())
	var he *wsio.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusMisdirectedRequest || resp == nil || resp.ProtoMajor != 2 {
		t.Fatalf("Dial = %v (%+v), want a 421 over HTTP/2", err, resp)
	}
	if !errors.Is(err, wsio.ErrBadHandshake) {
		t.Errorf("%v does not match ErrBadHandshake", err)
	}
}

func h2EventServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := wsio.NewEventServer(wsio.ServerOptions{}, wsio.Events{
		Text: func(c *wsio.Conn, s string) { _ = c.SendText(ctx, s) },
	})
	ts := httptest.NewUnstartedServer(srv)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() {
		_ = srv.Shutdown(testCtx(t))
		ts.Close()
	})
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	c := dial(t, wsURL(ts.URL), &wsio.DialOptions{HTTP2: true, TLSConfig: &tls.Config{RootCAs: pool}})
	roundTrip(t, c, "event")
	roundTrip(t, c, "again")
}

func h2StreamFlood(t *testing.T) {
	t.Parallel()
	const limit, n = 10, 60
	hold := make(chan struct{})
	e := newH2Server(t, "h2", wsio.ServerOptions{}, func(c *wsio.Conn) {
		<-hold
		drain(c)
	})
	e.srv.MaxConns = limit
	o := &wsio.DialOptions{HTTP2: true, TLSConfig: e.tls.Clone()}
	ctx := testCtx(t)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		opened   []*wsio.Conn
		refused  int
		failures []error
	)
	for i := range n {
		if i == 1 {
			wg.Wait() // the HTTP/2 connection is open: the rest share it
		}
		wg.Go(func() {
			c, resp, err := wsio.Dial(ctx, e.url, o)
			mu.Lock()
			defer mu.Unlock()
			var he *wsio.HandshakeError
			switch {
			case err == nil:
				opened = append(opened, c)
			case errors.As(err, &he) && he.Status == http.StatusServiceUnavailable && resp != nil && resp.ProtoMajor == 2:
				refused++
			default:
				failures = append(failures, err)
			}
		})
	}
	wg.Wait()
	if len(opened) != limit || refused != n-limit || len(failures) > 0 {
		t.Errorf("%d opened, %d refused with 503 over HTTP/2, failures %v; want %d and %d", len(opened), refused, failures, limit, n-limit)
	}
	if got := e.conns.Load(); got != 1 {
		t.Errorf("%d TCP connections, want 1", got)
	}
	close(hold)
	for _, c := range opened {
		wg.Go(func() { _ = c.Close(wsio.StatusNormalClosure, "") })
	}
	wg.Wait()
	waitUntil(t, "the server drops every connection", func() bool { return e.srv.Len() == 0 })
}

// h2SlowReader: a WebSocket whose handler does not read, and one whose
// client does not read, do not hold back another WebSocket on the same
// HTTP/2 connection. Upstream this takes a server whose connection-wide
// receive window is larger than a stream's (net/http's default makes
// both 1 MiB, so one stalled stream could take the whole window).
func h2SlowReader(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var first atomic.Bool
	e := newH2Server(t, "h2", wsio.ServerOptions{}, func(c *wsio.Conn) {
		if first.CompareAndSwap(false, true) {
			// The slow one: sends a lot, reads nothing until released.
			go func() { _ = c.SendBinary(context.Background(), make([]byte, 8<<20)) }()
			<-release
		}
		echo(c)
	})
	e.ts.Config.HTTP2.MaxReceiveBufferPerStream = 256 << 10
	e.ts.Config.HTTP2.MaxReceiveBufferPerConnection = 16 << 20
	o := &wsio.DialOptions{HTTP2: true, TLSConfig: e.tls.Clone()}
	slow := dial(t, e.url, o)
	ctx := testCtx(t)
	sent := make(chan error, 1)
	go func() { sent <- slow.SendBinary(ctx, make([]byte, 8<<20)) }()
	fast := dial(t, e.url, o)
	data := make([]byte, 2<<20)
	_, _ = rand.Read(data)
	for range 3 {
		if err := fast.SendBinary(ctx, data); err != nil {
			t.Fatalf("SendBinary beside a stalled stream: %v", err)
		}
		_, got, err := readMessage(ctx, fast)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("echo beside a stalled stream: %v (equal %v)", err, bytes.Equal(got, data))
		}
	}
	roundTrip(t, fast, "still fast")
	if got := e.conns.Load(); got != 1 {
		t.Errorf("%d TCP connections, want 1", got)
	}
	select {
	case err := <-sent:
		t.Fatalf("the stalled upload finished (%v): the test did not stall it", err)
	default:
	}
	go drainUntilClosed(slow) // takes the server's message and its echo
	close(release)
	if err := <-sent; err != nil {
		t.Fatalf("the stalled upload, released: %v", err)
	}
}

// h2StreamListener: a stream.Listener mounted on an HTTP/2 server hands
// over connections that outlive the request's ServeHTTP call.
func h2StreamListener(t *testing.T) {
	t.Parallel()
	ln := stream.NewListener(nil)
	ts := httptest.NewUnstartedServer(ln)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() {
		_ = ln.Close()
		ts.Close()
	})
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer nc.Close()
		_, err = io.Copy(nc, nc) // echo the bytes until the client closes
		served <- err
	}()
	c := dial(t, wsURL(ts.URL), &wsio.DialOptions{HTTP2: true, TLSConfig: &tls.Config{RootCAs: pool}})
	nc := stream.NetConn(c)
	data := make([]byte, 256<<10)
	_, _ = rand.Read(data)
	go func() { _, _ = nc.Write(data) }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("echo through stream.Listener over HTTP/2: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if err := c.Close(wsio.StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-served:
	case <-time.After(2 * timeout):
		t.Fatal("the listener's side did not end")
	}
}

// TestHTTP2WithoutExtendedConnect runs in a process without
// GODEBUG=http2xconnect=1: the server's HTTP/2 does not advertise extended
// CONNECT, so an HTTP2 Dial falls back to HTTP/1.1, and a request that came
// over HTTP/2 is refused with an answer that says why.
func TestHTTP2WithoutExtendedConnect(t *testing.T) {
	if wsio.ExtendedConnectEnabled() {
		t.Skip("this process has extended CONNECT on")
	}
	t.Parallel()
	var rec protoRecorder
	e := newH2Server(t, "h2", wsio.ServerOptions{}, rec.wrap(echo))
	c := dial(t, e.url, e.opts())
	roundTrip(t, c, "fell back")
	if got := rec.all(); len(got) != 1 || got[0] != "HTTP/1.1" {
		t.Errorf("the server saw %v, want one HTTP/1.1 request", got)
	}
	status, body, _ := h2Request(t, e, http.MethodGet, http.Header{"Sec-Websocket-Version": {"13"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "GODEBUG=http2xconnect=1") {
		t.Errorf("plain HTTP/2 GET: %d %q, want 400 naming GODEBUG=http2xconnect=1", status, body)
	}
}

// failLinger is the longest a failed connection may keep its HTTP/2
// stream open after its close frame: well under the second for which a
// failing Conn reads what its peer still sends, and generous for a busy
// machine.
const failLinger = 700 * time.Millisecond

// h2FailEndsStream: a connection failed for the peer's fault (1002) ends
// its side of the stream right after its close frame, on the server and
// on the client. A peer waits for that, as RFC 6455 section 7.1.1 has a
// client wait for the server's TCP close; over TCP the failing side's
// half-close (FIN) gives it, and without one over HTTP/2 both sides
// waited for the other until the failing side's read timed out.
func h2FailEndsStream(t *testing.T) {
	// closeFrame reads from r up to and including a close frame of at
	// most 125 bytes and returns its code.
	closeFrame := func(r io.Reader) (int, error) {
		for {
			var h [2]byte
			if _, err := io.ReadFull(r, h[:]); err != nil {
				return 0, err
			}
			n := int(h[1] & 0x7f)
			if h[1]&0x80 != 0 {
				n += 4
			}
			p := make([]byte, n)
			if _, err := io.ReadFull(r, p); err != nil {
				return 0, err
			}
			if h[0]&0x0f == 0x8 {
				if h[1]&0x80 != 0 {
					mask := p[:4]
					p = p[4:]
					for i := range p {
						p[i] ^= mask[i%4]
					}
				}
				if len(p) < 2 {
					return 0, nil
				}
				return int(p[0])<<8 | int(p[1]), nil
			}
		}
	}
	// untilEnd reads r to its end and returns how long that took.
	untilEnd := func(r io.Reader) time.Duration {
		start := time.Now()
		_, _ = io.Copy(io.Discard, r)
		return time.Since(start)
	}

	t.Run("Server", func(t *testing.T) {
		t.Parallel()
		e := newH2Server(t, "h2", wsio.ServerOptions{}, drain)
		tr := &http2.Transport{TLSClientConfig: e.tls}
		t.Cleanup(tr.CloseIdleConnections)
		pr, pw := io.Pipe()
		t.Cleanup(func() { _ = pw.Close() })
		req, _ := http.NewRequestWithContext(testCtx(t), http.MethodConnect, strings.Replace(e.url, "wss", "https", 1), pr)
		req.Header.Set(":protocol", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// A masked empty text frame with RSV2 set: a protocol error.
		if _, err := pw.Write([]byte{0xA1, 0x80, 1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		code, err := closeFrame(resp.Body)
		if err != nil || code != int(wsio.StatusProtocolError) {
			t.Fatalf("close frame: code %d, %v; want 1002", code, err)
		}
		// The client answers the close (the server may have ended the
		// stream already, which fails the write) and, as a client should,
		// waits for the server to end the stream.
		_, _ = pw.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xEA})
		if d := untilEnd(resp.Body); d > failLinger {
			t.Errorf("the server ended the stream %v after its close frame, want at most %v", d, failLinger)
		}
	})

	t.Run("Client", func(t *testing.T) {
		t.Parallel()
		took := make(chan time.Duration, 1)
		ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect {
				http.Error(w, "want an extended CONNECT", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK)
			// An unmasked text frame with RSV2 set: a protocol error.
			_, _ = w.Write([]byte{0xA1, 0x00})
			_ = http.NewResponseController(w).Flush()
			code, err := closeFrame(r.Body)
			if err != nil || code != int(wsio.StatusProtocolError) {
				t.Errorf("close frame: code %d, %v; want 1002", code, err)
			}
			// The server does not end the stream: the failing client
			// ends its side.
			took <- untilEnd(r.Body)
		}))
		ts.EnableHTTP2 = true
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		ts.StartTLS()
		t.Cleanup(ts.Close)
		pool := x509.NewCertPool()
		pool.AddCert(ts.Certificate())
		c := dial(t, wsURL(ts.URL), &wsio.DialOptions{HTTP2: true, TLSConfig: &tls.Config{RootCAs: pool}})
		_, err := c.Next(testCtx(t))
		wantClose(t, err, wsio.StatusProtocolError, false)
		select {
		case d := <-took:
			if d > failLinger {
				t.Errorf("the client ended its side of the stream %v after its close frame, want at most %v", d, failLinger)
			}
		case <-time.After(2 * timeout):
			t.Fatal("the client never ended its side of the stream")
		}
	})
}

// h2IdleClientMemory: an idle WebSocket over HTTP/2 costs the process
// (client and server side together) tens of KiB, not the 512 KiB scratch
// buffer x/net's client transport holds per open request body when it
// sends frames as large as Go's servers accept (1 MiB); see
// h2SendFrameMax. It is not parallel, so that the heap it reads is its
// own: TestHTTP2's parallel subtests wait until it is done.
func h2IdleClientMemory(t *testing.T) {
	const n = 100
	e := newH2Server(t, "h2", wsio.ServerOptions{}, drain)
	o := &wsio.DialOptions{HTTP2: true, TLSConfig: e.tls.Clone()} // a pool of its own
	ctx := testCtx(t)
	// One WebSocket first, so the HTTP/2 connection and its buffers are
	// not counted.
	first := dial(t, e.url, o)
	if err := first.SendText(ctx, "warm"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the server has the first connection", func() bool { return e.srv.Len() == 1 })
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	h0 := heap()
	conns := make([]*wsio.Conn, n)
	for i := range conns {
		c, _, err := wsio.Dial(ctx, e.url, o)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns[i] = c
		if err := c.SendText(ctx, "x"); err != nil { // the request body's first Read has begun
			t.Fatal(err)
		}
	}
	waitUntil(t, "the server has every connection", func() bool { return e.srv.Len() == n+1 })
	h1 := heap()
	per := (int64(h1) - int64(h0)) / n
	t.Logf("heap per idle WebSocket over HTTP/2, client and server: %d KiB", per>>10)
	if per > 128<<10 {
		t.Errorf("an idle WebSocket over HTTP/2 costs %d KiB of heap, want at most 128 KiB", per>>10)
	}
	for _, c := range conns {
		_ = c.CloseNow()
	}
	_ = first.CloseNow()
	runtime.KeepAlive(conns)
}
