//go:build !js

package wsio

import (
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/internal/handshake"
	"github.com/wsio/wsio/limits"
)

// ServerOptions configure the server side of the opening handshake. As
// in Options, a zero or negative HandshakeTimeout selects the default.
type ServerOptions struct {
	Options

	// Subprotocols lists the subprotocols the server speaks, most preferred
	// first; the first one the client also offered is chosen.
	Subprotocols []string
	// SelectSubprotocol, if set, chooses the subprotocol instead: it gets the
	// client's offers in the client's order and returns one of them, or
	// "" for none.
	SelectSubprotocol func(r *http.Request, offered []string) string
	// OriginPatterns lists the origins allowed besides the request's own
	// host. A request without an Origin header (not from a browser) is
	// allowed; one whose Origin is the same origin is allowed; any other
	// is refused with 403 unless its Origin matches a pattern here.
	//
	// Same origin means that the Origin's host and port equal the Host
	// header, ignoring case. The scheme is not compared (an http page and
	// an https page on the same host and port count alike), and the Host
	// header is whatever the client sent: a page on a name of the
	// attacker's that resolves to this server's address (DNS rebinding,
	// aimed at services on localhost or a private network) sends that
	// name as both Host and Origin and passes as same-origin. Hosts
	// closes that hole.
	//
	// A pattern is a host with an optional port, compared with the
	// Origin's host and port ignoring case; the Origin's scheme and path
	// are not looked at:
	//   - "example.com" matches that host with no port in the Origin
	//     (the scheme's default port), "example.com:8080" on port 8080
	//     only, and "example.com:*" on any port or none;
	//   - a leading "*." matches one or more whole labels: "*.example.com"
	//     matches "chat.example.com" and "a.b.example.com", but neither
	//     "example.com" nor "evilexample.com", and never an IP address;
	//   - "*" as the host matches any host ("*:8080");
	//   - an IPv6 address is written in brackets, as in a URL: "[::1]",
	//     "[::1]:8080", "[::1]:*"; an IP address matches any spelling of
	//     the same address;
	//   - "*" alone allows every origin, including "null" and Origin
	//     values that are not URLs, which no other pattern matches.
	// These are not glob patterns: "?", "[...]" and a "*" anywhere else
	// have no special meaning, so a pattern that uses them matches no
	// browser's origin.
	OriginPatterns []string
	// Hosts, if not empty, lists the host names and IP addresses the
	// server answers to. A request whose Host header names another host
	// is refused with 421 Misdirected Request: it was aimed at a name
	// this server does not serve. Names compare ignoring case, and an IP
	// address matches any spelling of the same address; an IPv6 address
	// may be written with or without brackets. Ports are not compared,
	// neither the Host header's nor an entry's: the server knows its own
	// port, and a DNS rebinding page reaches it on that very port, so the
	// name is what tells the two apart. No wildcards.
	//
	// Set it on a service bound to localhost or a private address, for
	// example to []string{"localhost", "127.0.0.1", "::1"}: the same-origin
	// check trusts the Host header (see OriginPatterns), and with Hosts set
	// that header can only be one of the names listed.
	Hosts []string
	// Header holds extra headers for the 101 response. Headers already
	// set on the ResponseWriter are sent too.
	Header http.Header
	// HandshakeTimeout bounds the opening handshake. Default 10 s. Under
	// Server.Serve, Server.ListenAndServe and AcceptConn, which read the
	// request themselves, it bounds reading the request and writing the
	// response together (and the request head is capped at 16 KiB). Under
	// net/http (a Server mounted on a mux, or Accept) it bounds writing the
	// response; reading the request is net/http's job there: set
	// http.Server.ReadHeaderTimeout and MaxHeaderBytes.
	HandshakeTimeout time.Duration
}

