package hostile

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// rawServer accepts WebSocket handshakes by hand (acceptRaw)
// on 127.0.0.1 and gives each hijacked connection to play.
func rawServer(t *testing.T, play func(nc net.Conn, a *attacker)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, br, err := acceptRaw(w, r)
		if err != nil {
			return
		}
		defer nc.Close()
		play(nc, &attacker{t: t, nc: nc, br: br})
	})}
	go func() { _ = hs.Serve(ln); close(done) }()
	t.Cleanup(func() {
		_ = hs.Close()
		<-done
	})
	return "ws://" + ln.Addr().String() + "/"
}

// TestClientHostileServer: a server that breaks the protocol towards a wsio
// client — masked frames first of all.
func TestClientHostileServer(t *testing.T) {
	t.Parallel()
	masked := func(op byte, p []byte) []byte { return frame(true, 0, op, p) }
	cases := []struct {
		name, tried string
		send        []byte
		code        int
		cause       error
	}{
		{"masked-text", "server sends a masked text frame", masked(opText, []byte("hi")), 1002, errProto},
		{"masked-binary", "server sends a masked binary frame", masked(opBinary, []byte("hi")), 1002, errProto},
		{"masked-ping", "server sends a masked ping", masked(opPing, []byte("hi")), 1002, errProto},
		{"masked-close", "server sends a masked close 1000", masked(opClose, closePayload(1000, "")), 1002, errProto},
		{"rsv1", "server sends an unmasked text frame with RSV1", appendFrame(nil, &wireFrame{Fin: true, RSV: 4, Opcode: opText, Payload: []byte("x")}), 1002, errProto},
		{"opcode-B", "server sends reserved opcode 0xB", unmaskedFrame(true, 0xB, nil), 1002, errProto},
		{"text-2^62", "server declares a 2^62-byte text frame", []byte{0x81, 127, 0x40, 0, 0, 0, 0, 0, 0, 0}, 1009, errBig},
		{"bad-utf8", "server sends text FF", unmaskedFrame(true, opText, []byte{0xFF}), 1007, errUTF8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Client", tc.tried+" to a wsio client")
			type wire struct {
				code   int
				masked bool
				err    error
			}
			got := make(chan wire, 1)
			url := rawServer(t, func(nc net.Conn, a *attacker) {
				if err := a.write(tc.send); err != nil {
					got <- wire{err: err}
					return
				}
				f, err := a.readFrame(5 * time.Second)
				switch {
				case err != nil:
					got <- wire{err: err}
				case f.Opcode != opClose || len(f.Payload) < 2:
					got <- wire{err: errors.New("the client's first frame is not a close frame with a code")}
				default:
					got <- wire{code: int(f.Payload[0])<<8 | int(f.Payload[1]), masked: f.Masked}
				}
			})
			c := dialClient(t, url, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.Next(ctx)
			took := time.Since(start)
			var w wire
			select {
			case w = <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("the raw server saw nothing from the client")
			}
			r.saw("client sent close %d (masked %v); Next returned after %v: %s", w.code, w.masked, fmtDur(took), desc(err))
			if w.err != nil {
				t.Fatalf("raw server: %v", w.err)
			}
			if w.code != tc.code || !w.masked {
				t.Errorf("client sent close %d masked=%v, want %d masked", w.code, w.masked, tc.code)
			}
			if msg := checkCloseErr(err, wsio.StatusCode(tc.code), false, tc.cause); msg != "" {
				t.Errorf("Next: %s", msg)
			}
			if took > time.Second {
				t.Errorf("Next took %v", took)
			}
			if c.State() != wsio.Closed {
				t.Errorf("state %v after the failure, want closed", c.State())
			}
		})
	}
}
