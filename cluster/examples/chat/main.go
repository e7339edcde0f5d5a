// Command chat is the chat room of examples/chat spread over several
// processes (nodes): each serves the same page (package
// github.com/wsio/wsio/examples/chat/page) and its own WebSocket
// connections, and a cluster.Hub on NATS or Redis carries every line to
// the members on every node. Three nodes on one nats-server:
//
//	go run github.com/nats-io/nats-server/v2 -a 127.0.0.1 -p 4222 &
//	go run ./examples/chat -addr 127.0.0.1:8081 -nats nats://127.0.0.1:4222
//	go run ./examples/chat -addr 127.0.0.1:8082 -nats nats://127.0.0.1:4222
//	go run ./examples/chat -addr 127.0.0.1:8083 -nats nats://127.0.0.1:4222
//
// then open http://127.0.0.1:8081/, :8082/ and :8083/, one page each: a
// line typed in one appears in all. With -redis 127.0.0.1:6379 instead of
// -nats the nodes meet on Redis pub/sub.
//
// The page and its events are examples/chat's: a welcome to the newcomer
// listing everyone present, then join, message and leave to everyone.
// Each member's lines reach every member in the order they were typed;
// lines of members on different nodes may interleave differently on
// different nodes, since a node delivers its own members' lines before
// they cross the bus. The welcome's list comes from the presence the
// nodes publish on the bus (each node's members, when they change and
// every few seconds), so a node that has just started, or lost the bus,
// may list fewer members for a moment. A member whose connection cannot
// keep up is disconnected (1013). SIGINT or SIGTERM drains the node: its
// members get 1001 (going away).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
	"github.com/wsio/wsio/cluster/natsbus"
	"github.com/wsio/wsio/cluster/redisbus"
	"github.com/wsio/wsio/examples/chat/page"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	natsURL := flag.String("nats", "", "NATS server URL(s), comma-separated (nats://127.0.0.1:4222)")
	redisAddr := flag.String("redis", "", "Redis server address (127.0.0.1:6379), instead of -nats")
	flag.Parse()
	if err := run(*addr, *natsURL, *redisAddr); err != nil {
		log.Fatal(err)
	}
}

func run(addr, natsURL, redisAddr string) error {
	var bus cluster.Bus
	switch {
	case natsURL != "" && redisAddr == "":
		b, err := natsbus.Connect(natsURL)
		if err != nil {
			return err
		}
		bus = b
	case redisAddr != "" && natsURL == "":
		bus = redisbus.New(&redis.Options{Addr: redisAddr, MaxRetries: -1, DialTimeout: time.Second})
	default:
		return errors.New("chat: give one of -nats URL and -redis addr")
	}
	defer bus.Close()
	r, err := newRoom(bus, log.Default())
	if err != nil {
		return err
	}
	defer r.close()

	hs := &http.Server{Addr: addr, Handler: r.handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- hs.ListenAndServe() }()
	log.Printf("node %s: open http://%s/", r.node, addr)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Drain: no new requests, then every member gets 1001.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return r.srv.Shutdown(sctx)
}

// maxLine caps a chat line: a longer text message closes the sender's
// connection with 1009 (message too big) before it is read.
const maxLine = 4 << 10

// The Hub topic every member joins, and the bus subject of the presence.
const (
	topic           = "chat"
	presenceSubject = "wsio-chat.presence"
	presenceEvery   = 5 * time.Second
	presenceTTL     = 3 * presenceEvery // a node silent this long is gone
)

// room is this node's part of the chat: the Server keeps the local
// connections (each with its nickname as Value, "" once it leaves), the Hub carries the
// events between nodes, and the presence tells this node who is on the
// others.
type room struct {
	node   string // this node's id in the presence
	srv    *wsio.Server
	hub    *cluster.Hub
	bus    cluster.Bus
	logger *log.Logger

	unsub func() error
	stop  chan struct{}
	done  chan struct{}

	mu     sync.Mutex
	remote map[string]presence // the other nodes' members, by node id; under mu
}

// presence is a node's list of its members, published on presenceSubject.
// Sync asks the other nodes to publish theirs at once (a node starting).
type presence struct {
	Node  string    `json:"node"`
	Users []string  `json:"users"`
	Sync  bool      `json:"sync,omitempty"`
	seen  time.Time // when it arrived
}

