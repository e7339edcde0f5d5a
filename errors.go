package wsio

import (
	"errors"
	"strconv"

	"github.com/wsio/wsio/conn"
)

// StatusCode is a close status code (RFC 6455, section 7.4).
type StatusCode uint16

// The close status codes an application meets most. Codes 3000–3999 are
// registered with IANA by libraries and frameworks; 4000–4999 are free for
// applications.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	// StatusNoStatus is never sent: it reports a close frame without a code.
	StatusNoStatus StatusCode = 1005
	// StatusAbnormalClosure is never sent: it reports a connection that
	// ended without a close frame.
	StatusAbnormalClosure    StatusCode = 1006
	StatusInvalidPayload     StatusCode = 1007
	StatusPolicyViolation    StatusCode = 1008
	StatusMessageTooBig      StatusCode = 1009
	StatusMandatoryExtension StatusCode = 1010
	StatusInternalError      StatusCode = 1011
	StatusServiceRestart     StatusCode = 1012
	StatusTryAgainLater      StatusCode = 1013
	StatusBadGateway         StatusCode = 1014
)

// validWire reports whether code may appear in a close frame on the wire.
func (c StatusCode) validWire() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// String returns the code's number and, for the codes RFC 6455 names, its name.
func (c StatusCode) String() string {
	if n, ok := statusNames[c]; ok {
		return strconv.Itoa(int(c)) + " (" + n + ")"
	}
	return strconv.Itoa(int(c))
}

var statusNames = map[StatusCode]string{
	1000: "normal closure", 1001: "going away", 1002: "protocol error",
	1003: "unsupported data", 1005: "no status", 1006: "abnormal closure",
	1007: "invalid payload data", 1008: "policy violation", 1009: "message too big",
	1010: "mandatory extension", 1011: "internal error", 1012: "service restart",
	1013: "try again later", 1014: "bad gateway",
}

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrClosed reports use of a connection after it was closed, by either
	// side. Every *CloseError matches it.
	ErrClosed = errors.New("websocket: connection closed")
	// ErrProtocol reports a peer that broke RFC 6455; the connection was
	// closed with status 1002.
	ErrProtocol = conn.ErrProtocol
	// ErrInvalidUTF8 reports text that is not UTF-8: received (the
	// connection was closed with 1007) or given to a send method.
	ErrInvalidUTF8 = errors.New("websocket: invalid UTF-8")
	// ErrMessageTooBig reports a message over the buffer cap or the binary
	// message limit; the connection was closed with 1009.
	ErrMessageTooBig = errors.New("websocket: message too big")
	// ErrStreamOpen reports an attempt to start a data message while a
	// binary stream from BeginBinary is still open on the connection.
	ErrStreamOpen = errors.New("websocket: a binary stream is open")
	// ErrBadHandshake reports an opening handshake that failed.
	ErrBadHandshake = errors.New("websocket: bad handshake")
	// ErrKeepalive reports a peer that did not answer a keepalive ping in time.
	ErrKeepalive = errors.New("websocket: keepalive timeout")
	// ErrStaleMessage reports a read from a Message after the connection
	// moved on to a later one.
	ErrStaleMessage = errors.New("websocket: message is no longer current")
)

// CloseError is how a closed connection reports itself: the status code and
// reason of the close, who sent them, and the cause when the connection was
// closed for a fault. It matches ErrClosed with errors.Is and unwraps to
// the cause (for example ErrProtocol or io.ErrUnexpectedEOF).
type CloseError struct {
	// Code is the status code. StatusNoStatus means the close frame had
	// none; StatusAbnormalClosure means there was no close frame at all.
	Code StatusCode
	// Reason is the close frame's reason text, possibly empty.
	Reason string
	// Remote is true when the peer sent this close, false when this side did.
	Remote bool
	// Err is the cause of a close this side made for a fault, or nil.
	Err error
}

// Error describes the close.
func (e *CloseError) Error() string {
	who := "local"
	if e.Remote {
		who = "peer"
	}
	s := "websocket: closed by " + who + ": " + e.Code.String()
	if e.Reason != "" {
		s += ": " + strconv.Quote(e.Reason)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, if any.
func (e *CloseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrClosed, so any close matches it.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }
