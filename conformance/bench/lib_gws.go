package main

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// gwsMaxPayload is gws's ReadMaxPayloadSize: gws buffers every message
// whole, so the bulk benchmark must raise it to the bulk size.
var gwsMaxPayload = 16 << 20

func gwsMax(n int64) int {
	if int64(gwsMaxPayload) < n+1 {
		return int(n + 1)
	}
	return gwsMaxPayload
}

var gwsLib = &library{
	name: "gws",
	handler: func(s *serverState) http.Handler {
		var h gws.Event = &gwsServer{s: s}
		if s.mode == "relay" {
			h = &gwsRelay{s: s}
		}
		up := gws.NewUpgrader(h, &gws.ServerOption{ReadMaxPayloadSize: gwsMax(s.size), WriteMaxPayloadSize: gwsMax(s.size)})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			socket, err := up.Upgrade(w, r)
			if err != nil {
				return
			}
			go socket.ReadLoop() // as gws recommends, so net/http's goroutine and request can go
		})
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		c := &gwsClient{msgs: make(chan *gws.Message), closed: make(chan struct{}), done: make(chan error, 1)}
		socket, _, err := gws.NewClient(c, &gws.ClientOption{
			Addr:               "ws://" + addr + "/",
			NewDialer:          func() (gws.Dialer, error) { return gwsDialer{}, nil },
			ReadMaxPayloadSize: gwsMaxPayload,
			HandshakeTimeout:   10 * time.Second,
		})
		if err != nil {
			return nil, err
		}
		c.sock = socket
		go socket.ReadLoop()
		return c, nil
	},
	notes: "callback API (Event.OnMessage) on a ReadLoop goroutine per connection (gws has no event loop of its own); " +
		"receives every message whole (ReadMaxPayloadSize raised to the bulk size); WriteMessage; " +
		"stream: WriteFile (128 KiB frames from an io.Reader; no streaming reader exists); " +
		"the echo client chains round trips inside OnMessage; close = WriteClose (sends the frame and drops TCP, no wait)",
}

type gwsServer struct {
	gws.BuiltinEventHandler
	s *serverState
}

func (h *gwsServer) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	b := msg.Bytes()
	if h.s.mode != "bulk" {
		_ = socket.WriteMessage(msg.Opcode, b)
		return
	}
	if len(b) == 1 && b[0] == 'G' {
		_ = streamFile(func(r io.Reader, _ int64) error { return socket.WriteFile(gws.OpcodeBinary, r) }, h.s.file, h.s.size)
		return
	}
	var sum uint32
	if h.s.verify {
		sum = crc32.ChecksumIEEE(b)
	}
	_ = socket.WriteMessage(gws.OpcodeBinary, bulkReply(int64(len(b)), sum))
}

var errGwsClosed = errors.New("gws: connection closed")

// gwsClient turns gws's callbacks into the pull-style cliConn (messages
// handed over a channel) and runs the echo benchmark inside OnMessage.
type gwsClient struct {
	gws.BuiltinEventHandler
	sock      *gws.Conn
	msgs      chan *gws.Message
	closed    chan struct{}
	closeOnce sync.Once
	cur       *gws.Message

	looping atomic.Bool
	payload []byte
	stop    *atomic.Bool
	n       int64
	done    chan error
}

func (c *gwsClient) OnMessage(socket *gws.Conn, msg *gws.Message) {
	if c.looping.Load() {
		msg.Close()
		c.n++
		if c.stop.Load() {
			c.looping.Store(false)
			c.done <- nil
			return
		}
		if err := socket.WriteMessage(gws.OpcodeBinary, c.payload); err != nil && c.looping.CompareAndSwap(true, false) {
			c.done <- err
		}
		return
	}
	select {
	case c.msgs <- msg:
	case <-c.closed:
		msg.Close()
	}
}

func (c *gwsClient) OnClose(socket *gws.Conn, err error) {
	c.closeOnce.Do(func() { close(c.closed) })
	if c.looping.CompareAndSwap(true, false) {
		if err == nil {
			err = errGwsClosed
		}
		c.done <- err
	}
}

func (c *gwsClient) next() (io.Reader, error) {
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
	for {
		select {
		case m := <-c.msgs:
			if m.Opcode != gws.OpcodeBinary {
				m.Close()
				continue
			}
			c.cur = m
			return m, nil
		case <-c.closed:
			return nil, errGwsClosed
		}
	}
}

func (c *gwsClient) write(p []byte) error { return c.sock.WriteMessage(gws.OpcodeBinary, p) }

func (c *gwsClient) stream(r io.Reader, _ int64) error { return c.sock.WriteFile(gws.OpcodeBinary, r) }

func (c *gwsClient) echoLoop(p []byte, stop *atomic.Bool) (int64, error) {
	c.payload, c.stop, c.n = p, stop, 0
	c.looping.Store(true)
	if err := c.sock.WriteMessage(gws.OpcodeBinary, p); err != nil {
		c.looping.Store(false)
		return 0, err
	}
	err := <-c.done
	return c.n, err
}

func (c *gwsClient) drop() error {
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
	err := c.sock.NetConn().Close()
	<-c.closed
	return err
}

func (c *gwsClient) close() error {
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
	err := c.sock.WriteClose(1000, nil)
	<-c.closed
	return err
}
