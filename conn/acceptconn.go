package conn

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/wsio/wsio/limits"
)

// headReader reads a request head for AcceptConn and records every byte
// it reads, so the head can be kept as one string instead of the parsed
// request (about 1.2 KiB for a browser-sized head, against its ~300
// bytes). They are pooled: an accepted connection keeps none.
type headReader struct {
	br  *bufio.Reader
	lr  io.LimitedReader
	rec []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.lr.Read(p)
	h.rec = append(h.rec, p[:n]...)
	return n, err
}

var headReaders = sync.Pool{New: func() any {
	h := &headReader{rec: make([]byte, 0, 4096)}
	h.br = bufio.NewReaderSize(h, 4096)
	return h
}}

// readRequestHead reads and parses a request head from nc, at most max bytes.
// It returns the head as read, and the bytes read past it.
func readRequestHead(nc net.Conn, max int64) (r *http.Request, head string, pre []byte, capped bool, err error) {
	h := headReaders.Get().(*headReader)
	h.lr = io.LimitedReader{R: nc, N: max}
	h.rec = h.rec[:0]
	h.br.Reset(h)
	r, err = http.ReadRequest(h.br)
	if err == nil {
		end := len(h.rec) - h.br.Buffered()
		head = string(h.rec[:end])
		if end < len(h.rec) {
			pre = append([]byte(nil), h.rec[end:]...)
		}
	}
	capped = h.lr.N <= 0
	h.lr.R = nil
	if cap(h.rec) > 64<<10 {
		h.rec = make([]byte, 0, 4096)
	}
	headReaders.Put(h)
	return r, head, pre, capped, err
}

// parseHead parses a head that readRequestHead accepted, for Conn.Request.
func parseHead(head string) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
}

// AcceptConn performs the server side of the opening handshake on a fresh
// connection, without net/http: it reads the request head itself (at most
// 16 KiB, within HandshakeTimeout or until ctx ends), runs the same checks
// and options as Accept, and answers. A *tls.Conn is handshaken first.
//
// A request that is not a valid upgrade gets the HTTP error Accept would
// send (400, 403, 405, 426, or 431 for a head over the cap), nc is closed
// and the error is a *HandshakeError. The accepted connection's Request
// carries the parsed request, with RemoteAddr and TLS set.
//
// This is the path Server.Serve takes: it skips net/http's per-connection
// state (its buffered reader and writer, the request context), which makes
// handshakes cheaper and idle connections smaller. Use Accept when the
// upgrade must go through net/http handlers and middleware.
func AcceptConn(ctx context.Context, nc net.Conn, o *AcceptOptions) (*Conn, error) {
	if o == nil {
		o = &AcceptOptions{}
	}
	timeout := limits.Or(o.HandshakeTimeout, limits.DefaultHandshakeTimeout)
	_ = nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	fail := func(reason string, err error) (*Conn, error) {
		stop()
		_ = nc.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &HandshakeError{Status: 0, Reason: reason + ": " + err.Error()}
	}

	var state *tls.ConnectionState
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("TLS handshake", err)
		}
		cs := tc.ConnectionState()
		state = &cs
	}

	r, head, pre, capped, err := readRequestHead(nc, limits.DefaultMaxHeaderBytes)
	if err != nil {
		var ne net.Error
		switch {
		case capped:
			return refuse(nc, stop, http.StatusRequestHeaderFieldsTooLarge, "the request head is over 16 KiB")
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne):
			// The peer went away or was too slow: nobody to answer.
			return fail("reading the request", err)
		default:
			return refuse(nc, stop, http.StatusBadRequest, "malformed request: "+err.Error())
		}
	}
	r.RemoteAddr = nc.RemoteAddr().String()
	r.TLS = state
	if reason := checkHead(r); reason != "" {
		status := http.StatusBadRequest
		if r.ProtoMajor != 1 {
			status = http.StatusHTTPVersionNotSupported
		}
		return refuse(nc, stop, status, reason)
	}
	if he := checkUpgrade(r, o); he != nil {
		return refuse(nc, stop, he.Status, he.Reason)
	}
	offered := headerList(r.Header, "Sec-Websocket-Protocol")
	protocol := chooseProtocol(r, o, offered)
	ext, deflate := negotiate(r, o)
	stop()
	if ctx.Err() != nil {
		return fail("handshake", ctx.Err())
	}
	_ = nc.SetReadDeadline(time.Time{})
	c, err := upgrade(nc, r, o, nil, protocol, offered, ext, deflate, pre)
	if c != nil {
		// Keep the head, not the parsed request: Request parses it again
		// if it is ever asked for.
		c.req.Store(nil)
		c.head = head
	}
	return c, err
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
