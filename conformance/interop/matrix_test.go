package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// role says who is the server and whether permessage-deflate is on.
type role struct {
	name       string
	wsioServer bool // wsio is the server, the peer the client
	deflate    bool // both sides enable permessage-deflate

	// Deflate variants: wsio's settings, the peer's (ws perMessageDeflate
	// options as JSON), and parameters the negotiated extension must show.
	comp     *wsio.Compression
	peerOpts string
	wantExt  []string
}

// The plain roles: the peer does not do permessage-deflate (wsio's client
// offers it, as it does by default, and is declined).
var plainRoles = []role{{name: "wsio-server", wsioServer: true}, {name: "wsio-client"}}

// The deflate roles: both sides enable permessage-deflate, which must be
// negotiated.
var deflateRoles = []role{{name: "wsio-server-deflate", wsioServer: true, deflate: true}, {name: "wsio-client-deflate", deflate: true}}

// scenarioTimeout bounds one scenario, connection set-up included.
const scenarioTimeout = 60 * time.Second

// setup is how one scenario's connection is made.
type setup struct {
	opts            wsio.Options // wsio's side, in both roles
	serverProtocols []string     // the server's subprotocols (wsio's or the peer's)
	clientProtocols []string     // the client's offer (wsio's or the peer's)
	peerMax         int          // the peer's message cap (--max), 0 for its default
	peerArgs        []string     // more arguments for the peer program
}

type scenario struct {
	name  string
	setup setup
	run   func(e *env)
}

// received is one message (or the end) the inbox got from Next.
type received struct {
	kind   wsio.Kind
	text   string
	n      int64  // binary: bytes read
	sum    string // binary: hex SHA-256 of them
	rerr   error  // binary: the read's error, if it failed
	err    error  // Next's error: the connection ended
	closed bool   // err is set
}

// inbox reads the connection on its own goroutine for the whole scenario,
// so pings are answered and pongs seen whatever the test is doing. Binary
// messages are hashed as they stream in.
type inbox struct {
	ch   chan received
	stop chan struct{}
}

func startInbox(c *wsio.Conn) *inbox {
	in := &inbox{ch: make(chan received, 64), stop: make(chan struct{})}
	go func() {
		for {
			m, err := c.Next(context.Background())
			var r received
			switch {
			case err != nil:
				r = received{err: err, closed: true}
			case m.Kind == wsio.Text:
				r = received{kind: wsio.Text, text: m.Text}
			default:
				h := sha256.New()
				n, err := io.Copy(h, m)
				r = received{kind: wsio.Binary, n: n, sum: hex.EncodeToString(h.Sum(nil)), rerr: err}
			}
			select {
			case in.ch <- r:
			case <-in.stop:
				return
			}
			if r.closed {
				return
			}
		}
	}()
	return in
}

// env is one scenario's connection between wsio and a peer.
type env struct {
	t      *testing.T
	ctx    context.Context
	p      *peer
	role   role
	c      *wsio.Conn
	in     *inbox
	peer   *proc
	url    string // the peer server's URL (when wsio is the client)
	opened event  // the peer's open event
	pings  chan string
}

