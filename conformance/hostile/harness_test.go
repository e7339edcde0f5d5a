package hostile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// ---------------------------------------------------------------------
// The server under test.

// result is what one server-side handler saw.
type result struct {
	err      error   // how the handler's read loop ended
	sendErrs []error // failed echoes
	binRead  int64   // binary payload bytes read
	texts    int     // text messages received
	dur      time.Duration
}

// handler runs on one accepted connection and returns how its read loop ended.
type handler func(c *wsio.Conn, res *result) error

// testServer is a wsio.Server served by Server.Serve on a 127.0.0.1
// listener, so net/http's handshake limits apply, with every accepted
// net.Conn wrapped to count bytes.
type testServer struct {
	t      *testing.T
	srv    *wsio.Server
	url    string
	host   string
	served chan error

	mu      sync.Mutex
	results map[string]*result    // by the client's address
	conns   map[string]*countConn // by the client's address
	changed chan struct{}         // closed and replaced on every change
}

// startServer starts a testServer running h with opts. Each setup
// function, if any, is called with the wsio.Server before it
// serves (to set MaxConns, say).
func startServer(t *testing.T, opts wsio.ServerOptions, h handler, setup ...func(*wsio.Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{
		t:       t,
		host:    ln.Addr().String(),
		served:  make(chan error, 1),
		results: make(map[string]*result),
		conns:   make(map[string]*countConn),
		changed: make(chan struct{}),
	}
	s.url = "ws://" + s.host + "/"
	s.srv = wsio.NewServer(opts, func(c *wsio.Conn) {
		start := time.Now()
		res := &result{}
		res.err = h(c, res)
		res.dur = time.Since(start)
		s.mu.Lock()
		s.results[c.RemoteAddr().String()] = res
		s.bumpLocked()
		s.mu.Unlock()
	})
	for _, f := range setup {
		f(s.srv)
	}
	go func() { s.served <- s.srv.Serve(&countListener{Listener: ln, s: s}) }()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) bumpLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// stop shuts the server down; the tests have closed their clients by now
// (cleanups run last-registered first), so this is quick.
func (s *testServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown at the end of the test: %v (a connection was left open)", err)
	}
	select {
	case err := <-s.served:
		if !errors.Is(err, http.ErrServerClosed) {
			s.t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		s.t.Errorf("Serve did not return within 5 s of Shutdown")
	}
}

// result waits up to d for the handler of the connection from addr to return.
func (s *testServer) result(addr string, d time.Duration) (*result, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		r, ch := s.results[addr], s.changed
		s.mu.Unlock()
		if r != nil {
			return r, nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("the server handler for %s did not return within %v", addr, d)
		}
	}
}

// mustResult is result that fails the test on a timeout.
func (s *testServer) mustResult(t *testing.T, addr string, d time.Duration) *result {
	t.Helper()
	r, err := s.result(addr, d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// conn returns the server side of the connection from addr.
func (s *testServer) conn(addr string) *countConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[addr]
}

type countListener struct {
	net.Listener
	s *testServer
}

func (l *countListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &countConn{Conn: nc, acceptedAt: time.Now()}
	c.readAtSecondWrite.Store(-1)
	l.s.mu.Lock()
	l.s.conns[nc.RemoteAddr().String()] = c
	l.s.mu.Unlock()
	return c, nil
}

// countConn counts what the server read. The first write on a connection
// is the 101 response, so readAtSecondWrite tells how much the server had
// read when it wrote its first frame (a close frame, in the limit tests).
type countConn struct {
	net.Conn
	acceptedAt        time.Time
	read              atomic.Int64
	writes            atomic.Int64
	readAtSecondWrite atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	if c.writes.Add(1) == 2 {
		c.readAtSecondWrite.Store(c.read.Load())
	}
	return c.Conn.Write(p)
}

// CloseWrite keeps the half-close wsio uses on a *net.TCPConn.
func (c *countConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// echo returns the handler that echoes text and either echoes binary
// (streamed into BeginBinary) or reads and discards it. A failed echo is
// recorded and the loop goes on reading, so the result is Next's error (or
// a binary Read's).
func echo(discardBinary bool) handler {
	return func(c *wsio.Conn, res *result) error {
		ctx := context.Background()
		buf := make([]byte, 32<<10)
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return err
			}
			switch m.Kind {
			case wsio.Text:
				res.texts++
				if err := c.SendText(ctx, m.Text); err != nil {
					res.sendErrs = append(res.sendErrs, err)
				}
			case wsio.Binary:
				var w *wsio.BinaryWriter
				var werr error
				if !discardBinary {
					if w, werr = c.BeginBinary(ctx); werr != nil {
						res.sendErrs = append(res.sendErrs, werr)
					}
				}
				for {
					n, rerr := m.Read(buf)
					res.binRead += int64(n)
					if n > 0 && w != nil && werr == nil {
						if _, werr = w.Write(buf[:n]); werr != nil {
							res.sendErrs = append(res.sendErrs, werr)
						}
					}
					if rerr == io.EOF {
						break
					}
					if rerr != nil {
						if w != nil {
							_ = w.Close()
						}
						return rerr
					}
				}
				if w != nil && werr == nil {
					if err := w.Close(); err != nil {
						res.sendErrs = append(res.sendErrs, err)
					}
				}
			}
		}
	}
}

