package wsio

import (
	"context"
	"errors"
	"io"
)

// Events are callbacks for Run, the event-style way to read a connection
// (nodejs-websocket's "text", "binary" and "close" events). Pongs and pings
// are observed through Options.OnPong and Options.OnPing.
type Events struct {
	// Text is called with each text message.
	Text func(c *Conn, text string)
	// Binary is called with each binary message as a stream. The reader is
	// valid until Binary returns; what it leaves unread is discarded.
	Binary func(c *Conn, r io.Reader)
	// Close is called once when the connection ends, with how it ended.
	Close func(c *Conn, err *CloseError)
}

// Run reads c until it is closed or ctx ends, calling the callbacks of e
// for each message on the calling goroutine. It returns nil after a close
// (Close has then been called), or ctx's error.
func Run(ctx context.Context, c *Conn, e Events) error {
	for {
		m, err := c.Next(ctx)
		if err != nil {
			var ce *CloseError
			if errors.As(err, &ce) {
				if e.Close != nil {
					e.Close(c, ce)
				}
				return nil
			}
			return err
		}
		switch m.Kind {
		case Text:
			if e.Text != nil {
				e.Text(c, m.Text)
			}
		case Binary:
			if e.Binary != nil {
				e.Binary(c, m)
			}
		}
	}
}
