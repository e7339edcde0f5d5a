// Package h2ws runs the conformance engine (package suite) over HTTP/2:
// it opens and accepts WebSockets as RFC 8441 extended CONNECT streams and
// hands the engine each stream as a net.Conn, on which the engine writes
// and reads its raw frames exactly as it does over TCP. Dialer.Dial is a
// suite.DialFunc and Accept a suite.AcceptFunc.
//
// It uses net/http and golang.org/x/net/http2 only, never the library
// under test: the client side is an http2.Transport whose request body (a
// pipe) carries the engine's bytes up and whose response body carries the
// peer's bytes down; the server side is an http.Handler's request body and
// flushed ResponseWriter.
//
// What the engine means by TCP maps onto the stream like this:
//
//   - The peer closing TCP is the peer ending its side of the stream
//     (END_STREAM, read as io.EOF) or resetting it (RST_STREAM, a read
//     error): the engine takes either as the connection's end.
//   - The engine dropping TCP (Close) is, on the client side, ending the
//     request body (END_STREAM, after what was written has gone out, as a
//     FIN follows the data before it) and then resetting the stream
//     (RST_STREAM CANCEL), as a socket closed with data left unread
//     resets; on the server side it is the handler returning, which ends
//     the response (END_STREAM), and a Write still blocked by flow control
//     resets the stream first.
//   - The opening handshake is the extended CONNECT: the engine's client
//     checks a 200 and the response's Sec-WebSocket-Extensions; there is
//     no Sec-WebSocket-Key or Accept over HTTP/2 (RFC 8441 section 5).
//   - Deadlines are hard bounds only (the engine sets one per case): when
//     one passes the stream is closed as by Close.
package h2ws

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// linger bounds how long a client stream closed by the engine waits for
// its last bytes and END_STREAM to go out before it is reset.
const linger = time.Second

// Dialer opens WebSockets over HTTP/2: wss:// URLs over TLS with ALPN h2,
// ws:// URLs over h2c with prior knowledge. All its streams to one server
// share one HTTP/2 connection. The zero value is ready to use.
type Dialer struct {
	// TLSConfig is used for wss:// URLs; nil means the defaults.
	TLSConfig *tls.Config

	once     sync.Once
	tls, h2c *http2.Transport
}

func (d *Dialer) init() {
	d.once.Do(func() {
		cfg := &tls.Config{}
		if d.TLSConfig != nil {
			cfg = d.TLSConfig.Clone()
		}
		d.tls = &http2.Transport{TLSClientConfig: cfg}
		d.h2c = &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var nd net.Dialer
				return nd.DialContext(ctx, network, addr)
			},
		}
	})
}

// CloseIdleConnections closes the Dialer's HTTP/2 connections that carry
// no stream.
func (d *Dialer) CloseIdleConnections() {
	d.init()
	d.tls.CloseIdleConnections()
	d.h2c.CloseIdleConnections()
}

// Dial opens an RFC 8441 stream to rawURL (ws:// or wss://) carrying the
// request headers in header, and returns it once the server answered 200,
// with the response's headers. It is a suite.DialFunc: ctx bounds the
// opening handshake only.
func (d *Dialer) Dial(ctx context.Context, rawURL string, header http.Header) (net.Conn, http.Header, error) {
	d.init()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("h2ws: parsing %q: %w", rawURL, err)
	}
	t := d.h2c
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme, t = "https", d.tls
	default:
		return nil, nil, fmt.Errorf("h2ws: unsupported scheme %q (want ws or wss)", u.Scheme)
	}
	pr, pw := io.Pipe()
	// The stream outlives the handshake, so its request has a context of
	// its own, which ctx cancels only until the response has come.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &clientConn{pw: pw, cancel: cancel, wrote: make(chan struct{})}
	var wroteOnce sync.Once
	sctx = httptrace.WithClientTrace(sctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			c.laddr, c.raddr = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
		},
		// WroteRequest runs once the request body has ended (or failed).
		WroteRequest: func(httptrace.WroteRequestInfo) { wroteOnce.Do(func() { close(c.wrote) }) },
	})
	req, err := http.NewRequestWithContext(sctx, http.MethodConnect, u.String(), pr)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("h2ws: %w", err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header[":protocol"] = []string{"websocket"}
	stop := context.AfterFunc(ctx, cancel)
	resp, err := t.RoundTrip(req)
	if !stop() && err == nil {
		err = ctx.Err() // ctx ended as the response came: the stream is reset
		_ = resp.Body.Close()
	}
	if err != nil {
		_ = pw.Close()
		cancel()
		return nil, nil, fmt.Errorf("h2ws: extended CONNECT to %s: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		_ = pw.Close()
		cancel()
		return nil, nil, fmt.Errorf("h2ws: extended CONNECT to %s: status %d, want 200", u.Host, resp.StatusCode)
	}
	c.body = resp.Body
	// The engine's reads come through a pipe that Close can break at once:
	// closing the response body itself would reset the stream before the
	// request body's last bytes went out.
	var in *io.PipeWriter
	c.in, in = io.Pipe()
	go pump(in, resp.Body)
	return c, resp.Header, nil
}

// pump copies the response body into the pipe the engine reads, one read
// at a time (the pipe holds nothing: a copy waits for the engine), and
// hands on the body's end or error.
func pump(dst *io.PipeWriter, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.CloseWithError(err) // io.EOF: the peer ended its side
			return
		}
	}
}

