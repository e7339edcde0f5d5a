// Package limits holds the caps that keep one WebSocket connection from
// using unbounded memory or time, and the small counter that enforces them.
//
// It knows nothing of sockets or messages: the layers above ask a [Budget]
// before they buffer bytes, and turn [ErrTooBig] into a close with status
// 1009 (Message Too Big).
//
// Programs set these limits through wsio.Options and never need to import
// this package; it is public for code that builds its own message layer on
// the same building blocks (textframe, binstream) and wants the same caps.
package limits

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for the settings a user can change. Each is used when the
// corresponding option is left at its zero value.
const (
	// DefaultBufferCap is how many bytes one connection may buffer for a
	// single message (a text message being assembled, inflated output).
	DefaultBufferCap = 2 << 20

	// DefaultFragmentSize is the payload size of each frame a binary
	// stream writer sends, except the last.
	DefaultFragmentSize = 512 << 10

	// DefaultMaxHeaderBytes caps the size of an opening handshake's
	// request or response head.
	DefaultMaxHeaderBytes = 16 << 10

	// DefaultHandshakeTimeout bounds how long an opening handshake may take.
	DefaultHandshakeTimeout = 10 * time.Second

	// DefaultCloseTimeout bounds how long the closing handshake waits for
	// the peer's close frame before the connection is torn down.
	DefaultCloseTimeout = 5 * time.Second

	// MaxControlPayload is the largest payload RFC 6455 allows in a
	// control frame (close, ping, pong).
	MaxControlPayload = 125
)

// ErrTooBig reports that a message or buffer would exceed its cap. The
// connection layer closes with status 1009 when it sees it.
var ErrTooBig = errors.New("message too big")

// Budget counts bytes against a cap. The zero value has no room at all;
// set Cap before use. A Budget is not safe for concurrent use.
type Budget struct {
	// Cap is the most bytes Take lets through in total; a negative Cap
	// means no limit.
	Cap int64
	// Used is how many bytes Take has let through since the last Reset.
	Used int64
}

// Take reserves n more bytes. It returns an error wrapping [ErrTooBig],
// and reserves nothing, when the total would exceed the cap. A negative n
// is treated as an error too, so a corrupt length never slips through.
func (b *Budget) Take(n int64) error {
	if n < 0 {
		return fmt.Errorf("limits: negative length %d: %w", n, ErrTooBig)
	}
	if b.Cap >= 0 && (n > b.Cap || b.Used > b.Cap-n) {
		return fmt.Errorf("%w: %d bytes exceed the cap of %d", ErrTooBig, b.Used+n, b.Cap)
	}
	b.Used += n
	return nil
}

// Room reports how many more bytes Take would accept, or -1 without a cap.
func (b *Budget) Room() int64 {
	if b.Cap < 0 {
		return -1
	}
	return b.Cap - b.Used
}

// Reset forgets what was taken, keeping the cap.
func (b *Budget) Reset() { b.Used = 0 }
