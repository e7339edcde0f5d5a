//go:build !js

package wsio

import (
	"fmt"
	"net/http"
)

// HandshakeError is a failed opening handshake: the HTTP status the server
// answered (or answers) with and why. Status is 0 when no response was
// exchanged (the peer went away or was too slow).
type HandshakeError struct {
	Status int
	Reason string
}

// Error describes the failure.
func (e *HandshakeError) Error() string {
	if e.Status == 0 {
		return "websocket: bad handshake: " + e.Reason
	}
	return fmt.Sprintf("websocket: bad handshake: %d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// Unwrap returns ErrBadHandshake.
func (e *HandshakeError) Unwrap() error { return ErrBadHandshake }