// open connects wsio and the peer p in role for one scenario.
func open(t *testing.T, p *peer, role role, s setup) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, p: p, role: role, pings: make(chan string, 16)}
	opts := s.opts
	user := opts.OnPing
	opts.OnPing = func(b []byte) {
		select {
		case e.pings <- string(b):
		default:
		}
		if user != nil {
			user(b)
		}
	}
	peerArgs := slices.Clone(s.peerArgs)
	if s.peerMax > 0 {
		peerArgs = append(peerArgs, "--max", strconv.Itoa(s.peerMax))
	}
	if role.deflate {
		if role.peerOpts != "" {
			peerArgs = append(peerArgs, "--deflate-opts", role.peerOpts)
		} else {
			peerArgs = append(peerArgs, "--deflate")
		}
		switch {
		case role.comp != nil:
			c := *role.comp
			opts.Compression = &c
		case opts.Compression == nil:
			opts.Compression = &wsio.Compression{} // a server accepts only when set
		}
	}
	if role.wsioServer {
		if len(s.clientProtocols) > 0 {
			peerArgs = append(peerArgs, "--protocols", strings.Join(s.clientProtocols, ","))
		}
		conns := make(chan *wsio.Conn, 1)
		done := make(chan struct{})
		srv := wsio.NewServer(wsio.ServerOptions{Options: opts, Subprotocols: s.serverProtocols}, func(c *wsio.Conn) {
			select {
			case conns <- c:
			default:
				_ = c.Close(wsio.StatusPolicyViolation, "one connection per scenario")
				return
			}
			select {
			case <-c.Done():
			case <-done:
			}
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() {
			close(done)
			_ = srv.Close()
		})
		url := fmt.Sprintf("ws://%s/interop", ln.Addr())
		e.peer = startProc(t, p.name, p.argv(append([]string{"client", url}, peerArgs...)...))
		select {
		case e.c = <-conns:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s client did not connect within 15 s; stderr:\n%s", p.name, e.peer.stderr.String())
		}
	} else {
		if len(s.serverProtocols) > 0 {
			peerArgs = append(peerArgs, "--protocols", strings.Join(s.serverProtocols, ","))
		}
		e.peer = startProc(t, p.name, p.argv(append([]string{"server", "0"}, peerArgs...)...))
		ev := e.peer.wait("listening", 15*time.Second)
		e.url = fmt.Sprintf("ws://127.0.0.1:%d/interop", ev.Port)
		e.c = e.dial(opts, s.clientProtocols)
	}
	e.opened = e.peer.wait("open", 15*time.Second)
	if got := strings.Contains(e.opened.Extensions, "permessage-deflate"); got != role.deflate {
		t.Fatalf("%s reports extensions %q; want permessage-deflate %v", p.name, e.opened.Extensions, role.deflate)
	}
	if !role.wsioServer {
		h := e.c.ResponseHeader().Get("Sec-WebSocket-Extensions")
		// ws reports only extension names; the parameters it agreed to
		// are in its handshake response.
		for _, w := range role.wantExt {
			if !strings.Contains(h, w) {
				t.Fatalf("the handshake response has extensions %q; want %s negotiated", h, w)
			}
		}
		if got := strings.Contains(h, "permessage-deflate"); got != role.deflate {
			t.Fatalf("the handshake response has extensions %q; want permessage-deflate %v", h, role.deflate)
		}
	}
	e.in = startInbox(e.c)
	c, in := e.c, e.in
	t.Cleanup(func() {
		close(in.stop)
		if c.State() != wsio.Closed {
			_ = c.Transport().Close()
		}
	})
	return e
}

// dial opens another wsio client connection to the peer server.
func (e *env) dial(opts wsio.Options, protocols []string) *wsio.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, e.url, &wsio.DialOptions{Options: opts, Subprotocols: protocols})
	if err != nil {
		e.t.Fatalf("dialing %s at %s: %v; stderr:\n%s", e.p.name, e.url, err, e.peer.stderr.String())
	}
	return c
}

// finish closes what the scenario left open and checks that a peer client
// exits by itself once the connection is closed.
func (e *env) finish() {
	e.t.Helper()
	if e.c.State() == wsio.Open {
		if err := e.c.Close(wsio.StatusNormalClosure, ""); err != nil {
			e.t.Errorf("closing: %v", err)
		}
	}
	if e.role.wsioServer {
		if err := e.peer.waitExit(10 * time.Second); err != nil {
			e.t.Errorf("%s client after the close: %v", e.p.name, err)
		}
	}
}

// next returns the next thing the inbox got.
func (e *env) next() received {
	e.t.Helper()
	select {
	case r := <-e.in.ch:
		return r
	case <-e.ctx.Done():
		e.t.Fatalf("nothing received from %s before the scenario's deadline; stderr:\n%s", e.p.name, e.peer.stderr.String())
	}
	panic("unreachable")
}

