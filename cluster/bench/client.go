package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio"
)

// got is a client process's report that every one of its connections has
// message Seq: the publisher's stamp and the latest receive time among its
// connections, both wall-clock Unix ns.
type got struct {
	Seq   int   `json:"seq"`
	Stamp int64 `json:"stamp"`
	Last  int64 `json:"last"`
}

// clientState is what a client process's connections share.
type clientState struct {
	n     int32
	warm  atomic.Int32   // connections that got a warm-up message
	count []atomic.Int32 // per seq: connections that got it
	last  []atomic.Int64 // per seq: the latest receive time so far
}

// childClient dials -conns subscribers to -addr, then prints READY; WARM
// once every connection got a warm-up message; and for each message seq,
// once every connection got it, a GOT line. It answers CPU on stdin and
// exits when stdin closes.
func childClient(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	addr := fs.String("addr", "", "the node's address")
	n := fs.Int("conns", 1000, "connections")
	msgs := fs.Int("msgs", 200, "messages that will be sent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raiseNoFile()
	st := &clientState{n: int32(*n), count: make([]atomic.Int32, *msgs), last: make([]atomic.Int64, *msgs)}
	conns := make([]*wsio.Conn, *n) // kept reachable until exit
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
	)
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				c, err := dialOne(*addr)
				if err != nil {
					mu.Lock()
					if failed == nil {
						failed = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
				go st.read(c)
			}
		})
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	emit("READY", time.Since(start).Seconds())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "CPU" {
			emit("CPU", cpuTime())
		}
	}
	runtime.KeepAlive(conns)
	return nil
}

// dialOne dials one subscriber and waits for its welcome, which the node
// sends once the connection has joined the topic.
func dialOne(addr string) (*wsio.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, "ws://"+addr+"/?topic=t", &wsio.DialOptions{
		Options: wsio.Options{KeepaliveInterval: -1},
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return newDialer().DialContext(ctx, network, addr)
		},
		Proxy: wsio.ProxyURL(nil),
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.Next(ctx); err != nil {
		_ = c.CloseNow()
		return nil, fmt.Errorf("welcome: %w", err)
	}
	return c, nil
}

// read receives on c until it closes, counting messages into st.
func (st *clientState) read(c *wsio.Conn) {
	warm := false
	for {
		m, err := c.Next(context.Background())
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if m.Text == "warm-up" {
			if !warm {
				warm = true
				if st.warm.Add(1) == st.n {
					emit("WARM", st.n)
				}
			}
			continue
		}
		seq, stamp, ok := parsePayload(m.Text)
		if !ok || seq < 0 || seq >= len(st.count) {
			continue
		}
		for {
			old := st.last[seq].Load()
			if now <= old || st.last[seq].CompareAndSwap(old, now) {
				break
			}
		}
		// The connection that completes the count reads last after every
		// other connection's update to it.
		if st.count[seq].Add(1) == st.n {
			emit("GOT", got{Seq: seq, Stamp: stamp, Last: st.last[seq].Load()})
		}
	}
}