func newRoom(bus cluster.Bus, logger *log.Logger) (*room, error) {
	var id [6]byte
	_, _ = rand.Read(id[:])
	r := &room{
		node: hex.EncodeToString(id[:]), bus: bus, logger: logger,
		stop: make(chan struct{}), done: make(chan struct{}),
		remote: make(map[string]presence),
	}
	hub, err := cluster.New(cluster.Options{Bus: bus, Policy: cluster.Disconnect})
	if err != nil {
		return nil, err
	}
	r.hub = hub
	// The default origin check allows only pages from this node's own
	// host, which is what the page served here needs.
	r.srv = wsio.NewServer(wsio.ServerOptions{
		Options: wsio.Options{BufferCap: maxLine},
	}, r.member)
	unsub, err := bus.Subscribe(presenceSubject, r.heard)
	if err != nil {
		_ = hub.Close()
		return nil, fmt.Errorf("chat: %w", err)
	}
	r.unsub = unsub
	r.announce(true)
	go r.announcer()
	return r, nil
}

// close ends the presence and the Hub; the Server's connections are the
// Server's to close.
func (r *room) close() {
	close(r.stop)
	<-r.done
	_ = r.unsub()
	_ = r.hub.Close()
}

// handler serves the page at / and the room at /ws.
func (r *room) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page.HTML)
	})
	mux.Handle("/ws", r.srv)
	return mux
}

// member runs one connection, on the request's goroutine, from join to
// leave. When it returns, the Server closes the connection with 1000.
func (r *room) member(c *wsio.Conn) {
	ctx := context.Background()
	name := page.Nickname(c.Request().URL.Query().Get("name"))
	c.SetValue(name) // so the welcome and the presence list it
	if err := c.SendText(ctx, encode(page.Event{Type: "welcome", Name: name, Users: r.users()})); err != nil {
		return
	}
	if err := r.hub.Join(c, topic); err != nil {
		_ = c.Close(wsio.StatusInternalError, "the room is closed")
		return
	}
	r.announce(false)
	r.publish(page.Event{Type: "join", Name: name})
	for {
		// Next waits for the member's next message; pings and the close
		// handshake are handled inside.
		m, err := c.Next(ctx)
		if err != nil {
			break // closed: the page went away, or sent more than maxLine
		}
		if m.Kind != wsio.Text {
			_ = c.Close(wsio.StatusUnsupportedData, "this room takes text only")
			break
		}
		if text := strings.TrimSpace(m.Text); text != "" {
			r.publish(page.Event{Type: "message", Name: name, Text: text})
		}
	}
	c.SetValue("") // gone from the presence (a nickname is never empty); the Hub drops it as it closes
	r.announce(false)
	r.publish(page.Event{Type: "leave", Name: name})
}

// publish sends e to every member on every node. The members on this
// node get it even while the bus is away; the others then miss it.
func (r *room) publish(e page.Event) {
	e.Time = time.Now().UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.hub.Publish(ctx, topic, wsio.Text, []byte(encode(e))); err != nil {
		r.logger.Printf("%s %s: %v", e.Type, e.Name, err)
	}
}

// local returns the nicknames of this node's members.
func (r *room) local() []string {
	var users []string
	for c := range r.srv.Conns() {
		if n, ok := c.Value().(string); ok && n != "" {
			users = append(users, n)
		}
	}
	return users
}

// users returns everyone present, on every node, sorted (one entry per
// member: two may share a name).
func (r *room) users() []string {
	users := r.local()
	r.mu.Lock()
	for node, p := range r.remote {
		if time.Since(p.seen) > presenceTTL {
			delete(r.remote, node)
			continue
		}
		users = append(users, p.Users...)
	}
	r.mu.Unlock()
	slices.Sort(users)
	return users
}

// announce publishes this node's members on the bus; sync asks the other
// nodes to answer with theirs.
func (r *room) announce(sync bool) {
	b, _ := json.Marshal(presence{Node: r.node, Users: r.local(), Sync: sync})
	if err := r.bus.Publish(presenceSubject, b); err != nil {
		r.logger.Printf("presence: %v", err)
	}
}

// announcer publishes the presence every presenceEvery until close.
func (r *room) announcer() {
	defer close(r.done)
	t := time.NewTicker(presenceEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.announce(false)
		case <-r.stop:
			return
		}
	}
}

// heard records another node's presence, answering a node that asks.
func (r *room) heard(data []byte) {
	var p presence
	if err := json.Unmarshal(data, &p); err != nil || p.Node == "" || p.Node == r.node {
		return
	}
	p.seen = time.Now()
	r.mu.Lock()
	r.remote[p.Node] = p
	r.mu.Unlock()
	if p.Sync {
		// Not from the bus's callback goroutine: Publish may wait.
		go r.announce(false)
	}
}

func encode(e page.Event) string {
	b, _ := json.Marshal(e) // cannot fail for this type
	return string(b)
}
