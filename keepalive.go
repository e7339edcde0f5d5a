//go:build !js

package wsio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/sock"
)

// keepalive pings on a timer and closes the connection when a pong is
// late. It costs two timers, no goroutine. They are the socket layer's
// (sock.Timer), which keep out of the runtime's timer heap: a connection
// with keepalive on leaves the scheduler's waits for the next message
// unbounded, so waking for it costs no kernel timer.
type keepalive struct {
	c        *Conn
	interval time.Duration
	timeout  time.Duration
	mu       sync.Mutex
	tick     *sock.Timer
	expiry   *sock.Timer
	waiting  bool
	stopped  bool
	heard    atomic.Bool // bytes arrived since the last ping (set by the reader)
}

func (c *Conn) startKeepalive() {
	k := &keepalive{c: c, interval: c.opts.KeepaliveInterval, timeout: c.opts.KeepaliveTimeout}
	c.ka = k
	c.rd.heard = &k.heard
	k.mu.Lock()
	k.tick = sock.AfterFunc(firstPing(k.interval), k.ping)
	k.mu.Unlock()
}

// firstPing is when a new connection sends its first keepalive ping: up
// to a tenth of the interval early, at random, so that thousands of
// connections dialed within a second do not all wake at once, every
// interval, for as long as they live.
func firstPing(interval time.Duration) time.Duration {
	if spread := interval / 10; spread > 0 {
		return interval - rand.N(spread)
	}
	return interval
}

func (k *keepalive) ping() {
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	k.waiting = true
	k.heard.Store(false)
	if k.expiry == nil {
		k.expiry = sock.AfterFunc(k.timeout, k.expire)
	} else {
		k.expiry.Reset(k.timeout)
	}
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	_ = k.c.writeFrame(ctx, true, 0, conn.OpPing, nil)
}

func (k *keepalive) pong() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.waiting || k.stopped {
		return
	}
	k.waiting = false
	k.expiry.Stop()
	k.tick.Reset(k.interval)
}

func (k *keepalive) expire() {
	if !k.overdue() {
		return
	}
	// Nobody may be reading (a handler that only sends): the pong may be
	// waiting in the socket. Look, as a read would; pollPeer leaves the
	// socket to a goroutine that holds the read lock, and one that reads
	// sets heard.
	k.c.pollPeer(false)
	if k.overdue() {
		k.c.abort(fmt.Errorf("%w: no pong within %v", ErrKeepalive, k.timeout))
	}
}

// overdue reports whether the pong is late. Bytes that arrived after the
// ping count as a sign of life (the pong may be queued behind a long
// message): then the next ping is scheduled instead.
func (k *keepalive) overdue() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	late := k.waiting && !k.stopped
	if late && k.heard.Load() {
		late = false
		k.waiting = false
		k.tick.Reset(k.interval)
	}
	return late
}

func (k *keepalive) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.tick.Stop()
	if k.expiry != nil {
		k.expiry.Stop()
	}
}
