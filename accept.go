package wsio

import (
	"net"
	"net/http"
	"net/url"
	"path"
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
	// host, as path.Match patterns on the origin's host ("example.com",
	// "*.example.com", "localhost:*"); "*" allows every origin. A
	// cross-origin request with a browser's Origin header that matches
	// none is refused with 403. Requests without Origin are allowed.
	OriginPatterns []string
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
// An upgrade request has no body: the bytes behind its head are the
// client's first frames. A request with a non-zero Content-Length or any
// Transfer-Encoding is refused with 400 and "Connection: close", its body
// unread, so no byte of it is ever taken for a frame.
//
// The connection lives on after the handler returns; the handler's
// goroutine may be used to read it.
func Accept(w http.ResponseWriter, r *http.Request, o *ServerOptions) (*Conn, error) {
	if o == nil {
		o = &ServerOptions{}
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

// originAllowed implements the same-origin default and the allow-list.
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
	host := strings.ToLower(u.Host)
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
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
