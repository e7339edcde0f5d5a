package wstest

import (
	"context"
	"io"
)

// Conn is what Echo needs of a connection. A *wsio.Conn is a
// Conn[wsio.Message, *wsio.BinaryWriter]; the kit names neither type, so
// that the root package's own internal tests can use it.
type Conn[M io.Reader, W io.WriteCloser] interface {
	Next(ctx context.Context) (M, error)
	SendText(ctx context.Context, s string) error
	BeginBinary(ctx context.Context) (W, error)
}

// Echo sends back every message c receives until receiving or sending
// fails: a text message as text, a binary message as a stream that
// BeginBinary writes while the message is still arriving (so a message
// larger than any buffer on the way comes back whole). text returns a
// message's text and whether it is a text message; for wsio it is
//
//	func(m wsio.Message) (string, bool) { return m.Text, m.Kind == wsio.Text }
//
// Echo leaves c open: the caller (a handler, usually) closes it.
func Echo[M io.Reader, W io.WriteCloser](c Conn[M, W], text func(M) (string, bool)) {
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return
		}
		if s, ok := text(m); ok {
			err = c.SendText(ctx, s)
		} else {
			var w W
			if w, err = c.BeginBinary(ctx); err == nil {
				_, err = io.Copy(w, m)
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
		}
		if err != nil {
			return
		}
	}
}
