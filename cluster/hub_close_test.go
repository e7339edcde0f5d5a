package cluster_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/cluster"
	"github.com/wsio/wsio/internal/wstest"
)

// nopBus is a Bus with no other node: the Hub's local delivery is all
// there is.
type nopBus struct{}

func (nopBus) Publish(string, []byte) error { return nil }
func (nopBus) Subscribe(string, func([]byte)) (func() error, error) {
	return func() error { return nil }, nil
}
func (nopBus) Close() error { return nil }

// TestHubLeavesClosingHandshake: a message published to a connection
// whose server is closing it (as Server.Shutdown does, with 1001) is
// refused, and the Hub lets the closing handshake finish: the peer's
// answer, sent after the Hub refused the message, still reaches the
// server, so Close reports a clean close, and the refusal is not counted
// as a send failure. The Hub used to cut the stream at once (CloseNow),
// so behind HAProxy a drained client could see the stream end without
// the close frame (1006 instead of 1001).
func TestHubLeavesClosingHandshake(t *testing.T) {
	t.Parallel()
	hub, err := cluster.New(cluster.Options{Bus: nopBus{}})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	conns := make(chan *wsio.Conn, 1)
	srv := httptest.NewServer(wsio.NewServer(wsio.ServerOptions{Options: wsio.Options{CloseTimeout: 10 * time.Second}}, func(c *wsio.Conn) {
		if err := hub.Join(c, "t"); err != nil {
			t.Error(err)
			return
		}
		conns <- c
		for {
			if _, err := c.Next(context.Background()); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	tc, br, err := wstest.DialRaw(wstest.WSURL(srv.URL), wstest.RawOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(wstest.Timeout))
	c := wstest.Receive(t, conns, "the server connection")

	closed := make(chan error, 1)
	go func() { closed <- c.Close(wsio.StatusGoingAway, "server shutting down") }()
	if op, payload := readRawFrame(t, br); op != 0x8 || len(payload) < 2 || binary.BigEndian.Uint16(payload) != 1001 {
		t.Fatalf("got opcode %#x payload %q, want a close frame with 1001", op, payload)
	}

	// The server waits for our answer; meanwhile a message is published
	// to the closing connection, which refuses it.
	if err := hub.Publish(wstest.Context(t), "t", wsio.Text, []byte("late")); err != nil {
		t.Fatal(err)
	}
	wstest.WaitUntil(t, "the closing connection to leave the hub", func() bool { return hub.Metrics().Conns == 0 })

	key := [4]byte{1, 2, 3, 4}
	if _, err := tc.Write(wstest.Frame(true, 0, 0x8, wstest.ClosePayload(1001, ""), &key)); err != nil {
		t.Fatalf("writing the close answer: %v", err)
	}
	if err := wstest.Receive(t, closed, "Close to return"); err != nil {
		t.Errorf("Close(1001) = %v, want nil: the hub cut the closing handshake short", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the close handshake the stream gave %v, want EOF", err)
	}
	if m := hub.Metrics(); m.SendFailures != 0 {
		t.Errorf("SendFailures = %d, want 0: a message refused by a closing connection is no send failure", m.SendFailures)
	}
}

// readRawFrame reads one unmasked frame of at most 125 bytes (a server's
// control frame or short message) and returns its opcode and payload.
func readRawFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("reading a frame header: %v", err)
	}
	if h[1] > 125 {
		t.Fatalf("frame header %x: a masked or long frame", h)
	}
	p := make([]byte, h[1])
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("reading a frame payload: %v", err)
	}
	return h[0] & 0x0F, p
}
