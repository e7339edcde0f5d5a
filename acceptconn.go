package wsio

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/wsio/wsio/internal/sock"
	"github.com/wsio/wsio/limits"
)

// readRequestHead reads a request head from nc, at most max bytes, and
// parses it. It returns the head as read and the bytes read past it. A
// head that did not end within max bytes gives errHeadTooLarge; a peer
// that went away or timed out gives the read error; a malformed head, the
// parse error. With full false the request may hold only the header
// fields the handshake reads (see parseUpgradeHead), and come from a pool:
// then q is not nil, r is &q.r, and the caller hands q back with release
// once it no longer reads r. arm is as for readHeadBytes.
func readRequestHead(nc net.Conn, max int, full bool, arm func()) (r *http.Request, q *upgradeReq, head string, pre []byte, err error) {
	bp, n, err := readHeadBytes(nc, max, arm)
	if err != nil {
		return nil, nil, "", nil, err
	}
	head = string((*bp)[:n])
	if n < len(*bp) {
		pre = append([]byte(nil), (*bp)[n:]...)
	}
	headBufs.Put(bp)
	if !full {
		q = upgradeReqs.Get().(*upgradeReq)
		if parseUpgradeHead(head, q) {
			return &q.r, q, head, pre, nil
		}
		q.release()
	}
	r, err = parseHead(head)
	return r, nil, head, pre, err
}

// upgradeReq is the request parseUpgradeHead fills in, with its URL and
// header, in one pooled allocation. AcceptConn hands it to no callback and
// keeps nothing that points into it (the Conn keeps the head, and copies
// of what it needs), so it goes back to the pool when the handshake ends.
type upgradeReq struct {
	r      http.Request
	u      url.URL
	h      http.Header
	firsts [len(upgradeFields)]string // each field's first value, so a field costs no slice of its own
}

var upgradeReqs = sync.Pool{New: func() any {
	return &upgradeReq{h: make(http.Header, len(upgradeFields))}
}}

// release empties q and puts it back in the pool.
func (q *upgradeReq) release() {
	clear(q.h)
	h := q.h
	*q = upgradeReq{h: h}
	upgradeReqs.Put(q)
}

// parseHead parses a whole request head with net/http.
func parseHead(head string) (*http.Request, error) {
	br := bufio.NewReaderSize(strings.NewReader(head), max(16, len(head)))
	r, err := http.ReadRequest(br)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// The head is complete (headEnd found its end), so running out
		// of bytes means net/http saw a malformed line.
		err = fmt.Errorf("malformed request head (%v)", err)
	}
	return r, err
}

// upgradeFields are the header fields the opening handshake reads, in
// canonical form.
var upgradeFields = [...]string{"Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Origin"}

// fieldName returns the canonical form of name if it is one of
// upgradeFields, Host, Content-Length or Transfer-Encoding, else "".
func fieldName(name string) string {
	var c1, c2 string
	switch len(name) {
	case 4:
		c1 = "Host"
	case 6:
		c1 = "Origin"
	case 7:
		c1 = "Upgrade"
	case 10:
		c1 = "Connection"
	case 14:
		c1 = "Content-Length"
	case 17:
		c1, c2 = "Sec-Websocket-Key", "Transfer-Encoding"
	case 21:
		c1 = "Sec-Websocket-Version"
	case 22:
		c1 = "Sec-Websocket-Protocol"
	case 24:
		c1 = "Sec-Websocket-Extensions"
	}
	switch {
	case c1 != "" && strings.EqualFold(name, c1):
		return c1
	case c2 != "" && strings.EqualFold(name, c2):
		return c2
	}
	return ""
}

// parseUpgradeHead parses the common shape of an upgrade request without
// net/http: "GET /origin-form-target HTTP/1.1", CRLF line ends, header
// fields "token: value" with no control characters in the value, exactly
// one Host, and no Content-Length or Transfer-Encoding. The request's
// Header holds only upgradeFields. For any head outside that shape it
// returns false, and the caller parses it with net/http, whose verdict
// then stands. Whatever it accepts, http.ReadRequest accepts with the same
// method, URL, Host and upgradeFields values (FuzzParseUpgradeHead).
func parseUpgradeHead(head string, q *upgradeReq) bool {
	line, rest, ok := cutCRLF(head)
	if !ok {
		return false
	}
	target, ok := strings.CutPrefix(line, "GET ")
	if !ok {
		return false
	}
	target, ok = strings.CutSuffix(target, " HTTP/1.1")
	if !ok || target == "" || target[0] != '/' {
		return false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	if !parseTarget(target, &q.u) {
		return false
	}
	h := q.h
	firsts := q.firsts[:]
	host, hosts := "", 0
	for {
		if line, rest, ok = cutCRLF(rest); !ok {
			return false
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return false
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
				return false
			}
		}
		switch key := fieldName(name); key {
		case "":
		case "Host":
			host, hosts = value, hosts+1
		case "Content-Length", "Transfer-Encoding":
			return false
		default:
			if vv, seen := h[key]; seen {
				h[key] = append(vv, value)
			} else {
				firsts[0] = value
				h[key] = firsts[:1:1]
				firsts = firsts[1:]
			}
		}
	}
	if hosts != 1 {
		return false
	}
	q.r = http.Request{Method: http.MethodGet, URL: &q.u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: host, RequestURI: target, Body: http.NoBody}
	return true
}

