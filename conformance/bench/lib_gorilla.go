package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

var gorillaUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

var gorillaLib = &library{
	name: "gorilla",
	handler: func(s *serverState) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := gorillaUpgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			serveConn(s, &gorillaConn{c: c})
		})
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		d := websocket.Dialer{NetDialContext: dialTCP, HandshakeTimeout: 10 * time.Second}
		c, _, err := d.DialContext(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			return nil, err
		}
		return &gorillaConn{c: c, client: true}, nil
	},
	notes: "Upgrader.Upgrade in an http.HandlerFunc (reads on the handler goroutine), default buffer sizes; " +
		"NextReader; WriteMessage; stream: NextWriter + io.Copy (frames of the 4 KiB write buffer)",
}

type gorillaConn struct {
	c      *websocket.Conn
	client bool
}

func (g *gorillaConn) next() (io.Reader, error) {
	for {
		t, r, err := g.c.NextReader()
		if err != nil {
			return nil, err
		}
		if t == websocket.BinaryMessage {
			return r, nil
		}
	}
}

func (g *gorillaConn) write(p []byte) error { return g.c.WriteMessage(websocket.BinaryMessage, p) }

func (g *gorillaConn) stream(r io.Reader, _ int64) error {
	w, err := g.c.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// close: the client sends a close frame and reads until the server's
// close frame comes back (gorilla's Close only drops the TCP connection).
func (g *gorillaConn) close() error {
	if g.client {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		if err := g.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second)); err == nil {
			_ = g.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, _, err := g.c.NextReader(); err != nil {
					break
				}
			}
		}
	}
	return g.c.Close()
}

// drop: gorilla's Close closes the network connection without a close
// frame.
func (g *gorillaConn) drop() error { return g.c.Close() }
