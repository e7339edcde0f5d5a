package hostile

// The attacker's own wire code: frames and the opening handshake written
// by hand, on the test kit's hand-written encoder and handshake
// (internal/wstest), independent of the library under test (and of
// conformance/suite, so these tests keep building while the suite changes).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wsio/wsio/internal/wstest"
)

// wireFrame is one frame as sent or received.
type wireFrame struct {
	Fin     bool
	RSV     byte // the reserved bits as a number 0–7 (RSV1 = 4)
	Opcode  byte
	Masked  bool
	MaskKey [4]byte
	Payload []byte // unmasked
}

// appendFrame encodes f with the minimal length form, masking the payload
// with f.MaskKey when f.Masked is set.
func appendFrame(dst []byte, f *wireFrame) []byte {
	b0 := (f.RSV&7)<<4 | f.Opcode&0x0F
	if f.Fin {
		b0 |= 0x80
	}
	var key *[4]byte
	if f.Masked {
		key = &f.MaskKey
	}
	return wstest.AppendFrame(dst, b0, f.Payload, key)
}

var errFrameTooBig = errors.New("frame payload over the reader's limit")

// readWireFrame reads one frame, refusing payloads over max before reading them.
func readWireFrame(r *bufio.Reader, max int64) (*wireFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	f := &wireFrame{Fin: h[0]&0x80 != 0, RSV: h[0] >> 4 & 7, Opcode: h[0] & 0x0F, Masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes", errFrameTooBig, n)
	}
	if f.Masked {
		if _, err := io.ReadFull(r, f.MaskKey[:]); err != nil {
			return nil, err
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return nil, err
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= f.MaskKey[i&3]
		}
	}
	return f, nil
}

// dialRaw connects to host and performs the client side of the opening
// handshake by hand (wstest.DialRaw). The reader may hold bytes sent after
// the 101.
func dialRaw(host string, timeout time.Duration) (*net.TCPConn, *bufio.Reader, error) {
	return wstest.DialRaw("ws://"+host+"/", wstest.RawOptions{Timeout: timeout})
}

// acceptRaw performs the server side of the opening handshake by hand and
// hijacks the connection.
func acceptRaw(w http.ResponseWriter, r *http.Request) (*net.TCPConn, *bufio.Reader, error) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
		http.Error(w, "not a WebSocket upgrade", http.StatusBadRequest)
		return nil, nil, errors.New("not an upgrade")
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	tc := nc.(*net.TCPConn)
	_ = tc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: "+wstest.AcceptKey(key)+"\r\n\r\n"); err != nil {
		tc.Close()
		return nil, nil, err
	}
	_ = tc.SetWriteDeadline(time.Time{})
	return tc, brw.Reader, nil
}