func (e *env) nextOK(kind wsio.Kind) received {
	e.t.Helper()
	r := e.next()
	if r.closed {
		e.t.Fatalf("want a %v message, got the end: %v", kind, r.err)
	}
	if r.kind != kind {
		e.t.Fatalf("want a %v message, got %v (%.80q)", kind, r.kind, r.text)
	}
	if r.rerr != nil {
		e.t.Fatalf("reading a binary message: %v", r.rerr)
	}
	return r
}

func (e *env) sendText(s string) {
	e.t.Helper()
	if err := e.c.SendText(e.ctx, s); err != nil {
		e.t.Fatalf("SendText: %v", err)
	}
}

// cmd sends the peer a command (see peers/node/interop-agent.js).
func (e *env) cmd(op string, kv ...any) {
	e.t.Helper()
	m := map[string]any{"op": op}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sendText("cmd:" + string(b))
}

func (e *env) expectText(want string) {
	e.t.Helper()
	got := e.nextOK(wsio.Text).text
	if got != want {
		e.t.Fatalf("text: got %d bytes %.60q, want %d bytes %.60q", len(got), got, len(want), want)
	}
}

// reply is what a peer answers a command with.
type reply struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Protocol string `json:"protocol"`
	Lib      string `json:"lib"`
	Len      int64  `json:"len"`
	Sha256   string `json:"sha256"`
	Chunks   int    `json:"chunks"`
	Frames   int    `json:"frames"`
	Pong     string `json:"pong"`
}

func (e *env) expectReply() reply {
	e.t.Helper()
	s := e.nextOK(wsio.Text).text
	var r reply
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		e.t.Fatalf("reply %.100q: %v", s, err)
	}
	if r.Error != "" {
		e.t.Fatalf("peer: %s", r.Error)
	}
	return r
}

// expectClose waits for the end of the connection and returns how it ended.
func (e *env) expectClose() *wsio.CloseError {
	e.t.Helper()
	for {
		r := e.next()
		if !r.closed {
			e.t.Logf("before the close: a %v message (%d bytes, read error %v)", r.kind, max(r.n, int64(len(r.text))), r.rerr)
			continue
		}
		var ce *wsio.CloseError
		if !errors.As(r.err, &ce) {
			e.t.Fatalf("the connection ended with %v (%T), want a *wsio.CloseError", r.err, r.err)
		}
		if !errors.Is(r.err, wsio.ErrClosed) {
			e.t.Errorf("%v does not match wsio.ErrClosed", r.err)
		}
		return ce
	}
}

// peerClose waits for the peer to report the close it saw.
func (e *env) peerClose() (int, string) {
	e.t.Helper()
	ev := e.peer.wait("close", 15*time.Second)
	if ev.Code == nil {
		return 0, ev.Reason
	}
	return *ev.Code, ev.Reason
}

// peerFailed1009 checks that the peer reports closing with 1009: as the
// close it saw (wsio's answer), or as the code it sent (ws and Python
// stop reading once they fail a connection, so they may see 1006).
func (e *env) peerFailed1009() {
	e.t.Helper()
	ev := e.peer.wait("close", 15*time.Second)
	if (ev.Code == nil || *ev.Code != 1009) && (ev.Sent == nil || *ev.Sent != 1009) {
		e.t.Errorf("%s reported %s, want close code 1009", e.p.name, ev.raw)
	}
}

