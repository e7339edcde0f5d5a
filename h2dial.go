//go:build !js

package wsio

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/wsio/wsio/internal/handshake"
	"golang.org/x/net/http2"
)

// errNoH2 marks an HTTP/2 dial that failed before any answer from the
// server (no HTTP/2 in ALPN, no h2c, no extended CONNECT in its SETTINGS,
// or the connection failed): Dial then tries HTTP/1.1.
var errNoH2 = errors.New("websocket: no WebSocket over HTTP/2")

// h2Linger bounds how long a closed client stream waits for the request
// body's end (END_STREAM) to go out before the stream is reset: a reset
// right after the last write could overtake the close frame.
const h2Linger = 2 * time.Second

// h2Transports are the HTTP/2 clients Dial shares: for the Dials with no
// TLSConfig, NetDial and Proxy, and for each TLSConfig of those with only
// a TLSConfig, one over TLS and one over h2c. A TLSConfig's transports go
// when it is collected.
var h2Transports struct {
	mu    sync.Mutex
	byKey map[h2Key]*http2.Transport
}

// h2Key names a shared transport.
type h2Key struct {
	cfg    weak.Pointer[tls.Config] // the zero pointer for none
	secure bool
}

// h2TransportFor returns the transport an HTTP2 Dial with o uses, and
// whether it is o's own (made for this Dial, to be closed with it).
func h2TransportFor(o *DialOptions, secure bool) (t *http2.Transport, own bool) {
	if o.NetDial != nil || o.Proxy != nil {
		return newH2Transport(o, secure), true
	}
	h := &h2Transports
	h.mu.Lock()
	defer h.mu.Unlock()
	k := h2Key{secure: secure}
	if o.TLSConfig != nil {
		k.cfg = weak.Make(o.TLSConfig)
	}
	if t := h.byKey[k]; t != nil {
		return t, false
	}
	if h.byKey == nil {
		h.byKey = make(map[h2Key]*http2.Transport)
	}
	shared := &DialOptions{}
	if o.TLSConfig != nil {
		shared.TLSConfig = o.TLSConfig.Clone() // not the key: it may be collected
		runtime.AddCleanup(o.TLSConfig, func(k h2Key) {
			h.mu.Lock()
			t := h.byKey[k]
			delete(h.byKey, k)
			h.mu.Unlock()
			if t != nil {
				t.CloseIdleConnections()
			}
		}, k)
	}
	t = newH2Transport(shared, secure)
	h.byKey[k] = t
	return t, false
}

// newH2Transport returns an HTTP/2 client, over TLS with ALPN h2 when
// secure and over h2c with prior knowledge when not, that opens its
// connections as Dial does: with o's NetDial, through o's proxy, with o's
// TLSConfig. It sends DATA frames of at most h2SendFrameMax bytes, so an
// open WebSocket holds a scratch buffer of that size in the transport
// (see h2SendFrameMax).
func newH2Transport(o *DialOptions, secure bool) *http2.Transport {
	return &http2.Transport{
		AllowHTTP: !secure,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			if !secure {
				nc, _, err := dialNet(ctx, &url.URL{Scheme: "ws", Host: addr}, addr, o)
				if err != nil {
					return nil, err
				}
				return capFrames(nc), nil
			}
			nc, _, err := dialNet(ctx, &url.URL{Scheme: "wss", Host: addr}, addr, o)
			if err != nil {
				return nil, err
			}
			cfg := &tls.Config{}
			if o.TLSConfig != nil {
				cfg = o.TLSConfig.Clone()
			}
			if cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(addr)
			}
			cfg.NextProtos = []string{http2.NextProtoTLS}
			tc := tls.Client(nc, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = nc.Close()
				return nil, err
			}
			if tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
				_ = tc.Close()
				return nil, fmt.Errorf("%w: the server at %s does not speak HTTP/2", errNoH2, addr)
			}
			return capFrames(tc), nil
		},
	}
}

