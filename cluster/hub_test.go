package cluster_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
	"github.com/wsio/wsio/cluster/natsbus"
	"github.com/wsio/wsio/internal/wstest"
)

// TestHubLifecycle: Join and Leave keep the topic and connection counts,
// a closed connection leaves by itself, Publish checks its context and
// input, and a closed Hub refuses Join and Publish.
func TestHubLifecycle(t *testing.T) {
	t.Parallel()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	bus, err := natsbus.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	hub, err := cluster.New(cluster.Options{Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *wsio.Conn, 2)
	srv := httptest.NewServer(wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		conns <- c
		_, _ = c.Next(context.Background())
	}))
	defer srv.Close()
	ctx := wstest.Context(t)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	client, _, err := wsio.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	c := wstest.Receive(t, conns, "the server connection")

	check := func(what string, conns, topics int) {
		t.Helper()
		if m := hub.Metrics(); m.Conns != conns || m.Topics != topics {
			t.Fatalf("%s: %d connections on %d topics, want %d on %d", what, m.Conns, m.Topics, conns, topics)
		}
	}
	for _, topic := range []string{"a", "b"} {
		if err := hub.Join(c, topic); err != nil {
			t.Fatal(err)
		}
	}
	check("after two joins", 1, 2)
	// A topic NATS would read as a wildcard is refused, not subscribed to
	// every other topic.
	for _, topic := range []string{"*", ">", "a.*"} {
		if err := hub.Join(c, topic); !errors.Is(err, natsbus.ErrSubject) {
			t.Errorf("Join(%q) = %v, want natsbus.ErrSubject", topic, err)
		}
	}
	check("after the refused joins", 1, 2)
	hub.Leave(c, "a")
	check("after leaving a", 1, 1)
	if err := hub.Publish(ctx, "b", wsio.Text, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := client.Next(ctx); err != nil || m.Text != "hi" {
		t.Fatalf("Next = %q, %v; want hi", m.Text, err)
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := hub.Publish(done, "b", wsio.Text, []byte("no")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a done context = %v, want Canceled", err)
	}
	if err := hub.Publish(ctx, "b", wsio.Text, []byte{0xff}); !errors.Is(err, wsio.ErrInvalidUTF8) {
		t.Errorf("Publish of invalid text = %v, want ErrInvalidUTF8", err)
	}
	if m := hub.Metrics(); m.Published != 1 {
		t.Errorf("Published = %d, want 1 (refused calls are not counted)", m.Published)
	}
	// The bus refuses a wildcard subject (local subscribers, none here,
	// would still get the message).
	if err := hub.Publish(ctx, "*", wsio.Text, []byte("all")); !errors.Is(err, natsbus.ErrSubject) {
		t.Errorf("Publish to \"*\" = %v, want natsbus.ErrSubject", err)
	}
	if m := hub.Metrics(); m.BusErrors != 1 {
		t.Errorf("BusErrors = %d, want 1", m.BusErrors)
	}

	_ = client.Close(wsio.StatusNormalClosure, "")
	wstest.WaitUntil(t, "the closed connection to leave", func() bool { return hub.Metrics().Conns == 0 })
	check("after the connection closed", 0, 0)

	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hub.Join(c, "a"); !errors.Is(err, cluster.ErrHubClosed) {
		t.Errorf("Join after Close = %v, want ErrHubClosed", err)
	}
	if err := hub.Publish(ctx, "a", wsio.Text, nil); !errors.Is(err, cluster.ErrHubClosed) {
		t.Errorf("Publish after Close = %v, want ErrHubClosed", err)
	}
}