// ---------------------------------------------------------------------
// The attacker: raw TCP, hand-written frames.

// maskKey is the attacker's masking key (any key will do; a fixed one keeps
// the bytes of a failing case reproducible).
var maskKey = [4]byte{0x37, 0xFA, 0x21, 0x3D}

// frame encodes a masked client frame; rsv is the three reserved bits as
// a number 0–7 (RSV1 = 4).
func frame(fin bool, rsv byte, op byte, payload []byte) []byte {
	return appendFrame(nil, &wireFrame{Fin: fin, RSV: rsv, Opcode: op, Masked: true, MaskKey: maskKey, Payload: payload})
}

// unmaskedFrame encodes a frame without a mask (a server's frame).
func unmaskedFrame(fin bool, op byte, payload []byte) []byte {
	return appendFrame(nil, &wireFrame{Fin: fin, Opcode: op, Payload: payload})
}

// rawFrame encodes a masked frame with the first byte b0 and the length
// field written exactly as given (the 7-bit code, then any extended
// length), so lengths can be non-minimal or absurd.
func rawFrame(b0 byte, lenField []byte, payload []byte) []byte {
	b := []byte{b0, 0x80 | lenField[0]}
	b = append(b, lenField[1:]...)
	b = append(b, maskKey[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range b[start:] {
		b[start+i] ^= maskKey[i&3]
	}
	return b
}

// len16 and len64 are extended length fields.
func len16(n uint16) []byte { return []byte{126, byte(n >> 8), byte(n)} }

func len64(n uint64) []byte {
	b := []byte{127}
	for i := 7; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

func closePayload(code int, reason string) []byte {
	return wstest.ClosePayload(uint16(code), reason)
}

const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

type attacker struct {
	t  *testing.T
	nc *net.TCPConn
	br *bufio.Reader
}

// dialWS opens a WebSocket connection by hand and closes it when the
// test ends.
func dialWS(t *testing.T, s *testServer) *attacker {
	t.Helper()
	nc, br, err := dialRaw(s.host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{t: t, nc: nc, br: br}
	t.Cleanup(func() { _ = a.nc.Close() })
	return a
}

func (a *attacker) addr() string { return a.nc.LocalAddr().String() }

func (a *attacker) write(b []byte) error {
	_ = a.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := a.nc.Write(b)
	return err
}

func (a *attacker) mustWrite(b ...[]byte) {
	a.t.Helper()
	for _, p := range b {
		if err := a.write(p); err != nil {
			a.t.Fatalf("attacker write: %v", err)
		}
	}
}

func (a *attacker) readFrame(d time.Duration) (*wireFrame, error) {
	_ = a.nc.SetReadDeadline(time.Now().Add(d))
	return readWireFrame(a.br, 64<<20)
}

// awaitClose reads frames until a close frame and returns its code (1005
// for none) and reason, and the frames that came before it.
func (a *attacker) awaitClose(d time.Duration) (code int, reason string, before []*wireFrame, err error) {
	deadline := time.Now().Add(d)
	for {
		f, err := a.readFrame(time.Until(deadline))
		if err != nil {
			return 0, "", before, err
		}
		if f.Opcode != opClose {
			before = append(before, f)
			continue
		}
		if f.Masked {
			return 0, "", before, errors.New("the server sent a masked close frame")
		}
		switch len(f.Payload) {
		case 0:
			return 1005, "", before, nil
		case 1:
			return 0, "", before, errors.New("close frame with a 1-byte payload")
		}
		return int(f.Payload[0])<<8 | int(f.Payload[1]), string(f.Payload[2:]), before, nil
	}
}

// awaitEOF reads until the server closes the connection (EOF or reset),
// discarding data, and reports how long that took; an error means the
// connection was still open after d.
func (a *attacker) awaitEOF(d time.Duration) (time.Duration, error) {
	return awaitEOF(a.nc, a.br, d)
}

func awaitEOF(nc net.Conn, r io.Reader, d time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = nc.SetReadDeadline(start.Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := r.Read(buf)
		if err == nil {
			continue
		}
		if isClosedErr(err) {
			return time.Since(start), nil
		}
		return time.Since(start), err
	}
}

// isClosedErr reports whether a read error means the peer closed or reset
// the connection.
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// reset makes Close send a TCP RST instead of a FIN.
func (a *attacker) reset() {
	_ = a.nc.SetLinger(0)
	_ = a.nc.Close()
}

// ---------------------------------------------------------------------
// Checks.

// checkCloseErr reports how err differs from a *wsio.CloseError with the
// given code and side whose chain matches every cause; "" when it matches.
func checkCloseErr(err error, code wsio.StatusCode, remote bool, causes ...error) string {
	var ce *wsio.CloseError
	if !errors.As(err, &ce) {
		return fmt.Sprintf("got %v (%T), want a *wsio.CloseError with code %d", err, err, code)
	}
	var bad []string
	if ce.Code != code {
		bad = append(bad, fmt.Sprintf("code %d, want %d", ce.Code, code))
	}
	if ce.Remote != remote {
		bad = append(bad, fmt.Sprintf("Remote %v, want %v", ce.Remote, remote))
	}
	if !errors.Is(err, wsio.ErrClosed) {
		bad = append(bad, "does not match wsio.ErrClosed")
	}
	for _, c := range causes {
		if !errors.Is(err, c) {
			bad = append(bad, fmt.Sprintf("does not match %q", c))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%v: %s", err, strings.Join(bad, "; "))
}

// isDeadlineErr reports whether err is a write deadline or context error.
func isDeadlineErr(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// ---------------------------------------------------------------------
// Heap.

// heapWatch samples the heap in use (HeapInuse) every few milliseconds
// with GOGC lowered to 20, so garbage cannot pile up to hide or fake a
// leak: the peak then tracks the live heap closely.
type heapWatch struct {
	base    uint64
	peak    atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	oldGC   int
	stopped bool
}

var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
}

// heapInuse returns what runtime.MemStats.HeapInuse would, without
// stopping the world.
func heapInuse() uint64 {
	s := make([]metrics.Sample, len(heapSamples))
	copy(s, heapSamples)
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// liveHeap collects garbage and returns the heap in use.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func watchHeap(t *testing.T) *heapWatch {
	h := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	h.oldGC = debug.SetGCPercent(20)
	runtime.GC()
	h.base = liveHeap()
	h.peak.Store(h.base)
	go func() {
		defer close(h.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				if v := heapInuse(); v > h.peak.Load() {
					h.peak.Store(v)
				}
			}
		}
	}()
	t.Cleanup(h.end)
	return h
}

// growth returns the peak heap in use so far above the baseline.
func (h *heapWatch) growth() int64 {
	if v := heapInuse(); v > h.peak.Load() {
		h.peak.Store(v)
	}
	return int64(h.peak.Load()) - int64(h.base)
}

func (h *heapWatch) end() {
	if h.stopped {
		return
	}
	h.stopped = true
	close(h.stop)
	<-h.done
	debug.SetGCPercent(h.oldGC)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// dialClient opens a wsio client connection and closes it when the test ends.
func dialClient(t *testing.T, url string, o *wsio.DialOptions) *wsio.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("wsio.Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Transport().Close() })
	return c
}

// echoRoundTrip sends text on c and waits for its echo; it returns the
// round-trip time.
func echoRoundTrip(c *wsio.Conn, text string, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	if err := c.SendText(ctx, text); err != nil {
		return 0, fmt.Errorf("SendText: %w", err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		return 0, fmt.Errorf("Next: %w", err)
	}
	if m.Kind != wsio.Text || m.Text != text {
		return 0, fmt.Errorf("echo %v %q, want text %q", m.Kind, m.Text, text)
	}
	return time.Since(start), nil
}

// desc describes an error for the report: a *wsio.CloseError by code,
// side and the sentinels its chain matches; anything else by its text.
func desc(err error) string {
	if err == nil {
		return "nil"
	}
	sentinels := []struct {
		name string
		err  error
	}{
		{"ErrProtocol", wsio.ErrProtocol}, {"ErrInvalidUTF8", wsio.ErrInvalidUTF8}, {"ErrMessageTooBig", wsio.ErrMessageTooBig},
		{"ErrKeepalive", wsio.ErrKeepalive}, {"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF}, {"io.EOF", io.EOF},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded}, {"context.DeadlineExceeded", context.DeadlineExceeded},
		{"ECONNRESET", syscall.ECONNRESET},
	}
	var matched []string
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			matched = append(matched, s.name)
		}
	}
	var ce *wsio.CloseError
	if !errors.As(err, &ce) {
		s := err.Error()
		if len(s) > 90 {
			s = s[:90] + "…"
		}
		if len(matched) > 0 {
			return fmt.Sprintf("%q (matches %s)", s, strings.Join(matched, ", "))
		}
		return fmt.Sprintf("%q", s)
	}
	who := "local"
	if ce.Remote {
		who = "remote"
	}
	s := fmt.Sprintf("CloseError %d %s", ce.Code, who)
	if ce.Reason != "" && len(ce.Reason) <= 20 {
		s += fmt.Sprintf(" %q", ce.Reason)
	}
	if len(matched) > 0 {
		s += " matching " + strings.Join(matched, ", ")
	}
	if error(ce) != err {
		s = "error wrapping " + s
	}
	return s
}
