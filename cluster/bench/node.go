package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
	"github.com/wsio/wsio/cluster/natsbus"
)

func childMain(args []string) int {
	if len(args) == 0 {
		emitError(errors.New("child: no subcommand"))
		return 2
	}
	var err error
	switch args[0] {
	case "node":
		err = childNode(args[1:])
	case "client":
		err = childClient(args[1:])
	default:
		err = fmt.Errorf("unknown child subcommand %q", args[0])
	}
	if err != nil {
		emitError(err)
		return 1
	}
	return 0
}

// childNode is one node: a wsio.Server whose connections join topic "t",
// on a cluster.Hub over NATS (-mode cluster) or alone (-mode broadcast).
// It prints "LISTEN addr", then on stdin takes WARM (send "warm-up" to
// the topic), "PUB seq" (send message seq, stamped, answered by "SENT
// seq") and CPU, until stdin closes.
func childNode(args []string) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	mode := fs.String("mode", "cluster", "cluster or broadcast")
	natsURL := fs.String("nats", "", "cluster: the nats-server's URL")
	size := fs.Int("size", 64, "message size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raiseNoFile()
	opts := wsio.ServerOptions{Options: wsio.Options{KeepaliveInterval: -1}}
	var (
		srv     *wsio.Server
		publish func(data []byte) error
	)
	switch *mode {
	case "broadcast":
		srv = wsio.NewServer(opts, func(c *wsio.Conn) {
			if welcome(c) {
				drain(c)
			}
		})
		publish = func(data []byte) error { return srv.Broadcast(context.Background(), wsio.Text, data) }
	case "cluster":
		bus, err := natsbus.Connect(*natsURL)
		if err != nil {
			return err
		}
		hub, err := cluster.New(cluster.Options{Bus: bus})
		if err != nil {
			return err
		}
		srv = wsio.NewServer(opts, func(c *wsio.Conn) {
			if hub.Join(c, "t") == nil && welcome(c) {
				drain(c)
			}
		})
		publish = func(data []byte) error { return hub.Publish(context.Background(), "t", wsio.Text, data) }
	default:
		return fmt.Errorf("unknown node mode %q", *mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("LISTEN %s\n", ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "WARM":
			if err := publish([]byte("warm-up")); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		case "PUB":
			seq, err := strconv.Atoi(arg)
			if err != nil {
				return fmt.Errorf("bad PUB %q", arg)
			}
			// The stamp is wall-clock time: the clients compare it with
			// their own time.Now in other processes, and only the
			// machine's real-time clock is common to them.
			if err := publish(payload(seq, time.Now().UnixNano(), *size)); err != nil {
				return fmt.Errorf("message %d: %w", seq, err)
			}
			emit("SENT", seq)
		case "CPU":
			emit("CPU", cpuTime())
		}
	}
	// stdin closed: the parent is done with us. Exiting closes every
	// connection; the clients have gone first.
	return nil
}

// payload is "seq stamp" (8 and 19 decimal digits), padded with 'x' to size.
func payload(seq int, stamp int64, size int) []byte {
	p := fmt.Appendf(make([]byte, 0, max(size, payloadHead)), "%08d %019d", seq, stamp)
	for len(p) < size {
		p = append(p, 'x')
	}
	return p
}

// payloadHead is the length of a payload's "seq stamp" head.
const payloadHead = 8 + 1 + 19

// parsePayload returns the seq and the stamp of a payload.
func parsePayload(s string) (seq int, stamp int64, ok bool) {
	if len(s) < payloadHead || s[8] != ' ' {
		return 0, 0, false
	}
	seq, err1 := strconv.Atoi(s[:8])
	stamp, err2 := strconv.ParseInt(s[9:payloadHead], 10, 64)
	return seq, stamp, err1 == nil && err2 == nil
}

func welcome(c *wsio.Conn) bool { return c.SendText(context.Background(), "hi") == nil }

func drain(c *wsio.Conn) {
	for {
		if _, err := c.Next(context.Background()); err != nil {
			return
		}
	}
}
