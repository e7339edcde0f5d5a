package wsio

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsio/wsio/limits"
)

// ServerOptions configure the server side of the opening handshake.
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
		if bodyReason(r) != "" {
			// The body is left unread, so the connection cannot carry
			// another request; net/http would otherwise try to read it
			// to the end before answering.
			w.Header().Set("Connection", "close")
		}
		http.Error(w, he.Error(), he.Status)
		return nil, he
	}
	offered := headerList(r.Header, "Sec-Websocket-Protocol")
	protocol := chooseProtocol(r, o, offered)
	ext, deflate := negotiate(r, o)

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
	_ = nc.SetWriteDeadline(time.Now().Add(or(o.HandshakeTimeout, limits.DefaultHandshakeTimeout)))
	return upgrade(nc, r, o, w.Header(), protocol, offered, ext, deflate, pre)
}

// upgrade writes the 101 response on nc and wraps it; pre holds bytes
// already read past the request head. On failure it closes nc.
func upgrade(nc net.Conn, r *http.Request, o *ServerOptions, hdr http.Header, protocol string, offered []string,
	ext string, deflate *deflateState, pre []byte) (*Conn, error) {
	if _, err := nc.Write(response(make([]byte, 0, 256), r, o, hdr, protocol, ext)); err != nil {
		return nil, responseFailed(nc, err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	c := accepted(nc, r, o, protocol, offered, deflate, pre)
	c.req.Store(r)
	return c, nil
}

// response appends the 101 response to b and returns the result.
func response(b []byte, r *http.Request, o *ServerOptions, hdr http.Header, protocol, ext string) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = appendAcceptKey(b, first(r.Header["Sec-Websocket-Key"]))
	b = append(b, "\r\n"...)
	if protocol != "" {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, protocol...)
		b = append(b, "\r\n"...)
	}
	if ext != "" {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = append(b, ext...)
		b = append(b, "\r\n"...)
	}
	b = appendHeader(b, hdr, responseOwned...)
	b = appendHeader(b, o.Header, responseOwned...)
	return append(b, "\r\n"...)
}

// responseFailed closes nc after the 101 response could not be written.
func responseFailed(nc net.Conn, err error) error {
	_ = nc.Close()
	return &HandshakeError{Status: http.StatusSwitchingProtocols, Reason: "writing the response: " + err.Error()}
}

// accepted wraps nc, whose 101 response to r has been sent. The caller
// keeps the request (Accept) or its head (AcceptConn) on the Conn.
func accepted(nc net.Conn, r *http.Request, o *ServerOptions, protocol string, offered []string,
	deflate *deflateState, pre []byte) *Conn {
	c := newConn(nc, false, &o.Options, pre)
	c.path = r.URL.Path
	c.protocol = protocol
	c.useDeflate(deflate)
	return c
}

// negotiate picks the extensions to accept. Offers that are malformed or
// unacceptable are declined, not refused (RFC 7692, 5): the connection
// goes on uncompressed.
func negotiate(r *http.Request, o *ServerOptions) (string, *deflateState) {
	if !o.Compression.enabled() {
		return "", nil
	}
	offers, err := parseExtensions(r.Header["Sec-Websocket-Extensions"])
	if err != nil {
		return "", nil
	}
	ext, deflate, _ := acceptDeflate(offers, o.Compression)
	return ext, deflate
}

// checkUpgrade validates an upgrade request (RFC 6455, 4.2.1).
func checkUpgrade(r *http.Request, o *ServerOptions) *HandshakeError {
	bad := func(status int, reason string) *HandshakeError {
		return &HandshakeError{Status: status, Reason: reason}
	}
	switch {
	case r.Method != http.MethodGet:
		return bad(http.StatusMethodNotAllowed, "the method must be GET, not "+r.Method)
	case !r.ProtoAtLeast(1, 1):
		return bad(http.StatusBadRequest, "HTTP/1.1 or later is required, not "+r.Proto)
	case !hasToken(r.Header, "Connection", "upgrade"):
		return bad(http.StatusBadRequest, `the Connection header must contain "Upgrade"`)
	case !hasToken(r.Header, "Upgrade", "websocket"):
		return bad(http.StatusBadRequest, `the Upgrade header must contain "websocket"`)
	}
	if reason := bodyReason(r); reason != "" {
		return bad(http.StatusBadRequest, reason)
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return bad(http.StatusUpgradeRequired, "Sec-WebSocket-Version must be 13")
	}
	if k := r.Header["Sec-Websocket-Key"]; len(k) != 1 || !validKey(k[0]) {
		return bad(http.StatusBadRequest, "Sec-WebSocket-Key must be one base64-encoded 16-byte value")
	}
	if !hostAllowed(r.Host, o.Hosts) {
		return bad(http.StatusMisdirectedRequest, "the request is for host "+r.Host+", which is not in the server's Hosts")
	}
	if !originAllowed(r, o.OriginPatterns) {
		return bad(http.StatusForbidden, "cross-origin request from "+r.Header.Get("Origin")+" not allowed")
	}
	return nil
}

