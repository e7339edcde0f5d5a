//go:build !js

package wsio_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/wsio/wsio"
)

// readTap records what a connection reads from the wire.
type readTap struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *readTap) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// messages parses the server frames recorded after the handshake into data
// messages, leaving out control frames, up to the close frame.
func (r *readTap) messages(t *testing.T) [][]frame {
	t.Helper()
	r.mu.Lock()
	b := bytes.Clone(r.got.Bytes())
	r.mu.Unlock()
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatal("no handshake recorded")
	}
	br := bytes.NewReader(b[i+4:])
	var msgs [][]frame
	var cur []frame
	for {
		f, err := readFrame(br)
		if err != nil {
			t.Fatalf("recorded frame: %v", err)
		}
		switch {
		case f.op == 8:
			if cur != nil {
				t.Fatal("close frame inside a data message")
			}
			return msgs
		case f.op >= 8:
			continue
		}
		cur = append(cur, f)
		if f.fin {
			msgs, cur = append(msgs, cur), nil
		}
	}
}

// TestSendWireFormat pins how each way of sending cuts a message into
// frames, for lengths around the fragment size: the opcode on the first
// frame only, RSV1 on the first frame only when the message is
// compressed, FIN on the last only, every frame but the last exactly the
// fragment size. A whole message (SendBinary, SendText, SendPrepared)
// never ends with an empty frame unless it is one empty frame; a stream
// from BeginBinary sends its final frame on Close, so an uncompressed
// stream of k full fragments is k+1 frames, the last empty.
func TestSendWireFormat(t *testing.T) {
	t.Parallel()
	const frag = 1000
	lengths := []int{0, 1, frag - 1, frag, frag + 1, 3 * frag}
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([][]byte, len(lengths))
	for i, n := range lengths {
		data[i] = make([]byte, n)
		for j := range data[i] {
			data[i][j] = 'a' + byte(rng.IntN(26)) // valid text, and it compresses a little
		}
	}

	type shape int
	const (
		whole  shape = iota // every frame but the last full; the last empty only when alone
		stream              // every frame but the last full; the last may be empty
		single              // one frame
	)
	send := map[string]func(ctx context.Context, c *wsio.Conn, p []byte) error{
		"SendBinary": func(ctx context.Context, c *wsio.Conn, p []byte) error { return c.SendBinary(ctx, p) },
		"SendText":   func(ctx context.Context, c *wsio.Conn, p []byte) error { return c.SendText(ctx, string(p)) },
		"SendPrepared": func(ctx context.Context, c *wsio.Conn, p []byte) error {
			m, err := wsio.Prepare(wsio.Binary, p, frag)
			if err != nil {
				return err
			}
			return c.SendPrepared(ctx, m)
		},
		"SendPreparedText": func(ctx context.Context, c *wsio.Conn, p []byte) error {
			m, err := wsio.Prepare(wsio.Text, p, frag)
			if err != nil {
				return err
			}
			return c.SendPrepared(ctx, m)
		},
		"BeginBinary": func(ctx context.Context, c *wsio.Conn, p []byte) error {
			w, err := c.BeginBinary(ctx)
			if err != nil {
				return err
			}
			if _, err := w.Write(p); err != nil {
				_ = w.Close()
				return err
			}
			return w.Close()
		},
	}
	compressions := map[string]*wsio.Compression{
		"plain":     nil,
		"takeover":  {Threshold: -1},
		"nocontext": {Threshold: -1, NoContextTakeover: true},
	}
	for _, tc := range []struct {
		send, comp string
		shape      shape
	}{
		{"SendBinary", "plain", whole},
		{"SendText", "plain", single},
		{"SendPrepared", "plain", whole},
		{"SendPreparedText", "plain", whole},
		{"BeginBinary", "plain", stream},
		{"SendBinary", "takeover", whole},
		{"SendBinary", "nocontext", whole},
		{"SendText", "takeover", whole},
		{"SendText", "nocontext", whole},
		{"SendPrepared", "takeover", whole},
		{"SendPrepared", "nocontext", whole},
		{"SendPreparedText", "nocontext", whole},
		{"BeginBinary", "takeover", stream},
		{"BeginBinary", "nocontext", stream},
	} {
		t.Run(tc.send+"/"+tc.comp, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			comp := compressions[tc.comp]
			_, url := newServer(t, wsio.ServerOptions{Options: wsio.Options{FragmentSize: frag, Compression: comp}},
				func(c *wsio.Conn) {
					for i, p := range data {
						if err := send[tc.send](ctx, c, p); err != nil {
							t.Errorf("%s of %d bytes: %v", tc.send, lengths[i], err)
							return
						}
					}
					_, _ = c.Next(ctx) // until the client closes
				})
			var tap *readTap
			c := dial(t, url, &wsio.DialOptions{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				tap = &readTap{Conn: nc}
				return tap, err
			}})
			wantKind, wantOp := wsio.Binary, byte(2)
			if tc.send == "SendText" || tc.send == "SendPreparedText" {
				wantKind, wantOp = wsio.Text, 1
			}
			for i, want := range data {
				kind, got, err := readMessage(ctx, c)
				if err != nil || kind != wantKind || !bytes.Equal(got, want) {
					t.Fatalf("message of %d bytes: got %v, %d bytes, %v", lengths[i], kind, len(got), err)
				}
			}
			if err := c.Close(wsio.StatusNormalClosure, ""); err != nil {
				t.Fatalf("Close: %v", err)
			}

			msgs := tap.messages(t)
			if len(msgs) != len(data) {
				t.Fatalf("%d messages on the wire, want %d", len(msgs), len(data))
			}
			for i, fs := range msgs {
				n := lengths[i]
				var wantRsv byte
				if comp != nil {
					wantRsv = 0x40
				}
				var sizes []int
				for j, f := range fs {
					op, rsv := byte(0), byte(0)
					if j == 0 {
						op, rsv = wantOp, wantRsv
					}
					if f.op != op || f.rsv != rsv {
						t.Errorf("length %d, frame %d: opcode %d rsv %#x, want %d and %#x", n, j, f.op, f.rsv, op, rsv)
					}
					sizes = append(sizes, len(f.payload))
				}
				last := sizes[len(sizes)-1]
				for _, k := range sizes[:len(sizes)-1] {
					if k != frag {
						t.Errorf("length %d: frames of %v bytes: a frame before the last is not the fragment size", n, sizes)
					}
				}
				switch tc.shape {
				case single:
					if len(sizes) != 1 {
						t.Errorf("length %d: %d frames, want 1", n, len(sizes))
					}
				case whole:
					if last == 0 && len(sizes) > 1 {
						t.Errorf("length %d: frames of %v bytes: an empty frame ends the message", n, sizes)
					}
				}
				if comp != nil {
					continue
				}
				// Uncompressed, the sizes follow from the length alone.
				total := 0
				for _, k := range sizes {
					total += k
				}
				wantFrames := max(1, (n+frag-1)/frag)
				switch tc.shape {
				case single:
					wantFrames = 1
				case stream:
					wantFrames = n/frag + 1
				}
				if total != n || len(sizes) != wantFrames {
					t.Errorf("length %d: frames of %v bytes, want %d frames carrying %d bytes", n, sizes, wantFrames, n)
				}
			}
		})
	}
}
