package wstest

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Key is the sample Sec-WebSocket-Key of RFC 6455 (section 1.3), whose
// Sec-WebSocket-Accept is "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
const Key = "dGhlIHNhbXBsZSBub25jZQ=="

// AcceptKey computes the Sec-WebSocket-Accept for key from its definition
// (RFC 6455, section 4.2.2), independently of the library.
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// RawOptions are the choices of DialRaw.
type RawOptions struct {
	// Extensions, when not empty, is sent as Sec-WebSocket-Extensions,
	// and the server must accept the extension it names first.
	Extensions string
	// RecvBuffer, when positive, is the socket's receive buffer in bytes,
	// set before the handshake, so a peer that never reads fills up soon.
	RecvBuffer int
	// Timeout bounds the dial and the handshake; 0 means Timeout.
	Timeout time.Duration
}

// DialRaw connects to the host of url (ws://host:port, with any path) and
// performs the client side of the opening handshake by hand, with Key as
// Sec-WebSocket-Key. It fails, closing the connection, unless the answer
// is a 101 with the right Sec-WebSocket-Accept (and the extension asked
// for, if any). The reader may already hold frames sent right after the
// 101; the connection has no deadline left on it.
func DialRaw(url string, o RawOptions) (*net.TCPConn, *bufio.Reader, error) {
	if o.Timeout <= 0 {
		o.Timeout = Timeout
	}
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "ws://"), "/")
	nc, err := net.DialTimeout("tcp", host, o.Timeout)
	if err != nil {
		return nil, nil, err
	}
	tc := nc.(*net.TCPConn)
	if o.RecvBuffer > 0 {
		_ = tc.SetReadBuffer(o.RecvBuffer)
	}
	fail := func(err error) (*net.TCPConn, *bufio.Reader, error) {
		tc.Close()
		return nil, nil, fmt.Errorf("raw handshake with %s: %w", host, err)
	}
	_ = tc.SetDeadline(time.Now().Add(o.Timeout))
	offer := ""
	if o.Extensions != "" {
		offer = "Sec-WebSocket-Extensions: " + o.Extensions + "\r\n"
	}
	if _, err := io.WriteString(tc, "GET /"+path+" HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: "+Key+"\r\nSec-WebSocket-Version: 13\r\n"+offer+"\r\n"); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(tc, 64<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return fail(err)
	}
	if accept := resp.Header.Get("Sec-WebSocket-Accept"); resp.StatusCode != http.StatusSwitchingProtocols || accept != AcceptKey(Key) {
		return fail(fmt.Errorf("%s with Sec-WebSocket-Accept %q", resp.Status, accept))
	}
	if o.Extensions != "" {
		name, _, _ := strings.Cut(o.Extensions, ";")
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(got, strings.TrimSpace(name)) {
			return fail(fmt.Errorf("the server did not accept %s: Sec-WebSocket-Extensions %q", name, got))
		}
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, br, nil
}