// parseTarget parses an origin-form request target (it starts with "/"
// and holds no space or control character) into u, as url.ParseRequestURI
// does. A path of only characters that need no escaping is split off
// without an allocation; anything else goes through url.ParseRequestURI.
func parseTarget(target string, u *url.URL) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !plainPathChar(path[i]) {
			pu, err := url.ParseRequestURI(target)
			if err != nil {
				return false
			}
			*u = *pu
			return true
		}
	}
	u.Path, u.RawQuery = path, query
	u.ForceQuery = hasQuery && query == ""
	return true
}

// plainPathChar reports whether c stands for itself in a URL path: it is
// neither escaped nor an escape (RFC 3986's unreserved characters and the
// sub-delimiters that Go's url package leaves as they are in a path).
func plainPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '/', '$', '&', '+', ',', ':', ';', '=', '@':
		return true
	}
	return false
}

// cutCRLF cuts s after its first line, which must end in CRLF; ok is
// false when it does not, or has a CR elsewhere.
func cutCRLF(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	line = s[:i-1]
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", false
	}
	return line, s[i+1:], true
}

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
	if o == nil {
		o = &ServerOptions{}
	}
	// The handshake runs under a deadline, set only once something would
	// wait: a request that has already arrived (Serve's listener defers
	// the accept until it has) is read, and the response written, in one
	// system call each, with no deadline to set and clear.
	timeout := or(o.HandshakeTimeout, limits.DefaultHandshakeTimeout)
	armed := false
	arm := func() {
		if !armed {
			armed = true
			_ = nc.SetDeadline(time.Now().Add(timeout))
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
	r, q, head, pre, err := readRequestHead(nc, limits.DefaultMaxHeaderBytes, full, arm)
	if q != nil {
		defer q.release()
	}
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, errHeadTooLarge):
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
	if reason := checkHead(r); reason != "" {
		status := http.StatusBadRequest
		if r.ProtoMajor != 1 {
			status = http.StatusHTTPVersionNotSupported
		}
		return deny(status, reason)
	}
	if he := checkUpgrade(r, o); he != nil {
		return deny(he.Status, he.Reason)
	}
	offered := headerList(r.Header, "Sec-Websocket-Protocol")
	protocol := chooseProtocol(r, o, offered)
	ext, deflate := negotiate(r, o)
	stop()
	if ctx.Err() != nil {
		return fail("handshake", ctx.Err())
	}
	bp := headBufs.Get().(*[]byte)
	b := response((*bp)[:0], r, o, nil, protocol, ext)
	n := 0
	if !armed {
		n, err = sock.Of(nc).TryWrite(b)
	}
	if err == nil && n < len(b) {
		arm()
		_, err = nc.Write(b[n:])
	}
	headBufs.Put(bp)
	if err != nil {
		return nil, responseFailed(nc, err)
	}
	if armed {
		_ = nc.SetDeadline(time.Time{})
	}
	c := accepted(nc, r, o, protocol, offered, deflate, pre)
	// Keep the head, not the parsed request (which may hold only the
	// handshake's fields): Request parses it if it is ever asked for.
	c.head = head
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
	b := make([]byte, 0, 256+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	b = appendHeader(b, h)
	b = append(b, "\r\n"...)
	b = append(b, body...)
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

// checkHead applies the checks net/http's server makes on a request head
// beyond what http.ReadRequest does, and returns why it fails or "".
func checkHead(r *http.Request) string {
	if r.ProtoMajor != 1 {
		return "unsupported protocol version " + r.Proto
	}
	if r.Host == "" && r.ProtoAtLeast(1, 1) {
		return "missing required Host header"
	}
	if r.Host != "" && !httpguts.ValidHostHeader(r.Host) {
		return "malformed Host header"
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid header value"
			}
		}
	}
	return ""
}
