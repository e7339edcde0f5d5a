package main

import (
	"context"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

var coderClient = &http.Client{Transport: &http.Transport{DialContext: dialTCP}}

var coderLib = &library{
	name: "coder",
	handler: func(s *serverState) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			c.SetReadLimit(-1)
			serveConn(s, &coderConn{c: c})
		})
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{HTTPClient: coderClient})
		if err != nil {
			return nil, err
		}
		c.SetReadLimit(-1)
		return &coderConn{c: c, client: true}, nil
	},
	notes: "websocket.Accept in an http.HandlerFunc (reads on the handler goroutine), SetReadLimit(-1); " +
		"Reader; Write; stream: Writer + io.Copy",
}

type coderConn struct {
	c      *websocket.Conn
	client bool
}

func (k *coderConn) next() (io.Reader, error) {
	for {
		t, r, err := k.c.Reader(context.Background())
		if err != nil {
			return nil, err
		}
		if t == websocket.MessageBinary {
			return r, nil
		}
	}
}

func (k *coderConn) write(p []byte) error {
	return k.c.Write(context.Background(), websocket.MessageBinary, p)
}

func (k *coderConn) stream(r io.Reader, _ int64) error {
	w, err := k.c.Writer(context.Background(), websocket.MessageBinary)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// close: Close runs the closing handshake (waits for the server's frame).
func (k *coderConn) close() error {
	if k.client {
		return k.c.Close(websocket.StatusNormalClosure, "")
	}
	return k.c.CloseNow()
}

func (k *coderConn) drop() error { return k.c.CloseNow() }