// dialH2 opens a WebSocket as an RFC 8441 extended CONNECT stream. An
// error matching errNoH2 means the server gave no answer to it, and Dial
// falls back to HTTP/1.1.
func dialH2(ctx context.Context, u *url.URL, secure bool, o *DialOptions) (*Conn, *http.Response, error) {
	t, own := h2TransportFor(o, secure)
	closeOwn := func() {
		if own {
			t.CloseIdleConnections()
		}
	}
	comp, offer := compressionOffer(o)

	hu := *u
	hu.Scheme = "http"
	if secure {
		hu.Scheme = "https"
	}
	pr, pw := io.Pipe()
	// The stream lives on after Dial, so its request has a context of its
	// own, which ctx cancels only until the handshake is done.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var laddr, raddr net.Addr
	wrote := make(chan struct{})
	var wroteOnce sync.Once
	sctx = httptrace.WithClientTrace(sctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			laddr, raddr = info.Conn.LocalAddr(), info.Conn.RemoteAddr()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { wroteOnce.Do(func() { close(wrote) }) },
	})
	req, err := http.NewRequestWithContext(sctx, http.MethodConnect, hu.String(), pr)
	if err != nil {
		cancel()
		closeOwn()
		return nil, nil, fmt.Errorf("websocket: dial: %w", err)
	}
	if h := o.Header.Get("Host"); h != "" {
		req.Host = h
	}
	handshake.AddHeader(req.Header, o.Header, h2RequestOwned...)
	req.Header[":protocol"] = []string{"websocket"}
	req.Header.Set("Sec-WebSocket-Version", "13")
	if offer != "" {
		req.Header.Set("Sec-WebSocket-Extensions", offer)
	}
	if len(o.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(o.Subprotocols, ", "))
	}

	stopWatch := context.AfterFunc(ctx, cancel)
	resp, err := t.RoundTrip(req)
	fail := func() {
		stopWatch()
		_ = pw.Close()
		cancel()
		closeOwn()
	}
	if err != nil {
		fail()
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("websocket: HTTP/2 handshake: %w", ctx.Err())
		}
		if errors.Is(err, errNoH2) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %w", errNoH2, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		fail()
		return nil, resp, &HandshakeError{Status: resp.StatusCode, Reason: "the server did not accept the WebSocket over HTTP/2"}
	}
	refuse := func(reason string) (*Conn, *http.Response, error) {
		_ = resp.Body.Close()
		fail()
		return nil, resp, &HandshakeError{Status: resp.StatusCode, Reason: reason}
	}
	if reason := handshake.CheckSubprotocol(resp.Header, o.Subprotocols); reason != "" {
		return refuse(reason)
	}
	dfl, reason := clientExtensions(resp.Header, offer, comp)
	if reason != "" {
		return refuse(reason)
	}
	if !stopWatch() && ctx.Err() != nil {
		// ctx ended as the handshake finished: the stream is being reset.
		_ = resp.Body.Close()
		fail()
		return nil, resp, fmt.Errorf("websocket: HTTP/2 handshake: finishing: %w", ctx.Err())
	}

	s := newH2Stream(resp.Body, pw)
	s.laddr, s.raddr = laddr, raddr
	// Resetting the stream ends a Write blocked in the pipe (the
	// transport reads it only as the server's window allows).
	s.reset = func() {
		_ = pw.CloseWithError(errH2Closed)
		cancel()
	}
	s.endWrite = pw.Close
	s.end = func() {
		_ = pw.Close() // END_STREAM, once what was written has gone out
		go func() {
			t := time.NewTimer(h2Linger)
			select {
			case <-wrote:
			case <-t.C:
			}
			t.Stop()
			_ = resp.Body.Close()
			cancel()
			closeOwn()
		}()
	}
	resp.Body = http.NoBody
	return clientConn(s, nil, o, u, resp.Header, dfl), resp, nil
}

// h2RequestOwned are the request headers dialH2 sets itself, or that
// HTTP/2 does not carry.
var h2RequestOwned = append(slices.Clip(handshake.RequestOwned), "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te")