// clientConn is the client side of one stream.
type clientConn struct {
	in           *io.PipeReader
	body         io.ReadCloser // the response body
	pw           *io.PipeWriter
	cancel       context.CancelFunc
	wrote        chan struct{} // closed when the request body has ended
	laddr, raddr net.Addr
	dl           deadline
	closeOnce    sync.Once
}

func (c *clientConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *clientConn) Write(p []byte) (int, error) { return c.pw.Write(p) }

// Close ends the request body (END_STREAM once what was written has gone
// out) and, after that or at most linger later, resets the stream. Reads
// and Writes fail at once.
func (c *clientConn) Close() error {
	c.closeOnce.Do(func() {
		c.dl.stop()
		_ = c.in.CloseWithError(net.ErrClosed)
		_ = c.pw.Close()
		go func() {
			t := time.NewTimer(linger)
			defer t.Stop()
			select {
			case <-c.wrote:
			case <-t.C:
			}
			_ = c.body.Close()
			c.cancel()
		}()
	})
	return nil
}

func (c *clientConn) LocalAddr() net.Addr                { return orAddr(c.laddr) }
func (c *clientConn) RemoteAddr() net.Addr               { return orAddr(c.raddr) }
func (c *clientConn) SetDeadline(t time.Time) error      { c.dl.set(t, c.Close); return nil }
func (c *clientConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *clientConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

// Accept answers an RFC 8441 extended CONNECT whose :protocol is
// websocket and whose Sec-WebSocket-Version is 13 with 200 and the
// headers in header, and returns the stream. It refuses anything else,
// HTTP/1.1 upgrades included, with 400 (426 for a wrong version), so a
// run through it proves every connection went over HTTP/2. It is a
// suite.AcceptFunc: the stream must be closed before the handler returns.
func Accept(w http.ResponseWriter, r *http.Request, header http.Header) (net.Conn, error) {
	if r.ProtoMajor != 2 || r.Method != http.MethodConnect || len(r.Header[":protocol"]) != 1 || r.Header[":protocol"][0] != "websocket" {
		http.Error(w, "expected an HTTP/2 extended CONNECT with :protocol websocket (RFC 8441)", http.StatusBadRequest)
		return nil, fmt.Errorf("h2ws: not an RFC 8441 WebSocket request: %s %s %v", r.Proto, r.Method, r.Header[":protocol"])
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version", http.StatusUpgradeRequired)
		return nil, fmt.Errorf("h2ws: version %q", v)
	}
	for k, vs := range header {
		w.Header()[k] = append([]string(nil), vs...)
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("h2ws: sending the response: %w", err)
	}
	c := &serverConn{body: r.Body, w: w, rc: rc}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.raddr = net.TCPAddrFromAddrPort(ap)
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		c.laddr = la
	}
	return c, nil
}

// serverConn is the server side of one stream.
type serverConn struct {
	body         io.ReadCloser
	w            http.ResponseWriter
	rc           *http.ResponseController
	laddr, raddr net.Addr
	dl           deadline

	wmu     sync.Mutex // held by a Write; Close takes it to wait for one
	mu      sync.Mutex // guards writing and closed
	writing bool
	closed  bool
}

func (c *serverConn) Read(p []byte) (int, error) { return c.body.Read(p) }

// Write writes p and flushes it.
func (c *serverConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.writing = true
	c.mu.Unlock()
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
	return n, err
}

// Close makes Reads and later Writes fail; a Write blocked by flow control
// is ended by resetting the stream. It returns once no Write is in flight,
// so the handler may then return, which ends the stream.
func (c *serverConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.writing {
		_ = c.rc.SetWriteDeadline(time.Unix(1, 0))
	}
	c.mu.Unlock()
	c.dl.stop()
	_ = c.body.Close()
	c.wmu.Lock() // the Write in flight, if any, has returned
	c.wmu.Unlock()
	return nil
}

func (c *serverConn) LocalAddr() net.Addr                { return orAddr(c.laddr) }
func (c *serverConn) RemoteAddr() net.Addr               { return orAddr(c.raddr) }
func (c *serverConn) SetDeadline(t time.Time) error      { c.dl.set(t, c.Close); return nil }
func (c *serverConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *serverConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

// deadline closes a stream when it passes; see the package doc.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

// set arms the deadline for t (zero: none); close runs when it passes.
func (d *deadline) set(t time.Time, close func() error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if !t.IsZero() {
		d.timer = time.AfterFunc(time.Until(t), func() { _ = close() })
	}
}

// stop disarms the deadline for good.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = true
	if d.timer != nil {
		d.timer.Stop()
	}
}

// addr is an address that is not known.
type addr struct{}

func (addr) Network() string { return "http2" }
func (addr) String() string  { return "" }

func orAddr(a net.Addr) net.Addr {
	if a == nil {
		return addr{}
	}
	return a
}
