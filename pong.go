//go:build !js

package wsio

import (
	"context"
	"fmt"
	"sync"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/limits"
)

// Ping sends a ping with payload (at most 125 bytes) and waits for a pong
// with the same payload, ctx's end, or the connection's close. The pong is
// seen by whichever goroutine is reading, so something must be calling
// Next. A peer may answer only the latest of several pings (RFC 6455
// allows it), so give pings distinct payloads when sending many.
//
// If ctx is already done, Ping returns ctx.Err() and sends nothing. If
// ctx ends after part of the ping frame went out, the connection is
// closed (1006) and the error matches both ctx.Err() and ErrClosed; if it
// ends at any other time (before the frame, or while Ping waits for the
// pong), the error matches ctx.Err() and the connection is unaffected.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(payload) > limits.MaxControlPayload {
		return fmt.Errorf("websocket: ping payload of %d bytes exceeds 125", len(payload))
	}
	w := c.pings.add(payload)
	defer c.pings.remove(w)
	if err := c.writeFrame(ctx, true, 0, conn.OpPing, payload); err != nil {
		return err
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing.done:
		return c.closeError()
	}
}

// Pending pongs wait in a small FIFO, allocated only while it is not empty.
// When pings arrive faster than pongs can be written, the oldest are
// dropped: RFC 6455 (5.5.3) lets an endpoint answer only the latest ping,
// so a ping flood costs bounded memory.
const maxPendingPongs = 16

type pongQueue struct {
	payload     [maxPendingPongs][limits.MaxControlPayload]byte
	size        [maxPendingPongs]uint8
	head, count int
}

var pongQueuePool = sync.Pool{New: func() any { return new(pongQueue) }}

// queuePong queues a pong for payload p. It is written by whichever
// goroutine next takes the writer, or by a short-lived flusher goroutine;
// never by the reader, so a peer that stops reading cannot stall the
// reading of its own frames.
func (c *Conn) queuePong(p []byte) {
	c.pongMu.Lock()
	q := c.pongQ
	if q == nil {
		q = pongQueuePool.Get().(*pongQueue)
		c.pongQ = q
	}
	if q.count == maxPendingPongs {
		q.head = (q.head + 1) % maxPendingPongs
		q.count--
	}
	i := (q.head + q.count) % maxPendingPongs
	q.size[i] = uint8(copy(q.payload[i][:], p))
	q.count++
	c.pongPending.Store(true)
	c.pongMu.Unlock()
	if c.pongBusy.CompareAndSwap(false, true) {
		go c.pongLoop()
	}
}

// pongLoop writes pending pongs when the writer is free, and ends when none
// is pending (or the connection closed).
func (c *Conn) pongLoop() {
	for {
		if err := c.lockWrite(context.Background()); err != nil {
			c.pongBusy.Store(false)
			return
		}
		c.unlockWrite()
		c.pongBusy.Store(false)
		if !c.pongPending.Load() || !c.pongBusy.CompareAndSwap(false, true) {
			return
		}
	}
}

// writePendingPongs writes the queued pongs in order; the caller holds
// wsem. It has no deadline of its own: like any write it waits while the
// peer does not read, and ends when the connection closes.
func (c *Conn) writePendingPongs() {
	var b [limits.MaxControlPayload]byte
	for {
		c.pongMu.Lock()
		q := c.pongQ
		if q == nil || q.count == 0 {
			if q != nil {
				c.pongQ = nil
				*q = pongQueue{}
				pongQueuePool.Put(q)
			}
			c.pongPending.Store(false)
			c.pongMu.Unlock()
			return
		}
		n := copy(b[:], q.payload[q.head][:q.size[q.head]])
		q.head = (q.head + 1) % maxPendingPongs
		q.count--
		c.pongMu.Unlock()
		// Pongs may still precede our close frame, but never follow it.
		if c.closing.has(closeWritten) || c.writeFrameLocked(context.Background(), true, 0, conn.OpPong, b[:n], frameClosing) != nil {
			return
		}
	}
}

// pingWaiters are the Ping calls waiting for their pong.
type pingWaiters struct {
	mu   sync.Mutex
	list []*pingWaiter
}

type pingWaiter struct {
	payload string
	ch      chan struct{}
}

func (p *pingWaiters) add(payload []byte) *pingWaiter {
	w := &pingWaiter{payload: string(payload), ch: make(chan struct{})}
	p.mu.Lock()
	p.list = append(p.list, w)
	p.mu.Unlock()
	return w
}

func (p *pingWaiters) remove(w *pingWaiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.list {
		if x == w {
			p.list = append(p.list[:i], p.list[i+1:]...)
			return
		}
	}
}

func (p *pingWaiters) notify(payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.list[:0]
	for _, w := range p.list {
		if w.payload == string(payload) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	clear(p.list[len(kept):])
	p.list = kept
}
