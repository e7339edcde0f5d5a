// Command chat is a chat room: a web page where you pick a nickname and
// talk, and a WebSocket server that broadcasts every message to everyone
// in the room, with notices when people join and leave.
//
//	go run ./examples/chat                  # then open http://127.0.0.1:8080 in two tabs
//	go run ./examples/chat -addr 127.0.0.1:9000
//
// The page (package page, shared with cluster/examples/chat, the chat
// across several nodes) connects to /ws?name=NICK. Each text message it
// sends is one chat line; the server sends JSON events back:
//
//	{"type":"welcome","name":"ann","users":["ann","bob"]}   to the newcomer only
//	{"type":"join","name":"ann","time":"…"}                 to everyone
//	{"type":"message","name":"ann","text":"hi","time":"…"}  to everyone
//	{"type":"leave","name":"ann","time":"…"}                to everyone
//
// Broadcasts go out one at a time, so every member sees the same order.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/examples/chat/page"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	log.Printf("open http://%s/", *addr)
	log.Fatal(http.ListenAndServe(*addr, newRoom(log.Default()).handler()))
}

// maxLine caps a chat line: a longer text message closes the sender's
// connection with 1009 (message too big) before it is read.
const maxLine = 4 << 10

// room is the chat room: the Server keeps the set of open connections.
type room struct {
	srv    *wsio.Server
	logger *log.Logger
	mu     sync.Mutex // held for each broadcast, so all members see one order
}

// event is what the page reads.
type event = page.Event

func newRoom(logger *log.Logger) *room {
	r := &room{logger: logger}
	// The default origin check allows only pages from this server's own
	// host, which is what a chat page served from here needs.
	r.srv = wsio.NewServer(wsio.ServerOptions{
		Options: wsio.Options{BufferCap: maxLine},
	}, r.member)
	return r
}

// handler serves the page at / and the room at /ws.
func (r *room) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page.HTML)
	})
	mux.Handle("/ws", r.srv) // a Server is an http.Handler
	return mux
}

// member runs one connection, on a goroutine of its own, from join to
// leave. When it returns, the Server closes the connection with 1000.
func (r *room) member(c *wsio.Conn) {
	ctx := context.Background()
	name := nickname(c.Request().URL.Query().Get("name"))
	c.SetValue(name) // so the welcome can list everyone's names

	var users []string
	for m := range r.srv.Conns() {
		if n, ok := m.Value().(string); ok {
			users = append(users, n)
		}
	}
	slices.Sort(users)
	if err := c.SendText(ctx, encode(event{Type: "welcome", Name: name, Users: users})); err != nil {
		return
	}
	r.broadcast(event{Type: "join", Name: name})

	for {
		// Next waits for the member's next message; pings and the close
		// handshake are handled inside.
		m, err := c.Next(ctx)
		if err != nil {
			break // closed: the page went away, or sent more than maxLine
		}
		if m.Kind != wsio.Text {
			c.Close(wsio.StatusUnsupportedData, "this room takes text only")
			break
		}
		if text := strings.TrimSpace(m.Text); text != "" {
			r.broadcast(event{Type: "message", Name: name, Text: text})
		}
	}
	r.broadcast(event{Type: "leave", Name: name})
}

// broadcast sends e to every member. Server.Broadcast frames the message
// once and writes it to each connection on its own goroutine; a member
// that cannot take it within 5 s is cut off (its write is interrupted).
func (r *room) broadcast(e event) {
	e.Time = time.Now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Broadcast(ctx, wsio.Text, []byte(encode(e))); err != nil {
		r.logger.Printf("%s %s: %v", e.Type, e.Name, err)
	}
}

func encode(e event) string {
	b, _ := json.Marshal(e) // cannot fail for this type
	return string(b)
}

// nickname tidies a requested nickname as page.Nickname does.
func nickname(s string) string { return page.Nickname(s) }
