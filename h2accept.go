package wsio

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

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
	offered := headerList(r.Header, "Sec-Websocket-Protocol")
	protocol := chooseProtocol(r, o, offered)
	ext, deflate := negotiate(r, o)

	h := w.Header()
	for _, name := range responseOwned {
		delete(h, name)
	}
	for name, vs := range o.Header {
		name = http.CanonicalHeaderKey(name)
		if !isToken(name) || containsFold(responseOwned, name) {
			continue
		}
		for _, v := range vs {
			if !strings.ContainsAny(v, "\r\n") {
				h[name] = append(h[name], v)
			}
		}
	}
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
	_ = s.SetWriteDeadline(time.Now().Add(or(o.HandshakeTimeout, limits.DefaultHandshakeTimeout)))
	if _, err := s.Write(nil); err != nil {
		_ = s.Close()
		return nil, &HandshakeError{Status: http.StatusOK, Reason: "writing the response: " + err.Error()}
	}
	_ = s.SetWriteDeadline(time.Time{})
	c := accepted(s, r, o, protocol, offered, deflate, nil)
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
// as over HTTP/1.1. HTTP/2 has no Sec-WebSocket-Key (RFC 8441, 5) and its
// request body is the stream.
func checkH2(r *http.Request, o *ServerOptions) *HandshakeError {
	bad := func(status int, reason string) *HandshakeError {
		return &HandshakeError{Status: status, Reason: reason}
	}
	proto := r.Header.Get(":protocol")
	switch {
	case r.Method != http.MethodConnect:
		return bad(http.StatusBadRequest, "over HTTP/2 a WebSocket is opened with an extended CONNECT (RFC 8441), not "+r.Method+xconnectHint())
	case proto == "":
		return bad(http.StatusBadRequest, "a CONNECT without :protocol is a tunnel request, not a WebSocket (RFC 8441 needs :protocol websocket)")
	case !strings.EqualFold(proto, "websocket"):
		return bad(http.StatusBadRequest, fmt.Sprintf("the :protocol %q is not websocket", truncUTF8(proto, 64)))
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return bad(http.StatusUpgradeRequired, "Sec-WebSocket-Version must be 13")
	}
	if !hostAllowed(r.Host, o.Hosts) {
		return bad(http.StatusMisdirectedRequest, "the request is for host "+r.Host+", which is not in the server's Hosts")
	}
	if !originAllowed(r, o.OriginPatterns) {
		return bad(http.StatusForbidden, "cross-origin request from "+r.Header.Get("Origin")+" not allowed")
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// awaitStream waits, when c runs over an HTTP/2 stream, until the stream
// is closed: net/http ends the stream when the handler returns, and the
// ResponseWriter may not be used after that.
func awaitStream(c *Conn) {
	if s := h2StreamOf(c); s != nil {
		<-s.finished
	}
}
