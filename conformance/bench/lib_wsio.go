package main

import (
	"context"
	"io"
	"net"
	"net/http"

	"github.com/wsio/wsio"
)

var wsioLib = &library{
	name: "wsio",
	serve: func(ln net.Listener, s *serverState) error {
		return wsioServer(s).Serve(ln)
	},
	dial: wsioDial,
	notes: "wsio.Server.Serve on the listener (its own upgrade reader, no net/http; the handler reads on the " +
		"connection's goroutine); Next + Message.Read; SendBinary; " +
		"stream: BeginBinary + io.Copy (ReaderFrom, 512 KiB fragments); default options",
}

// wsioHTTPLib is wsio through net/http: the same Server mounted as the
// http.Server's handler, so the upgrade goes through wsio.Accept. The
// idle and handshake benchmarks show it beside the Serve path.
var wsioHTTPLib = &library{
	name: "wsio-http",
	handler: func(s *serverState) http.Handler {
		return wsioServer(s)
	},
	dial:  wsioDial,
	notes: "wsio.Server as an http.Handler on net/http (wsio.Accept; ServeHTTP returns and the handler reads on a goroutine of its own)",
}

// wsioEventsLib is wsio's event server: NewEventServer on Server.Serve,
// whose idle connections wait in epoll with no goroutine.
var wsioEventsLib = &library{
	name: "wsio-events",
	serve: func(ln net.Listener, s *serverState) error {
		return wsioEventServer(s).Serve(ln)
	},
	dial: wsioDial,
	notes: "wsio.NewEventServer on Server.Serve: a Binary callback per message; between messages a connection " +
		"waits in epoll with no goroutine (a goroutine is started when bytes arrive)",
}

// wsioEventsHTTPLib is the event server mounted on net/http: the same
// NewEventServer as wsio-events, as the http.Server's handler, so the
// upgrade goes through wsio.Accept and net/http's goroutine returns once
// the connection is handed to the poller.
var wsioEventsHTTPLib = &library{
	name: "wsio-events-http",
	handler: func(s *serverState) http.Handler {
		return wsioEventServer(s)
	},
	dial: wsioDial,
	notes: "wsio.NewEventServer as an http.Handler on net/http (wsio.Accept; ServeHTTP returns once the " +
		"connection is handed to the event loop)",
}

func wsioEventServer(s *serverState) *wsio.Server {
	return wsio.NewEventServer(wsio.ServerOptions{}, wsio.Events{
		Binary: func(c *wsio.Conn, r io.Reader) {
			if handleMsg(s, wsioEventConn{c}, r) != nil {
				_ = c.Close(wsio.StatusInternalError, "")
			}
		},
	})
}

func wsioServer(s *serverState) *wsio.Server {
	return wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		serveConn(s, &wsioConn{c: c})
	})
}

func wsioDial(ctx context.Context, addr string) (cliConn, error) {
	c, _, err := wsio.Dial(ctx, "ws://"+addr+"/", &wsio.DialOptions{NetDial: dialTCP})
	if err != nil {
		return nil, err
	}
	return &wsioConn{c: c, client: true}, nil
}

type wsioConn struct {
	c      *wsio.Conn
	client bool
	m      wsio.Message // the message next returns, kept here so that handing it out as an io.Reader allocates nothing
}

func (w *wsioConn) next() (io.Reader, error) {
	for {
		m, err := w.c.Next(context.Background())
		if err != nil {
			return nil, err
		}
		if m.Kind == wsio.Binary {
			w.m = m
			return &w.m, nil
		}
	}
}

func (w *wsioConn) write(p []byte) error { return w.c.SendBinary(context.Background(), p) }

func (w *wsioConn) stream(r io.Reader, n int64) error { return wsioEventConn{w.c}.stream(r, n) }

func (w *wsioConn) drop() error { return w.c.CloseNow() }

// close: on the server the wsio.Server closes when the handler returns.
func (w *wsioConn) close() error {
	if !w.client {
		return nil
	}
	return w.c.Close(wsio.StatusNormalClosure, "")
}

// wsioEventConn is the srvConn handed to handleMsg from the event server's
// Binary callback: one pointer, so making it an interface value allocates
// nothing per message. Only write and stream are called on it.
type wsioEventConn struct{ c *wsio.Conn }

func (w wsioEventConn) next() (io.Reader, error) { return nil, io.EOF }
func (w wsioEventConn) write(p []byte) error {
	return w.c.SendBinary(context.Background(), p)
}
func (w wsioEventConn) stream(r io.Reader, _ int64) error {
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
func (w wsioEventConn) close() error { return nil }
