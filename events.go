package wsio

import (
	"context"

	"github.com/wsio/wsio/conn"
)

// Events are callbacks for Run and NewEventServer, the event-style way to
// read a connection (nodejs-websocket's "connect", "text", "binary" and
// "close" events). The callbacks of one connection run one at a time, in
// order; those of different connections may run in parallel.
//
// A read deadline (Conn.SetReadDeadline) that passes while the event loop
// waits ends the connection: the loop runs the closing handshake with code
// 1001 (going away) and the reason "read deadline exceeded", then calls
// Close with a *CloseError of code 1001, Remote false, that wraps the
// read's error (it matches os.ErrDeadlineExceeded). Setting the deadline
// in Open and moving it on in Text and Binary makes an idle timeout; it
// may also be set from another goroutine.
type Events = conn.Events

// Run reads c until it is closed or ctx ends, calling the callbacks of e
// for each message on the calling goroutine. It returns nil after the
// connection ended by a close of either side or a broken stream (Close has
// then been called), or ctx's error. When the read deadline passes (see
// Events), Run itself closes c with 1001, calls Close, and returns the
// *CloseError it gave Close, which wraps the read's error.
func Run(ctx context.Context, c *Conn, e Events) error {
	return conn.Run(ctx, c, e)
}

// ServeEvents reads c for you and calls e's callbacks, returning at once.
// Between messages a TCP connection on Linux waits in the kernel (epoll)
// with no goroutine, stack or buffer of its own; elsewhere it keeps one
// goroutine. The callbacks must not call Next. A read deadline ends the
// connection when it passes, parked or not, as Events describes: it is
// how to give served connections an idle timeout.
func ServeEvents(c *Conn, e Events) {
	conn.Serve(c, e)
}