// sendStream sends size pseudo-random bytes as one message through
// BeginBinary and returns their hex SHA-256.
func (e *env) sendStream(size int64, seed byte) string {
	e.t.Helper()
	w, err := e.c.BeginBinary(e.ctx)
	if err != nil {
		e.t.Fatalf("BeginBinary: %v", err)
	}
	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8([32]byte{seed}), size)
	if _, err := io.Copy(w, io.TeeReader(src, h)); err != nil {
		e.t.Fatalf("streaming %d bytes: %v", size, err)
	}
	if err := w.Close(); err != nil {
		e.t.Fatalf("closing the stream: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (e *env) setMode(mode string) {
	e.t.Helper()
	e.cmd("mode", "binary", mode)
	if r := e.expectReply(); !r.OK {
		e.t.Fatalf("mode %s: %+v", mode, r)
	}
}

// checkClose compares a close with the wanted code, reason and side.
func checkClose(t *testing.T, ce *wsio.CloseError, code wsio.StatusCode, reason string, remote bool) {
	t.Helper()
	if ce.Code != code || ce.Remote != remote || (reason != "*" && ce.Reason != reason) {
		t.Errorf("close: got code %d reason %q remote %v (%v), want code %d reason %q remote %v",
			ce.Code, ce.Reason, ce.Remote, ce, code, reason, remote)
	}
}

const (
	bigBinary   = 64 << 20 // the big binary message, each way
	bigDeflated = 16 << 20 // the same with permessage-deflate
)

// tooBigForPeer caps the peer's messages at 64 KiB. Python's websockets
// stops reading after it fails a connection with 1009, so as a client it
// sees the server's TCP close only at its close timeout: 2 s rather than 10.
var tooBigForPeer = setup{peerMax: 64 << 10, peerArgs: []string{"--close-timeout", "2"}}

var multiByte = "héllo wörld — 你好 🌍 ✓"

// scenarios is the matrix every peer runs, in both roles.
var scenarios = []scenario{
	{name: "text", run: func(e *env) {
		for _, s := range []string{"hello", "", multiByte, strings.Repeat("ü€😀a", 60000)} {
			e.sendText(s)
			e.expectText(s)
		}
		// From the peer: a text message in several frames where it can.
		e.cmd("sendtext", "parts", []string{"héllo ", "wörld ", "🌍 ✓"})
		e.expectText("héllo wörld 🌍 ✓")
		// Frames that split UTF-8 sequences (ws sends them as such; the
		// others join the bytes into one frame).
		raw := []byte("split 🌍 and ✓!")
		i, j := strings.Index(string(raw), "🌍"), strings.Index(string(raw), "✓")
		var parts []string
		for _, p := range [][]byte{raw[:i+1], raw[i+1 : i+3], raw[i+3 : j+2], raw[j+2:]} {
			parts = append(parts, base64.StdEncoding.EncodeToString(p))
		}
		e.cmd("sendtext", "b64parts", parts)
		e.expectText(string(raw))
	}},
	{name: "binary-big", run: func(e *env) {
		size := int64(bigBinary)
		if e.role.deflate {
			size = bigDeflated // random bytes: compressing them is all cost
		}
		e.setMode("hash")
		start := time.Now()
		sum := e.sendStream(size, 1)
		r := e.expectReply()
		if r.Len != size || r.Sha256 != sum {
			e.t.Fatalf("wsio → %s: peer got %d bytes sha256 %s, sent %d bytes sha256 %s", e.p.name, r.Len, r.Sha256, size, sum)
		}
		e.t.Logf("wsio → %s: %d MiB in %v (peer saw %d chunks)", e.p.name, size>>20, time.Since(start).Round(time.Millisecond), r.Chunks)
		start = time.Now()
		e.cmd("sendbin", "size", size, "frag", 1<<20)
		m := e.nextOK(wsio.Binary)
		r = e.expectReply()
		if m.n != size || r.Len != size || m.sum != r.Sha256 {
			e.t.Fatalf("%s → wsio: got %d bytes sha256 %s, peer sent %d bytes sha256 %s", e.p.name, m.n, m.sum, r.Len, r.Sha256)
		}
		e.t.Logf("%s → wsio: %d MiB in %d frames in %v", e.p.name, size>>20, r.Frames, time.Since(start).Round(time.Millisecond))
		// Echoes of the sizes around the length encodings, and a
		// compressible one.
		e.setMode("echo")
		for i, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 100_000, -1 << 20} {
			var b []byte
			if n < 0 {
				n = -n
				b = bytes.Repeat([]byte("compressible wsio "), n/18+1)[:n]
			} else {
				b = wstest.RandomBytes(n, uint64(i))
			}
			if err := e.c.SendBinary(e.ctx, b); err != nil {
				e.t.Fatalf("SendBinary(%d bytes): %v", n, err)
			}
			m := e.nextOK(wsio.Binary)
			if m.n != int64(n) || m.sum != sha(b) {
				e.t.Fatalf("echo of %d bytes: got %d bytes, sha256 %s want %s", n, m.n, m.sum, sha(b))
			}
		}
	}},
	{name: "fragmented", run: func(e *env) {
		e.cmd("sendbin", "size", 300_001, "frag", 1000)
		m := e.nextOK(wsio.Binary)
		r := e.expectReply()
		if m.n != r.Len || m.sum != r.Sha256 || r.Len != 300_001 {
			e.t.Fatalf("got %d bytes sha256 %s, peer sent %d bytes sha256 %s", m.n, m.sum, r.Len, r.Sha256)
		}
		var parts []string
		for i := range 40 {
			parts = append(parts, fmt.Sprintf("ü€😀-%02d|", i))
		}
		e.cmd("sendtext", "parts", parts)
		e.expectText(strings.Join(parts, ""))
	}},
	{name: "ping", run: func(e *env) {
		for i := range 3 {
			ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
			err := e.c.Ping(ctx, []byte("wsio-ping-"+strconv.Itoa(i)))
			cancel()
			if err != nil {
				e.t.Fatalf("Ping %d: %v (want the peer's automatic pong)", i, err)
			}
		}
		e.cmd("ping", "data", "peer-ping ✓")
		if r := e.expectReply(); r.Pong != "peer-ping ✓" {
			e.t.Fatalf("peer's ping: pong %q", r.Pong)
		}
		select {
		case p := <-e.pings:
			if p != "peer-ping ✓" {
				e.t.Errorf("OnPing saw %q", p)
			}
		default:
			e.t.Errorf("OnPing was not called")
		}
	}},
	{name: "close-by-peer", run: func(e *env) {
		e.cmd("close", "code", 4001, "reason", "bye")
		checkClose(e.t, e.expectClose(), 4001, "bye", true)
		select {
		case <-e.c.Done():
		case <-time.After(10 * time.Second):
			e.t.Fatal("Done not closed 10 s after the peer's close")
		}
		var ce *wsio.CloseError
		if !errors.As(e.c.Err(), &ce) {
			e.t.Fatalf("Err() = %v", e.c.Err())
		}
		checkClose(e.t, ce, 4001, "bye", true)
		code, reason := e.peerClose()
		e.t.Logf("%s saw close %d %q", e.p.name, code, reason)
		if code == 1006 {
			e.t.Errorf("%s saw an abnormal closure (1006), want wsio's answer to its close frame", e.p.name)
		}
	}},
	{name: "close-by-peer-utf8", run: func(e *env) {
		e.cmd("close", "code", 4002, "reason", "au revoir ✓ 再见")
		checkClose(e.t, e.expectClose(), 4002, "au revoir ✓ 再见", true)
	}},
	{name: "close-by-wsio", run: func(e *env) {
		if err := e.c.Close(4003, "ciao ✓ from wsio"); err != nil {
			e.t.Errorf("Close: %v (want nil: the peer answers)", err)
		}
		code, reason := e.peerClose()
		if code != 4003 || reason != "ciao ✓ from wsio" {
			e.t.Errorf("%s saw close %d %q, want 4003 %q", e.p.name, code, reason, "ciao ✓ from wsio")
		}
		ce := e.expectClose()
		checkClose(e.t, ce, 4003, "ciao ✓ from wsio", false)
	}},
	{
		name: "subprotocol",
		setup: setup{
			serverProtocols: []string{"wsio.v2", "chat"},
			clientProtocols: []string{"x-unknown", "chat", "wsio.v2"},
		},
		run: func(e *env) {
			got := e.c.Subprotocol()
			e.cmd("info")
			r := e.expectReply()
			e.t.Logf("%s (%s) agreed on %q", r.Lib, e.role.name, got)
			if got != r.Protocol || got != e.opened.Protocol {
				e.t.Errorf("wsio chose %q, the peer says %q (open event %q)", got, r.Protocol, e.opened.Protocol)
			}
			if e.role.wsioServer && got != "wsio.v2" {
				e.t.Errorf("wsio server chose %q, want %q (its own preference)", got, "wsio.v2")
			}
			if !slices.Contains([]string{"wsio.v2", "chat"}, got) {
				e.t.Errorf("chose %q, which both sides do not speak", got)
			}
			if !e.role.wsioServer {
				// No protocol in common: the server picks none.
				c2 := e.dial(wsio.Options{}, []string{"nope"})
				if p := c2.Subprotocol(); p != "" {
					e.t.Errorf("offering only %q: got %q", "nope", p)
				}
				if ev := e.peer.wait("open", 10*time.Second); ev.Protocol != "" {
					e.t.Errorf("%s chose %q", e.p.name, ev.Protocol)
				}
				if err := c2.Close(wsio.StatusNormalClosure, ""); err != nil {
					e.t.Errorf("closing the second connection: %v", err)
				}
			}
		},
	},
	{
		name:  "text-too-big-for-wsio",
		setup: setup{opts: wsio.Options{BufferCap: 64 << 10}},
		run: func(e *env) {
			e.cmd("bigtext", "size", 100_000)
			ce := e.expectClose()
			checkClose(e.t, ce, wsio.StatusMessageTooBig, "*", false)
			if !errors.Is(ce, wsio.ErrMessageTooBig) {
				e.t.Errorf("%v does not match ErrMessageTooBig", ce)
			}
			if code, _ := e.peerClose(); code != 1009 {
				e.t.Errorf("%s saw close code %d, want 1009", e.p.name, code)
			}
		},
	},
	{
		name:  "binary-too-big-for-wsio",
		setup: setup{opts: wsio.Options{MaxBinaryMessage: 256 << 10}},
		run: func(e *env) {
			e.cmd("sendbin", "size", 1<<20, "frag", 0)
			ce := e.expectClose()
			checkClose(e.t, ce, wsio.StatusMessageTooBig, "*", false)
			if !errors.Is(ce, wsio.ErrMessageTooBig) {
				e.t.Errorf("%v does not match ErrMessageTooBig", ce)
			}
			if code, _ := e.peerClose(); code != 1009 {
				e.t.Errorf("%s saw close code %d, want 1009", e.p.name, code)
			}
		},
	},
	{
		name:  "text-too-big-for-peer",
		setup: tooBigForPeer,
		run: func(e *env) {
			// 1 MiB: nodejs-websocket caps the bytes it holds unparsed, not
			// messages, so the frame must outgrow what one socket read brings.
			e.sendText(strings.Repeat("é", 512<<10))
			checkClose(e.t, e.expectClose(), wsio.StatusMessageTooBig, "*", true)
			e.peerFailed1009()
		},
	},
	{
		name:  "binary-too-big-for-peer",
		setup: tooBigForPeer,
		run: func(e *env) {
			if err := e.c.SendBinary(e.ctx, wstest.RandomBytes(1<<20, 9)); err != nil {
				e.t.Logf("SendBinary: %v (the peer may close first)", err)
			}
			checkClose(e.t, e.expectClose(), wsio.StatusMessageTooBig, "*", true)
			e.peerFailed1009()
		},
	},
	{
		// nodejs-websocket: its beginBinary stream (frames of
		// binaryFragmentation bytes, then a short final one) read by
		// wsio's streaming reader.
		name: "peer-stream-to-wsio-reader",
		run: func(e *env) {
			const size = 5<<20 + 7
			e.cmd("sendbin", "size", size, "frag", 64<<10)
			m := e.nextOK(wsio.Binary)
			r := e.expectReply()
			if m.n != size || r.Len != size || m.sum != r.Sha256 {
				e.t.Fatalf("got %d bytes sha256 %s, peer sent %d bytes sha256 %s", m.n, m.sum, r.Len, r.Sha256)
			}
		},
	},
	{
		// wsio's BeginBinary (frames of 64 KiB) read by the peer; with
		// nodejs-websocket, its "binary" inStream event.
		name:  "BeginBinary-to-peer",
		setup: setup{opts: wsio.Options{FragmentSize: 64 << 10}},
		run: func(e *env) {
			const size = 5 << 20
			e.setMode("hash")
			sum := e.sendStream(size, 2)
			r := e.expectReply()
			if r.Len != size || r.Sha256 != sum {
				e.t.Fatalf("peer got %d bytes sha256 %s, sent %d bytes sha256 %s", r.Len, r.Sha256, size, sum)
			}
			e.t.Logf("%s received it in %d chunks", e.p.name, r.Chunks)
			if e.p == nodejsWebsocketPeer && r.Chunks < 2 {
				e.t.Errorf("nodejs-websocket's inStream gave %d chunk(s), want it streamed", r.Chunks)
			}
		},
	},
}

