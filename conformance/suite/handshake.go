package suite

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// websocketGUID is the fixed GUID of RFC 6455 section 1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey computes the Sec-WebSocket-Accept value for a client key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(websocketGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// ErrHandshake is wrapped by every opening-handshake failure.
var ErrHandshake = errors.New("suite: websocket opening handshake failed")

// headerHasToken reports whether a comma-separated header contains token,
// compared case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// DialWebSocket opens a TCP connection to a ws:// URL and performs the client
// side of the opening handshake. It returns the connection and a reader that
// may already hold bytes the server sent after its response.
func DialWebSocket(ctx context.Context, rawURL string, timeout time.Duration) (net.Conn, *bufio.Reader, error) {
	conn, br, _, err := dialWebSocket(ctx, rawURL, timeout, "")
	return conn, br, err
}

// dial opens the client side's connection: with cfg.Dial when set, else
// with the engine's own handshake.
func (cfg *EngineConfig) dial(ctx context.Context, rawURL, extensions string) (net.Conn, *bufio.Reader, http.Header, error) {
	if cfg.Dial == nil {
		return dialWebSocket(ctx, rawURL, cfg.HandshakeTimeout, extensions)
	}
	h := http.Header{"Sec-Websocket-Version": {"13"}}
	if extensions != "" {
		h.Set("Sec-WebSocket-Extensions", extensions)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	conn, hdr, err := cfg.Dial(ctx, rawURL, h)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return conn, bufio.NewReaderSize(conn, 64<<10), hdr, nil
}

// accept takes the server side's request: with cfg.Accept when set, else
// with the engine's own handshake.
func (cfg *EngineConfig) accept(w http.ResponseWriter, r *http.Request, extensions string) (net.Conn, *bufio.Reader, error) {
	if cfg.Accept == nil {
		return acceptWebSocket(w, r, extensions)
	}
	h := http.Header{}
	if extensions != "" {
		h.Set("Sec-WebSocket-Extensions", extensions)
	}
	conn, err := cfg.Accept(w, r, h)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return conn, bufio.NewReaderSize(conn, 64<<10), nil
}

// dialWebSocket is DialWebSocket with an optional Sec-WebSocket-Extensions
// offer; it also returns the headers of the server's response.
func dialWebSocket(ctx context.Context, rawURL string, timeout time.Duration, extensions string) (net.Conn, *bufio.Reader, http.Header, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: parsing %q: %w", ErrHandshake, rawURL, err)
	}
	if u.Scheme != "ws" {
		return nil, nil, nil, fmt.Errorf("%w: unsupported scheme %q (only ws:// is supported)", ErrHandshake, u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: dialing %s: %w", ErrHandshake, host, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n"
	if extensions != "" {
		req += "Sec-WebSocket-Extensions: " + extensions + "\r\n"
	}
	req += "User-Agent: wsio-conformance\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("%w: writing request: %w", ErrHandshake, err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("%w: reading response: %w", ErrHandshake, err)
	}
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		err = fmt.Errorf("status %d, want 101", resp.StatusCode)
	case !headerHasToken(resp.Header, "Upgrade", "websocket"):
		err = errors.New("missing Upgrade: websocket")
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		err = errors.New("missing Connection: Upgrade")
	case resp.Header.Get("Sec-WebSocket-Accept") != AcceptKey(key):
		err = fmt.Errorf("Sec-WebSocket-Accept %q, want %q", resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key))
	}
	if err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, resp.Header, nil
}

// AcceptWebSocket performs the server side of the opening handshake on an
// HTTP request and hijacks its connection. On failure it has already written
// an HTTP error response.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.Reader, error) {
	return acceptWebSocket(w, r, "")
}

// acceptWebSocket is AcceptWebSocket with an optional
// Sec-WebSocket-Extensions response header.
func acceptWebSocket(w http.ResponseWriter, r *http.Request, extensions string) (net.Conn, *bufio.Reader, error) {
	if r.Method != http.MethodGet ||
		!headerHasToken(r.Header, "Upgrade", "websocket") ||
		!headerHasToken(r.Header, "Connection", "upgrade") {
		http.Error(w, "expected a WebSocket upgrade request", http.StatusBadRequest)
		return nil, nil, fmt.Errorf("%w: not an upgrade request", ErrHandshake)
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version", http.StatusUpgradeRequired)
		return nil, nil, fmt.Errorf("%w: version %q", ErrHandshake, r.Header.Get("Sec-WebSocket-Version"))
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if dec, err := base64.StdEncoding.DecodeString(key); err != nil || len(dec) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return nil, nil, fmt.Errorf("%w: bad key %q", ErrHandshake, key)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be hijacked", http.StatusInternalServerError)
		return nil, nil, fmt.Errorf("%w: response writer is not a Hijacker", ErrHandshake)
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: hijack: %w", ErrHandshake, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + AcceptKey(key) + "\r\n"
	if extensions != "" {
		resp += "Sec-WebSocket-Extensions: " + extensions + "\r\n"
	}
	resp += "\r\n"
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(resp)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("%w: writing 101 response: %w", ErrHandshake, err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, rw.Reader, nil
}
