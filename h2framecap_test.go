//go:build !js

package wsio

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"testing/iotest"
)

// readerConn is a net.Conn whose reads come from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestH2FrameCap: the server's SETTINGS_MAX_FRAME_SIZE reads as at most
// h2SendFrameMax, however the bytes are cut, and everything else passes
// through unchanged.
func TestH2FrameCap(t *testing.T) {
	t.Parallel()
	frame := func(typ, flags byte, payload []byte) []byte {
		h := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
		return append(h, payload...)
	}
	setting := func(id uint16, v uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, id), v)
	}
	settings := func(maxFrame uint32) []byte {
		return frame(0x4, 0, bytes.Join([][]byte{setting(0x3, 250), setting(0x5, maxFrame), setting(0x4, 1<<20)}, nil))
	}
	data := frame(0x0, 0, bytes.Repeat([]byte{0x5, 0, 0, 0x10, 0, 0}, 10)) // looks like a setting; is not one
	ack := frame(0x4, 0x1, nil)
	odd := frame(0x4, 0, []byte{0, 5, 0, 0x10, 0}) // not a multiple of 6: passed on for the transport to refuse
	for _, tc := range []struct {
		name     string
		in, want []byte
	}{
		{"1MiB", bytes.Join([][]byte{settings(1 << 20), data, ack}, nil), bytes.Join([][]byte{settings(h2SendFrameMax), data, ack}, nil)},
		{"small", bytes.Join([][]byte{settings(h2SendFrameMax), data}, nil), bytes.Join([][]byte{settings(h2SendFrameMax), data}, nil)},
		{"twice", bytes.Join([][]byte{settings(1<<24 - 1), data, settings(32 << 10)}, nil), bytes.Join([][]byte{settings(h2SendFrameMax), data, settings(h2SendFrameMax)}, nil)},
		{"malformed", odd, odd},
	} {
		for _, cut := range []struct {
			name string
			r    func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"bytes", iotest.OneByteReader},
			{"halves", iotest.HalfReader},
		} {
			t.Run(tc.name+"/"+cut.name, func(t *testing.T) {
				c := capFrames(readerConn{r: cut.r(bytes.NewReader(tc.in))})
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Errorf("got  %x\nwant %x", got, tc.want)
				}
			})
		}
	}
}
