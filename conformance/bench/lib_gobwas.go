package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

var gobwasLib = &library{
	name: "gobwas",
	handler: func(s *serverState) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				return
			}
			serveConn(s, newGobwasConn(c, c, ws.StateServerSide))
		})
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		d := ws.Dialer{NetDial: dialTCP, Timeout: 10 * time.Second}
		c, br, _, err := d.Dial(ctx, "ws://"+addr+"/")
		if err != nil {
			return nil, err
		}
		var src io.Reader = c
		if br != nil { // the server sent frames right behind its 101
			src = br
		}
		return newGobwasConn(c, src, ws.StateClientSide), nil
	},
	notes: "ws.UpgradeHTTP in an http.HandlerFunc (reads on the handler goroutine); wsutil.Reader with NextFrame " +
		"and ControlFrameHandler; wsutil.WriteMessage; stream: wsutil.Writer + io.Copy (4 KiB default buffer) + Flush",
}

type gobwasConn struct {
	c     net.Conn
	state ws.State
	rd    wsutil.Reader
	ctl   wsutil.FrameHandlerFunc
}

func newGobwasConn(c net.Conn, src io.Reader, state ws.State) *gobwasConn {
	g := &gobwasConn{c: c, state: state}
	g.ctl = wsutil.ControlFrameHandler(c, state)
	g.rd = wsutil.Reader{Source: src, State: state, OnIntermediate: g.ctl}
	return g
}

func (g *gobwasConn) next() (io.Reader, error) {
	for {
		h, err := g.rd.NextFrame()
		if err != nil {
			return nil, err
		}
		if h.OpCode.IsControl() {
			if err := g.ctl(h, &g.rd); err != nil {
				return nil, err // a wsutil.ClosedError after answering a close frame
			}
			continue
		}
		if h.OpCode == ws.OpBinary {
			return &g.rd, nil
		}
		if err := g.rd.Discard(); err != nil {
			return nil, err
		}
	}
}

func (g *gobwasConn) write(p []byte) error { return wsutil.WriteMessage(g.c, g.state, ws.OpBinary, p) }

func (g *gobwasConn) stream(r io.Reader, _ int64) error {
	w := wsutil.NewWriter(g.c, g.state, ws.OpBinary)
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Flush()
}

// close: the client sends a close frame and reads frames until the
// server's close frame.
func (g *gobwasConn) close() error {
	if g.state.ClientSide() {
		f := ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
		if err := ws.WriteFrame(g.c, f); err == nil {
			_ = g.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				h, err := ws.ReadHeader(g.rd.Source)
				if err != nil || h.OpCode == ws.OpClose {
					break
				}
				if _, err := io.CopyN(io.Discard, g.rd.Source, h.Length); err != nil {
					break
				}
			}
		}
	}
	return g.c.Close()
}

func (g *gobwasConn) drop() error { return g.c.Close() }
