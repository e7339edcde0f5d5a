package wsio

import (
	"context"

	"github.com/wsio/wsio/conn"
)

// Events are callbacks for Run and NewEventServer, the event-style way to
// read a connection (nodejs-websocket's "connect", "text", "binary" and
// "close" events). The callbacks of one connection run one at a time, in
// order; those of different connections may run in parallel.
type Events = conn.Events

// Run reads c until it is closed or ctx ends, calling the callbacks of e
// for each message on the calling goroutine. It returns nil after a close
// (Close has then been called), or ctx's error.
func Run(ctx context.Context, c *Conn, e Events) error {
	return conn.Run(ctx, c, e)
}

// ServeEvents reads c for you and calls e's callbacks, returning at once.
// Between messages a TCP connection on Linux waits in the kernel (epoll)
// with no goroutine, stack or buffer of its own; elsewhere it keeps one
// goroutine. The callbacks must not call Next.
func ServeEvents(c *Conn, e Events) {
	conn.Serve(c, e)
}