func runMatrix(t *testing.T, p *peer) {
	requirePeer(t, p)
	roles := plainRoles
	if p.deflate {
		roles = append(slices.Clone(roles), deflateRoles...)
	}
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					e := open(t, p, role, sc.setup)
					sc.run(e)
					e.finish()
				})
			}
		})
	}
}

func TestWS(t *testing.T) { runMatrix(t, wsPeer) }

// TestWSDeflateParameters runs the streaming scenarios against Node's ws
// with permessage-deflate parameter sets other than the defaults, in both
// roles: no context takeover either way, small windows, and a mix.
func TestWSDeflateParameters(t *testing.T) {
	requirePeer(t, wsPeer)
	variants := []struct {
		name     string
		comp     wsio.Compression
		peerOpts string
		wantExt  []string
	}{
		{"no-context-takeover", wsio.Compression{NoContextTakeover: true, PeerNoContextTakeover: true},
			`{"serverNoContextTakeover":true,"clientNoContextTakeover":true}`,
			[]string{"server_no_context_takeover", "client_no_context_takeover"}},
		{"window-bits-10", wsio.Compression{WindowBits: 10, PeerWindowBits: 10},
			`{"serverMaxWindowBits":10,"clientMaxWindowBits":10}`,
			[]string{"server_max_window_bits=10", "client_max_window_bits=10"}},
		{"mixed", wsio.Compression{PeerNoContextTakeover: true, PeerWindowBits: 9, Threshold: -1},
			`{"serverNoContextTakeover":true,"clientMaxWindowBits":9,"serverMaxWindowBits":9,"threshold":0}`,
			[]string{"server_no_context_takeover"}},
	}
	keep := map[string]bool{"text": true, "fragmented": true, "peer-stream-to-wsio-reader": true, "BeginBinary-to-peer": true}
	for _, v := range variants {
		for _, wsioServer := range []bool{true, false} {
			r := role{name: v.name + "/wsio-client", wsioServer: wsioServer, deflate: true, comp: &v.comp, peerOpts: v.peerOpts, wantExt: v.wantExt}
			if wsioServer {
				r.name = v.name + "/wsio-server"
			}
			t.Run(r.name, func(t *testing.T) {
				for _, sc := range scenarios {
					if !keep[sc.name] {
						continue
					}
					t.Run(sc.name, func(t *testing.T) {
						e := open(t, wsPeer, r, sc.setup)
						sc.run(e)
						e.finish()
					})
				}
			})
		}
	}
}
func TestNodejsWebsocket(t *testing.T)  { runMatrix(t, nodejsWebsocketPeer) }
func TestPythonWebsockets(t *testing.T) { runMatrix(t, pythonPeer) }