// bodyReason returns why r, which must have no body, has one, or "". The
// bytes behind an upgrade request's head are the client's first frames;
// a body would be HTTP's bytes among them, and a head with both
// Content-Length and Transfer-Encoding is the classic smuggling signal
// (RFC 9112, 6.3), so any declared body is refused rather than read or
// skipped. Content-Length: 0 declares none. net/http moves a valid
// Transfer-Encoding into r.TransferEncoding (dropping a Content-Length
// beside it) and refuses an unsupported one itself; the header is checked
// too for a request that reached Accept some other way.
func bodyReason(r *http.Request) string {
	switch {
	case len(r.TransferEncoding) > 0:
		return "the request must have no body, but it has Transfer-Encoding: " + strings.Join(r.TransferEncoding, ", ")
	case len(r.Header["Transfer-Encoding"]) > 0:
		return "the request must have no body, but it has a Transfer-Encoding header"
	case r.ContentLength != 0:
		return "the request must have no body, but it has Content-Length: " + strconv.FormatInt(r.ContentLength, 10)
	}
	return ""
}

// originAllowed implements the same-origin default and the allow-list
// (see ServerOptions.OriginPatterns).
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header["Origin"]
	if len(origin) == 0 {
		return true
	}
	if len(origin) > 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || u.Host == "" {
		return slices.Contains(patterns, "*")
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host, port, ok := splitHostPort(u.Host)
	for _, p := range patterns {
		if p == "*" || ok && originMatch(p, host, port) {
			return true
		}
	}
	return false
}

// originMatch reports whether an Origin's host and port ("" for none)
// match pattern, which is not "*" alone (see ServerOptions.OriginPatterns).
func originMatch(pattern, host, port string) bool {
	phost, pport, ok := splitHostPort(pattern)
	if !ok || pport != "*" && pport != port {
		return false
	}
	switch suffix, wild := strings.CutPrefix(phost, "*."); {
	case phost == "*":
		return true
	case wild:
		// One or more whole labels, then the suffix; an IP address has
		// no labels to stand in for.
		n := len(host) - len(suffix)
		if suffix == "" || n < 2 || host[n-1] != '.' || !strings.EqualFold(host[n:], suffix) {
			return false
		}
		_, err := netip.ParseAddr(host)
		return err != nil
	}
	return sameHost(phost, host)
}

// hostAllowed reports whether the Host header hostport names one of
// hosts, or hosts is empty (see ServerOptions.Hosts).
func hostAllowed(hostport string, hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	host := hostName(hostport)
	if host == "" {
		return false
	}
	for _, h := range hosts {
		if h = hostName(h); h != "" && sameHost(h, host) {
			return true
		}
	}
	return false
}

// hostName returns the host of a Host header or Hosts entry, without a
// port or an IPv6 address's brackets, or "" for one of neither shape. A
// bare IPv6 address is itself (its colons are no port).
func hostName(s string) string {
	if _, err := netip.ParseAddr(s); err == nil {
		return s
	}
	host, _, ok := splitHostPort(s)
	if !ok {
		return ""
	}
	return host
}

// splitHostPort splits "host", "host:port", "[ipv6]" or "[ipv6]:port"
// into the host, without brackets, and the port, "" for none. ok is false
// for any other shape: an empty host or port, an IPv6 address without
// brackets, anything after the brackets but a port.
func splitHostPort(s string) (host, port string, ok bool) {
	if rest, bracketed := strings.CutPrefix(s, "["); bracketed {
		host, rest, ok = strings.Cut(rest, "]")
		if !ok || host == "" {
			return "", "", false
		}
		if rest == "" {
			return host, "", true
		}
		port, ok = strings.CutPrefix(rest, ":")
		return host, port, ok && port != ""
	}
	host, port, hasPort := strings.Cut(s, ":")
	if host == "" || hasPort && (port == "" || strings.Contains(port, ":")) {
		return "", "", false
	}
	return host, port, true
}

// sameHost reports whether a and b, hosts without ports or brackets, name
// the same host: equal ignoring case, or the same IP address.
func sameHost(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	x, err := netip.ParseAddr(a)
	if err != nil {
		return false
	}
	y, err := netip.ParseAddr(b)
	return err == nil && x == y
}

func chooseProtocol(r *http.Request, o *ServerOptions, offered []string) string {
	if len(offered) == 0 {
		return ""
	}
	if o.SelectSubprotocol != nil {
		p := o.SelectSubprotocol(r, slices.Clone(offered))
		if slices.Contains(offered, p) {
			return p
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

// appendHeader writes h as header lines, leaving out names that are not
// tokens, the names in skip (canonical form: the ones the handshake itself
// sets), and values with line breaks, so no user header can split or
// forge the head.
func appendHeader(b []byte, h http.Header, skip ...string) []byte {
	for name, vs := range h {
		if !isToken(name) || slices.Contains(skip, http.CanonicalHeaderKey(name)) {
			continue
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				continue
			}
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// responseOwned are the headers Accept writes itself or that a 101 may
// not carry.
var responseOwned = []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol",
	"Sec-Websocket-Extensions", "Content-Length", "Transfer-Encoding", "Content-Type"}
