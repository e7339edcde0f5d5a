//go:build !js

package wsio

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/wsio/wsio/internal/handshake"

	"github.com/wsio/wsio/internal/sock"
	"github.com/wsio/wsio/limits"
)

// AcceptConn performs the server side of the opening handshake on a fresh
// connection, without net/http: it reads the request head itself (at most
// 16 KiB, within HandshakeTimeout or until ctx ends), runs the same checks
// and options as Accept, and answers. A *tls.Conn is handshaken first.
//
// A request that is not a valid upgrade gets the HTTP error Accept would
// send (400, also for a request with a body, 403, 405, 421 for a host
// not in a non-empty Hosts, 426, or 431 for a head over the cap), nc is
// closed and the error is a *HandshakeError. The accepted connection's Request
// carries the parsed request, with RemoteAddr and TLS set.
//
// A head of the usual shape (GET, origin-form target, HTTP/1.1, CRLF
// lines, one Host, no body) is parsed by a small parser of its own; any
// other head goes through http.ReadRequest, so what is accepted or refused
// is what net/http would accept or refuse.
//
// This is the path Server.Serve takes: it skips net/http's per-connection
// state (its buffered reader and writer, the request context), which makes
// handshakes cheaper and idle connections smaller. Use Accept when the
// upgrade must go through net/http handlers and middleware.
func AcceptConn(ctx context.Context, nc net.Conn, o *ServerOptions) (*Conn, error) {
	return acceptConn(ctx, nc, o, nil)
}

// acceptConn is AcceptConn; srv, when not nil, is the Server whose Serve
// accepted nc, which sets the handshake's deadline (Server.armHandshake)
// so that a Close cannot be undone by a deadline armed after it.
func acceptConn(ctx context.Context, nc net.Conn, o *ServerOptions, srv *Server) (*Conn, error) {
	if o == nil {
		o = &ServerOptions{}
	}
	// The handshake runs under a deadline, set only once something would
	// wait: a request that has already arrived (Serve's listener defers
	// the accept until it has) is read, and the response written, in one
	// system call each, with no deadline to set and clear.
	timeout := positiveOr(o.HandshakeTimeout, limits.DefaultHandshakeTimeout)
	armed := false
	arm := func() {
		if !armed {
			armed = true
			if srv != nil {
				srv.armHandshake(nc, time.Now().Add(timeout))
			} else {
				_ = nc.SetDeadline(time.Now().Add(timeout))
			}
		}
	}
	_, isTLS := nc.(*tls.Conn)
	if ctx.Done() != nil || isTLS {
		// A cancelled ctx sets a deadline in the past, which arming later
		// would undo.
		arm()
	}
	stop := func() bool { return false }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	}
	fail := func(reason string, err error) (*Conn, error) {
		stop()
		_ = nc.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &HandshakeError{Status: 0, Reason: reason + ": " + err.Error()}
	}
	deny := func(status int, reason string) (*Conn, error) {
		arm()
		return refuse(nc, stop, status, reason)
	}

	var state *tls.ConnectionState
	if tc, ok := nc.(*tls.Conn); ok {
		var err error
		if state, err = tlsHandshake(ctx, tc); err != nil {
			return fail("TLS handshake", err)
		}
	}

	// SelectSubprotocol is handed the request, so it gets the whole of it.
	full := o.SelectSubprotocol != nil
	r, q, head, pre, err := handshake.ReadRequestHead(nc, limits.DefaultMaxHeaderBytes, full, tryRead, arm)
	if q != nil {
		defer q.Release()
	}
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, handshake.ErrHeadTooLarge):
			return deny(http.StatusRequestHeaderFieldsTooLarge, "the request head is over 16 KiB")
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne):
			// The peer went away or was too slow: nobody to answer.
			return fail("reading the request", err)
		default:
			return deny(http.StatusBadRequest, "malformed request: "+err.Error())
		}
	}
	if full {
		r.RemoteAddr = nc.RemoteAddr().String()
		r.TLS = state
	}
	if reason := handshake.CheckHead(r); reason != "" {
		status := http.StatusBadRequest
		if r.ProtoMajor != 1 {
			status = http.StatusHTTPVersionNotSupported
		}
		return deny(status, reason)
	}
	if he := checkUpgrade(r, o); he != nil {
		return deny(he.Status, he.Reason)
	}
	offered := handshake.HeaderList(r.Header, "Sec-Websocket-Protocol")
	protocol := chooseProtocol(r, o, offered)
	ext, dfl := negotiate(r, o)
	stop()
	if ctx.Err() != nil {
		return fail("handshake", ctx.Err())
	}
	bp := handshake.GetBuffer()
	b := handshake.AppendResponse((*bp)[:0], handshake.First(r.Header["Sec-Websocket-Key"]), protocol, ext)
	n := 0
	if !armed {
		n, err = sock.Of(nc).TryWrite(b)
	}
	if err == nil && n < len(b) {
		arm()
		_, err = nc.Write(b[n:])
	}
	handshake.PutBuffer(bp)
	if err != nil {
		return nil, responseFailed(nc, err)
	}
	if armed {
		_ = nc.SetDeadline(time.Time{})
	}
	c := accepted(nc, r, o, protocol, offered, dfl, pre)
	// Keep the head, not the parsed request (which may hold only the
	// handshake's fields): Request parses it if it is ever asked for.
	c.head.Store(&head)
	return c, nil
}

// tlsHandshake runs the TLS handshake and returns its result. It is a
// function of its own so that AcceptConn's stack frame, which every
// handshake's goroutine starts with, does not hold a ConnectionState.
//
//go:noinline
func tlsHandshake(ctx context.Context, tc *tls.Conn) (*tls.ConnectionState, error) {
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	cs := tc.ConnectionState()
	return &cs, nil
}

// refuse answers a failed handshake with status and reason in a plain-text
// body, then closes nc the way net/http does: the write side first, and
// the rest of the request is drained briefly, so the peer reads the answer
// instead of a reset.
func refuse(nc net.Conn, stop func() bool, status int, reason string) (*Conn, error) {
	he := &HandshakeError{Status: status, Reason: reason}
	body := he.Error() + "\n"
	h := make(http.Header)
	refusalHeaders(status, h)
	b := handshake.AppendRefusal(make([]byte, 0, 256+len(body)), status, h, body)
	if _, err := nc.Write(b); err == nil {
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			_ = nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, _ = io.CopyN(io.Discard, nc, 64<<10)
		}
	}
	stop()
	_ = nc.Close()
	return nil, he
}

// refusalHeaders adds the headers a refusal with status must carry.
func refusalHeaders(status int, h http.Header) {
	switch status {
	case http.StatusUpgradeRequired:
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Upgrade", "websocket")
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodGet)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", retryAfter)
	}
}

// tryRead reads r once without waiting when r is a plain socket, for
// handshake.ReadRequestHead (see sock.Socket.TryRead).
func tryRead(r io.Reader, p []byte) (int, bool, error) { return sock.Of(r).TryRead(p) }
