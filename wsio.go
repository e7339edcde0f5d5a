package wsio

import (
	"context"
	"net"
	"net/http"
	"net/url"

	"github.com/wsio/wsio/conn"
)

// Conn is one WebSocket connection; see [conn.Conn] for its methods.
type Conn = conn.Conn

// Message is one received data message: a whole string for text, a
// stream (io.Reader) for binary. See [conn.Message].
type Message = conn.Message

// Kind says whether a message is Text or Binary.
type Kind = conn.Kind

// The message kinds.
const (
	Text   = conn.Text
	Binary = conn.Binary
)

// State is a connection's ready state.
type State = conn.State

// The ready states.
const (
	Connecting = conn.Connecting
	Open       = conn.Open
	Closing    = conn.Closing
	Closed     = conn.Closed
)

// StatusCode is a close status code.
type StatusCode = conn.StatusCode

// The close status codes an application meets most.
const (
	StatusNormalClosure   = conn.StatusNormalClosure
	StatusGoingAway       = conn.StatusGoingAway
	StatusProtocolError   = conn.StatusProtocolError
	StatusUnsupportedData = conn.StatusUnsupportedData
	StatusNoStatus        = conn.StatusNoStatus
	StatusAbnormalClosure = conn.StatusAbnormalClosure
	StatusInvalidPayload  = conn.StatusInvalidPayload
	StatusPolicyViolation = conn.StatusPolicyViolation
	StatusMessageTooBig   = conn.StatusMessageTooBig
	StatusInternalError   = conn.StatusInternalError
)

// CloseError reports how a connection was closed; it matches ErrClosed.
type CloseError = conn.CloseError

// HandshakeError reports a failed opening handshake; it matches ErrBadHandshake.
type HandshakeError = conn.HandshakeError

// Options are the per-connection settings shared by servers and clients.
type Options = conn.Options

// AcceptOptions configure the server side of the handshake.
type AcceptOptions = conn.AcceptOptions

// ServerOptions configure a Server: the handshake and every connection it accepts.
type ServerOptions = conn.AcceptOptions

// DialOptions configure the client side of the handshake.
type DialOptions = conn.DialOptions

// BinaryWriter is the stream BeginBinary returns. The ctx given to
// BeginBinary governs its every write; see [conn.MessageWriter] for what
// a ctx that ends before the message does leaves behind.
type BinaryWriter = conn.MessageWriter

// Compression configures permessage-deflate (RFC 7692).
type Compression = conn.Compression

// WithoutCompression returns a context under which sent messages are not
// compressed: a per-message opt-out.
func WithoutCompression(ctx context.Context) context.Context { return conn.WithoutCompression(ctx) }

// Sentinel errors; match them with errors.Is.
var (
	ErrClosed        = conn.ErrClosed
	ErrProtocol      = conn.ErrProtocol
	ErrInvalidUTF8   = conn.ErrInvalidUTF8
	ErrMessageTooBig = conn.ErrMessageTooBig
	ErrStreamOpen    = conn.ErrStreamOpen
	ErrBadHandshake  = conn.ErrBadHandshake
	ErrKeepalive     = conn.ErrKeepalive
	ErrStaleMessage  = conn.ErrStaleMessage
	ErrProxy         = conn.ErrProxy
)

// ProxyFromEnvironment picks the proxy for a URL from HTTP_PROXY,
// HTTPS_PROXY, ALL_PROXY and NO_PROXY, as net/http does; it is what Dial
// uses when DialOptions.Proxy is nil.
func ProxyFromEnvironment(u *url.URL) (*url.URL, error) { return conn.ProxyFromEnvironment(u) }

// ProxyURL returns a DialOptions.Proxy function that always picks proxy;
// ProxyURL(nil) dials directly, ignoring the environment.
func ProxyURL(proxy *url.URL) func(*url.URL) (*url.URL, error) { return conn.ProxyURL(proxy) }

// Dial opens a client connection to a ws:// or wss:// URL. ctx bounds the
// dial and the handshake; if it is already done, Dial returns ctx.Err()
// without dialing. On a refused handshake it returns the server's
// response with a *HandshakeError. o may be nil.
func Dial(ctx context.Context, url string, o *DialOptions) (*Conn, *http.Response, error) {
	return conn.Dial(ctx, url, o)
}

// Accept upgrades one HTTP request to a WebSocket connection, for handlers
// that route, authenticate or refuse requests themselves. A request that
// is not a valid upgrade gets the matching HTTP error. o may be nil.
func Accept(w http.ResponseWriter, r *http.Request, o *AcceptOptions) (*Conn, error) {
	return conn.Accept(w, r, o)
}

// AcceptConn performs the server side of the opening handshake on a fresh
// connection from a listener of your own, without net/http: it reads and
// checks the request head itself and answers with 101 or the matching HTTP
// error (then closes nc). It is what Server.Serve uses. o may be nil.
func AcceptConn(ctx context.Context, nc net.Conn, o *AcceptOptions) (*Conn, error) {
	return conn.AcceptConn(ctx, nc, o)
}
