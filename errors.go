package wsio

import (
	"errors"
	"strconv"
	"strings"

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
	// ErrProtocol reports a broken RFC 6455 rule: this side found the
	// peer's violation and closed the connection with status 1002, or the
	// peer closed it with 1002 (a *CloseError with that code matches
	// ErrProtocol, whichever side sent it).
	ErrProtocol = conn.ErrProtocol
	// ErrInvalidUTF8 reports text that is not UTF-8: received (the
	// connection was closed with 1007), reported by the peer's close with
	// 1007 (a *CloseError with that code matches it, whichever side sent
	// it), or given to a send method.
	ErrInvalidUTF8 = errors.New("websocket: invalid UTF-8")
	// ErrMessageTooBig reports a message over the buffer cap or the binary
	// message limit: this side received one and closed the connection with
	// 1009, or the peer closed it with 1009 because this side sent one (a
	// *CloseError with that code matches it, whichever side sent it).
	ErrMessageTooBig = errors.New("websocket: message too big")
	// ErrStreamOpen reports an attempt to start a data message while a
	// binary stream from BeginBinary is still open on the connection.
	ErrStreamOpen = errors.New("websocket: a binary stream is open")
	// ErrBadHandshake reports an opening handshake that failed, or one
	// that Dial refused to start because its options would not make a
	// valid request (a malformed Host header or subprotocol).
	ErrBadHandshake = errors.New("websocket: bad handshake")
	// ErrKeepalive reports a peer that did not answer a keepalive ping in time.
	ErrKeepalive = errors.New("websocket: keepalive timeout")
	// ErrStaleMessage reports a read from a Message after the connection
	// moved on to a later one.
	ErrStaleMessage = errors.New("websocket: message is no longer current")
)

// CloseError is how a closed connection reports itself: the status code and
// reason of the close, who sent them, and the cause when the connection was
// closed for a fault. Reads, writes and Close after the end, and Err,
// return it.
//
// Which close it describes: the first close frame of the closing
// handshake, with one exception. When this side's Close sent the first
// frame and the peer's close frame is not merely an answer to it, the
// peer's frame is how the connection ended and the CloseError is the
// peer's (Remote set, the peer's Code and Reason). A peer's frame is an
// answer when its code is this side's code, 1000 (normal closure) or
// absent (StatusNoStatus); any other code is the peer's own reason to
// close, sent before ours reached it. So the code and reason a peer closes
// with always reach the program, in whichever order the two close frames
// cross. A close this side made for the peer's fault (the connection
// failed with 1002, 1007 or 1009) stays this side's whatever the peer
// answers. A connection that ended without a close frame reports
// StatusAbnormalClosure (1006) with the cause in Err.
//
// A CloseError matches ErrClosed with errors.Is, and unwraps to the cause
// (for example ErrProtocol or io.ErrUnexpectedEOF). By its code it also
// matches the sentinel of the fault the code names, whichever side sent
// it: 1002 matches ErrProtocol, 1007 ErrInvalidUTF8 and 1009
// ErrMessageTooBig. So one errors.Is check works on both ends: the side
// that found a message too big and the side whose message it was.
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
	var cause string
	if e.Err != nil {
		cause = strings.TrimPrefix(e.Err.Error(), prefix)
	}
	// The reason of a close made for a fault is the cause's short form:
	// it is shown only when the cause does not already say it.
	if e.Reason != "" && !strings.Contains(cause, e.Reason) {
		s += ": " + strconv.Quote(e.Reason)
	}
	if cause != "" {
		s += ": " + cause
	}
	return s
}

// prefix begins every error this package makes, once.
const prefix = "websocket: "

// fault is an error with a text of its own that matches the sentinel kind
// (and unwraps to cause, when there is one), so that its text need not
// repeat the sentinel's or the cause's.
type fault struct {
	msg   string
	kind  error
	cause error
}

func (e *fault) Error() string { return e.msg }

func (e *fault) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// truncUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence,
// as a close reason or a quoted value in an error's text must be cut.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Unwrap returns the cause, if any.
func (e *CloseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrClosed, which every close matches, or
// the sentinel e's code names: ErrProtocol for 1002, ErrInvalidUTF8 for
// 1007, ErrMessageTooBig for 1009.
func (e *CloseError) Is(target error) bool {
	switch target {
	case ErrClosed:
		return true
	case ErrProtocol:
		return e.Code == StatusProtocolError
	case ErrInvalidUTF8:
		return e.Code == StatusInvalidPayload
	case ErrMessageTooBig:
		return e.Code == StatusMessageTooBig
	}
	return false
}
