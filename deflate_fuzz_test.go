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
	"github.com/wsio/wsio/internal/deflate"
)

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
		return bytes.TrimSuffix(b.Bytes(), []byte(deflate.FlushMarker))
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
		st := newDeflateState(&Compression{}, deflate.Params{OutBits: 15, OutTakeover: true, InBits: 15, InTakeover: true})
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