// Accept upgrades an HTTP request to a WebSocket connection. A request
// that is not a valid RFC 6455 upgrade gets the matching HTTP error (400,
// 403 for a refused origin, 405 for a method other than GET, 426 with the
// supported version for another version) and Accept returns a
// *HandshakeError. To refuse a request for reasons of your own (a missing
// token, an unknown path), write any response instead of calling Accept.
//
// The same-origin check trusts the request's Host header, which a page
// using DNS rebinding controls; set ServerOptions.Hosts on a service on
// localhost or a private network (see ServerOptions.OriginPatterns). A
// request for a host not in a non-empty Hosts is refused with 421.
//
// An upgrade request has no body: the bytes behind its head are the
// client's first frames. A request with a non-zero Content-Length or any
// Transfer-Encoding is refused with 400 and "Connection: close", its body
// unread, so no byte of it is ever taken for a frame.
//
// The connection lives on after the handler returns; the handler's
// goroutine may be used to read it.
//
// Over HTTP/2 (r.ProtoMajor 2), Accept takes an RFC 8441 extended CONNECT
// whose :protocol is "websocket": the same version, Hosts and origin rules
// apply (400 for another method or :protocol, 426, 421, 403), subprotocol
// and permessage-deflate are negotiated as over HTTP/1.1, and the answer is
// 200; the connection then runs over the request's stream. net/http's
// HTTP/2 server passes such requests on only when the process started with
// GODEBUG=http2xconnect=1 (see ExtendedConnectEnabled). Over HTTP/2 the
// stream ends when the handler returns, so a handler that calls Accept on
// such a request must not return before the connection is closed and its
// stream released, which is when the OnClose functions run (Done closes a
// moment earlier, when a write may still be in flight); a Server's
// handler, and stream.Listener's, need no care: their ServeHTTP waits. The streams of one
// HTTP/2 connection share its receive window, which net/http's server
// returns only as handlers read: with its defaults (1 MiB per connection
// and per stream) one WebSocket whose handler stops reading holds back
// what the client sends on all the others. Set the http.Server's
// HTTP2.MaxReceiveBufferPerConnection to several times
// MaxReceiveBufferPerStream.
func Accept(w http.ResponseWriter, r *http.Request, o *ServerOptions) (*Conn, error) {
	if o == nil {
		o = &ServerOptions{}
	}
	if r.ProtoMajor == 2 {
		return acceptH2(w, r, o)
	}
	if he := checkUpgrade(r, o); he != nil {
		refusalHeaders(he.Status, w.Header())
		if handshake.BodyReason(r) != "" {
			// The body is left unread, so the connection cannot carry
			// another request; net/http would otherwise try to read it
			// to the end before answering.
			w.Header().Set("Connection", "close")
		}
		http.Error(w, he.Error(), he.Status)
		return nil, he
	}
	offered := handshake.HeaderList(r.Header, "Sec-Websocket-Protocol")
	protocol := chooseProtocol(r, o, offered)
	ext, dfl := negotiate(r, o)

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		he := &HandshakeError{Status: http.StatusInternalServerError, Reason: "the response cannot be hijacked: " + err.Error()}
		http.Error(w, he.Error(), he.Status)
		return nil, he
	}
	var pre []byte
	if n := brw.Reader.Buffered(); n > 0 {
		pre, _ = brw.Reader.Peek(n)
	}
	_ = nc.SetDeadline(time.Time{})
	_ = nc.SetWriteDeadline(time.Now().Add(positiveOr(o.HandshakeTimeout, limits.DefaultHandshakeTimeout)))
	return upgrade(nc, r, o, w.Header(), protocol, offered, ext, dfl, pre)
}

// upgrade writes the 101 response on nc and wraps it; pre holds bytes
// already read past the request head. On failure it closes nc.
func upgrade(nc net.Conn, r *http.Request, o *ServerOptions, hdr http.Header, protocol string, offered []string,
	ext string, dfl *deflateState, pre []byte) (*Conn, error) {
	key := handshake.First(r.Header["Sec-Websocket-Key"])
	if _, err := nc.Write(handshake.AppendResponse(make([]byte, 0, 256), key, protocol, ext, hdr, o.Header)); err != nil {
		return nil, responseFailed(nc, err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	c := accepted(nc, r, o, protocol, offered, dfl, pre)
	c.req.Store(r)
	return c, nil
}

// responseFailed closes nc after the 101 response could not be written.
func responseFailed(nc net.Conn, err error) error {
	_ = nc.Close()
	return &HandshakeError{Status: http.StatusSwitchingProtocols, Reason: "writing the response: " + err.Error()}
}

// accepted wraps nc, whose 101 response to r has been sent. The caller
// keeps the request (Accept) or its head (AcceptConn) on the Conn.
func accepted(nc net.Conn, r *http.Request, o *ServerOptions, protocol string, offered []string,
	dfl *deflateState, pre []byte) *Conn {
	c := newConn(nc, false, &o.Options, pre)
	// Copies: the request's strings point into its head, which an event
	// server lets go once Open returns (see Conn.Request).
	c.path = strings.Clone(r.URL.Path)
	c.protocol = protocol
	c.useDeflate(dfl)
	return c
}

// negotiate picks the extensions to accept. Offers that are malformed or
// unacceptable are declined, not refused (RFC 7692, 5): the connection
// goes on uncompressed.
func negotiate(r *http.Request, o *ServerOptions) (string, *deflateState) {
	if !o.Compression.enabled() {
		return "", nil
	}
	offers, err := deflate.ParseExtensions(r.Header["Sec-Websocket-Extensions"])
	if err != nil {
		return "", nil
	}
	ext, p, ok := deflate.AcceptOffers(offers, o.Compression.config())
	if !ok {
		return "", nil
	}
	return ext, newDeflateState(o.Compression, p)
}

// checkUpgrade validates an upgrade request (RFC 6455, 4.2.1) under o's
// Hosts and OriginPatterns, and returns the refusal it deserves, or nil.
func checkUpgrade(r *http.Request, o *ServerOptions) *HandshakeError {
	if status, reason := handshake.CheckUpgrade(r, o.Hosts, o.OriginPatterns); status != 0 {
		return &HandshakeError{Status: status, Reason: reason}
	}
	return nil
}

// chooseProtocol picks the subprotocol among the client's offers: o's
// SelectSubprotocol's choice, or the first of o.Subprotocols offered.
func chooseProtocol(r *http.Request, o *ServerOptions, offered []string) string {
	if len(offered) == 0 {
		return ""
	}
	if o.SelectSubprotocol != nil {
		p := o.SelectSubprotocol(r, slices.Clone(offered))
		if slices.Contains(offered, p) {
			return strings.Clone(p) // it may point into the request head
		}
		return ""
	}
	for _, p := range o.Subprotocols {
		if slices.Contains(offered, p) {
			return p
		}
	}
	return ""
}
