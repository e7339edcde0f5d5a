//go:build !js

package wsio

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/conn"
)

// FuzzExtensions: any Sec-WebSocket-Extensions value is parsed without
// panic; a server's answer to it is something its own client accepts for
// the same offer, with matching settings.
func FuzzExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9; server_no_context_takeover; client_no_context_takeover",
		`permessage-deflate; server_max_window_bits="12", x-foo; a=b`,
		"permessage-deflate;;", "a,,b", `x; y="\"q\""`, "permessage-deflate; server_max_window_bits=08",
	} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, header string, knobs uint8) {
		offers, err := parseExtensions([]string{header})
		if err != nil {
			return
		}
		cfg := &Compression{NoContextTakeover: knobs&1 != 0, PeerNoContextTakeover: knobs&2 != 0, WindowBits: 8 + int(knobs>>2&7), PeerWindowBits: 8 + int(knobs>>5&7)}
		resp, st, ok := acceptDeflate(offers, cfg)
		if !ok {
			return
		}
		back, err := parseExtensions([]string{resp})
		if err != nil || len(back) != 1 {
			t.Fatalf("our response %q does not parse: %v", resp, err)
		}
		if st.outBits < 8 || st.outBits > 15 || st.inBits < 8 || st.inBits > 15 {
			t.Fatalf("window bits out of range: %+v", st)
		}
		// The accepted offer, as a client would have sent it: our client
		// must accept our response and agree on the settings.
		for _, o := range offers {
			if o.name != "permessage-deflate" {
				continue
			}
			if _, _, ok := acceptDeflate([]extension{o}, cfg); !ok {
				continue
			}
			ccfg := clientConfigFor(o)
			cst, err := clientDeflate(back, ccfg)
			if err != nil {
				t.Fatalf("offer %q, response %q: our client refuses: %v", header, resp, err)
			}
			if cst.outTakeover != st.inTakeover || cst.inTakeover != st.outTakeover {
				t.Fatalf("offer %q, response %q: takeover disagrees: server %+v client %+v", header, resp, st, cst)
			}
			if cst.inBits < st.outBits {
				t.Fatalf("offer %q, response %q: the client keeps a %d-bit window for a %d-bit sender", header, resp, cst.inBits, st.outBits)
			}
			break
		}
	})
}

// clientConfigFor is the client configuration that produces offer o.
func clientConfigFor(o extension) *Compression {
	c := &Compression{}
	for _, p := range o.params {
		switch p.name {
		case "client_no_context_takeover":
			c.NoContextTakeover = true
		case "server_no_context_takeover":
			c.PeerNoContextTakeover = true
		case "server_max_window_bits":
			c.PeerWindowBits, _ = parseBits(p.value)
		case "client_max_window_bits":
			if n, ok := parseBits(p.value); ok {
				c.WindowBits = n
			}
		}
	}
	return c
}

// FuzzDeflateConn drives a server connection that negotiated
// permessage-deflate (with context takeover) from a byte stream: no panic,
// no hang, and it ends closed.
func FuzzDeflateConn(f *testing.F) {
	frame := func(fin bool, rsv byte, op conn.Opcode, p []byte) []byte {
		var hdr [conn.MaxHeaderSize]byte
		key := [4]byte{9, 8, 7, 6}
		n := conn.PutHeader(hdr[:], fin, rsv, op, int64(len(p)), &key)
		b := append(hdr[:n:n], p...)
		conn.Mask(key, 0, b[n:])
		return b
	}
	z := func(s string) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, 6)
		w.Write([]byte(s))
		w.Flush()
		return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
	}
	msg := z(strings.Repeat("hello deflate ", 40))
	f.Add(append(frame(true, conn.Rsv1, conn.OpText, msg), frame(true, 0, conn.OpClose, []byte{3, 232})...))
	f.Add(append(append(frame(false, conn.Rsv1, conn.OpBinary, msg[:5]), frame(true, 0, conn.OpPing, nil)...), frame(true, 0, conn.OpContinuation, msg[5:])...))
	f.Add(frame(true, conn.Rsv1, conn.OpText, []byte{0xff, 0xfe, 0x00}))
	f.Add(frame(true, conn.Rsv1, conn.OpText, z(strings.Repeat("\x00", 100000))))
	f.Add(frame(true, conn.Rsv1|conn.Rsv2, conn.OpBinary, msg))
	f.Fuzz(func(t *testing.T, in []byte) {
		srv, peer := net.Pipe()
		c := newConn(srv, false, &Options{BufferCap: 1 << 16, MaxBinaryMessage: 1 << 16, CloseTimeout: 50 * time.Millisecond}, nil)
		st := newDeflateState(&Compression{})
		c.useDeflate(st)
		go func() {
			_, _ = peer.Write(in)
			_ = peer.Close()
		}()
		go func() { _, _ = io.Copy(io.Discard, peer) }()
		done := make(chan error, 1)
		go func() {
			for {
				// ctx governs the binary message's reads too.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				m, err := c.Next(ctx)
				if err == nil && m.Kind == Binary {
					_, err = io.Copy(io.Discard, m)
				}
				cancel()
				if err != nil {
					done <- err
					return
				}
			}
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("ended with %v, want an error matching ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("hung")
		}
		c.closeTransport()
	})
}
