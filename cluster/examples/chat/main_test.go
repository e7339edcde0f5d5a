package main

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster/natsbus"
	"github.com/wsio/wsio/examples/chat/page"
	"github.com/wsio/wsio/internal/wstest"
)

// member is a test client of one node.
type member struct {
	name   string
	c      *wsio.Conn
	events chan page.Event
}

func join(t *testing.T, base, name string) *member {
	t.Helper()
	c, _, err := wsio.Dial(wstest.Context(t), base+"/ws?name="+url.QueryEscape(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, c: c, events: make(chan page.Event, 100)}
	go func() {
		defer close(m.events)
		for {
			msg, err := c.Next(context.Background())
			if err != nil {
				return
			}
			var e page.Event
			if err := json.Unmarshal([]byte(msg.Text), &e); err != nil {
				t.Errorf("%s got %q: %v", name, msg.Text, err)
				return
			}
			m.events <- e
		}
	}()
	t.Cleanup(func() { _ = c.CloseNow(); <-m.events })
	return m
}

// expect returns the member's next event, which must be typ from name.
func (m *member) expect(t *testing.T, typ, name string) page.Event {
	t.Helper()
	select {
	case e, ok := <-m.events:
		if !ok {
			t.Fatalf("%s: connection ended", m.name)
		}
		if e.Type != typ || e.Name != name {
			t.Fatalf("%s got %s from %q (%q), want %s from %q", m.name, e.Type, e.Name, e.Text, typ, name)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no event in 10 s", m.name)
	}
	return page.Event{}
}

// TestRoomAcrossNodes: two nodes on one nats-server, a member on each.
// The second is welcomed with both names (the first node's presence), each
// sees the other's join, lines and leave, and both nodes serve the page.
func TestRoomAcrossNodes(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	var bases []string
	var rooms []*room
	for range 2 {
		bus, err := natsbus.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		r, err := newRoom(bus, log.New(io.Discard, "", 0))
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(r.handler())
		rooms = append(rooms, r)
		bases = append(bases, wstest.WSURL(ts.URL))
		defer func() {
			ts.Close()
			_ = r.srv.Close()
			r.close()
			_ = bus.Close()
		}()
	}

	ann := join(t, bases[0], "ann")
	ann.expect(t, "welcome", "ann")
	ann.expect(t, "join", "ann")
	// Node 1 knows ann once node 0's presence (sent when she joined)
	// has arrived; node 1's Hub is on the bus once bob has joined there.
	wstest.WaitUntil(t, "node 1 to hear of ann", func() bool { return slices.Equal(rooms[1].users(), []string{"ann"}) })
	bob := join(t, bases[1], "bob")
	if w := bob.expect(t, "welcome", "bob"); !slices.Equal(w.Users, []string{"ann", "bob"}) {
		t.Errorf("bob welcomed with %q, want [ann bob]", w.Users)
	}
	bob.expect(t, "join", "bob")
	ann.expect(t, "join", "bob")

	if err := ann.c.SendText(wstest.Context(t), "hi bob"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{ann, bob} {
		if e := m.expect(t, "message", "ann"); e.Text != "hi bob" {
			t.Errorf("%s got %q, want hi bob", m.name, e.Text)
		}
	}
	if err := bob.c.SendText(wstest.Context(t), "hi ann"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{bob, ann} {
		if e := m.expect(t, "message", "bob"); e.Text != "hi ann" {
			t.Errorf("%s got %q, want hi ann", m.name, e.Text)
		}
	}

	_ = bob.c.Close(wsio.StatusNormalClosure, "bye")
	ann.expect(t, "leave", "bob")
	wstest.WaitUntil(t, "node 0 to hear bob left", func() bool { return slices.Equal(rooms[0].users(), []string{"ann"}) })
}
