package main

import (
	"context"
	"io"
	"net/http"

	"github.com/wsio/wsio"
)

var wsioLib = &library{
	name: "wsio",
	handler: func(s *serverState) http.Handler {
		return wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
			serveConn(s, &wsioConn{c: c})
		})
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		c, _, err := wsio.Dial(ctx, "ws://"+addr+"/", &wsio.DialOptions{NetDial: dialTCP})
		if err != nil {
			return nil, err
		}
		return &wsioConn{c: c, client: true}, nil
	},
	notes: "wsio.NewServer handler (reads on the net/http handler goroutine); Next + Message.Read; SendBinary; " +
		"stream: BeginBinary + io.Copy (ReaderFrom, 512 KiB fragments); default options",
}

type wsioConn struct {
	c      *wsio.Conn
	client bool
}

func (w *wsioConn) next() (io.Reader, error) {
	for {
		m, err := w.c.Next(context.Background())
		if err != nil {
			return nil, err
		}
		if m.Kind == wsio.Binary {
			return m, nil
		}
	}
}

func (w *wsioConn) write(p []byte) error { return w.c.SendBinary(context.Background(), p) }

func (w *wsioConn) stream(r io.Reader, _ int64) error {
	bw, err := w.c.BeginBinary(context.Background())
	if err != nil {
		return err
	}
	if _, err := io.Copy(bw, r); err != nil {
		_ = bw.Close()
		return err
	}
	return bw.Close()
}

// close: on the server the wsio.Server closes when the handler returns.
func (w *wsioConn) close() error {
	if !w.client {
		return nil
	}
	return w.c.Close(wsio.StatusNormalClosure, "")
}
