//go:build !js

package wsio

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wsio/wsio/internal/handshake"
	"github.com/wsio/wsio/limits"
)

// ExtendedConnectEnabled reports whether this process's HTTP/2 servers
// (net/http's, and golang.org/x/net/http2's) accept WebSockets over HTTP/2
// (RFC 8441's extended CONNECT). They do only when the process started with
// GODEBUG containing http2xconnect=1: they read the variable once, from
// the environment, at start-up, so neither os.Setenv nor a //go:debug line
// turns it on. Without it they neither advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL nor pass such a request to a handler
// (they reset its stream), and clients open their WebSockets over
// HTTP/1.1 instead.
func ExtendedConnectEnabled() bool { return extendedConnect }

// extendedConnect is read as net/http reads it (h2_bundle.go's init).
var extendedConnect = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// xconnectHint is added to the refusal of a request that came over
// HTTP/2 but not as an extended CONNECT while the process has extended
// CONNECT off: that is why a client could not open a WebSocket.
func xconnectHint() string {
	if extendedConnect {
		return ""
	}
	return " (this server's process was started without GODEBUG=http2xconnect=1, so its HTTP/2 server does not offer WebSockets over HTTP/2)"
}

// acceptH2 is Accept for an HTTP/2 request: an RFC 8441 extended CONNECT
// is answered with 200 and the stream carries the connection.
func acceptH2(w http.ResponseWriter, r *http.Request, o *ServerOptions) (*Conn, error) {
	if he := checkH2(r, o); he != nil {
		refusalHeaders(he.Status, w.Header())
		w.Header().Del("Upgrade") // a connection header, which HTTP/2 has not
		http.Error(w, he.Error(), he.Status)
		return nil, he
	}
	offered := handshake.HeaderList(r.Header, "Sec-Websocket-Protocol")
	protocol := chooseProtocol(r, o, offered)
	ext, dfl := negotiate(r, o)

	h := w.Header()
	handshake.AddHeader(h, o.Header, handshake.ResponseOwned...)
	if protocol != "" {
		h.Set("Sec-WebSocket-Protocol", protocol)
	}
	if ext != "" {
		h.Set("Sec-WebSocket-Extensions", ext)
	}

	rc := http.NewResponseController(w)
	s := newH2Stream(r.Body, w)
	s.flush = rc.Flush
	// net/http's own write deadline resets the stream with
	// INTERNAL_ERROR when it passes, which is what ends a blocked Write.
	s.reset = func() { _ = rc.SetWriteDeadline(aLongTimeAgo) }
	s.raddr = parseAddr(r.RemoteAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.laddr = la
	}
	w.WriteHeader(http.StatusOK)
	_ = s.SetWriteDeadline(time.Now().Add(positiveOr(o.HandshakeTimeout, limits.DefaultHandshakeTimeout)))
	if _, err := s.Write(nil); err != nil {
		_ = s.Close()
		return nil, &HandshakeError{Status: http.StatusOK, Reason: "writing the response: " + err.Error()}
	}
	_ = s.SetWriteDeadline(time.Time{})
	c := accepted(s, r, o, protocol, offered, dfl, nil)
	c.req.Store(r)
	// The request's context ends when the peer resets the stream or the
	// HTTP/2 connection goes away: the connection ends then, even when
	// nobody is reading it. (It also ends after the handler returns, when
	// the connection is closed already.)
	context.AfterFunc(r.Context(), func() { c.abort(errStreamReset) })
	return c, nil
}

// checkH2 validates an RFC 8441 request: an extended CONNECT whose
// :protocol is "websocket", with the same version, host and origin rules
// as over HTTP/1.1.
func checkH2(r *http.Request, o *ServerOptions) *HandshakeError {
	if status, reason := handshake.CheckConnect(r, o.Hosts, o.OriginPatterns, xconnectHint()); status != 0 {
		return &HandshakeError{Status: status, Reason: reason}
	}
	return nil
}

// awaitStream waits, when c runs over an HTTP/2 stream, until the stream
// is closed: net/http ends the stream when the handler returns, and the
// ResponseWriter may not be used after that.
func awaitStream(c *Conn) {
	if s := h2StreamOf(c); s != nil {
		<-s.finished
	}
}
