package wsio

// State is a connection's ready state, as the WebSocket API names it.
type State int32

// The ready states.
const (
	Connecting State = iota // the opening handshake is under way
	Open                    // messages can be sent and received
	Closing                 // a close frame was sent or received
	Closed                  // the underlying stream is closed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Open:
		return "open"
	case Closing:
		return "closing"
	case Closed:
		return "closed"
	}
	return "unknown"
}
