package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// wsRawLib is a WebSocket client written for this benchmark on RFC 6455
// alone, with no library: the latency benchmark's -client raw, a client
// that costs every server the same and adds as little as a client can. It
// has no server; it only echoes (no stream).
var wsRawLib = &library{
	name: "ws-raw",
	dial: dialWSRaw,
	notes: "a client written for the bench on RFC 6455 alone: an upgrade request with a random key (the accept " +
		"is checked), each message one masked binary frame sent with one write, frames read through a 4 KiB " +
		"bufio.Reader; pings answered, text messages skipped",
}

// wsGUID is the GUID of RFC 6455 section 1.3, appended to the key for the
// accept value.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Frame opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

var errWSRawClosed = errors.New("ws-raw: the server closed the connection")

func dialWSRaw(ctx context.Context, addr string) (cliConn, error) {
	c, err := dialTCP(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	w := &wsRawConn{c: c, br: bufio.NewReaderSize(c, 4096)}
	if err := w.handshake(addr); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return w, nil
}

// wsRawConn is one ws-raw client connection. Only the goroutine running
// the echo uses it.
type wsRawConn struct {
	c  net.Conn
	br *bufio.Reader
	// left is the unread payload of the current data frame, fin whether
	// it is its message's last; inMsg is set from the binary frame that
	// next returns until the message's reader returns io.EOF.
	left  int64
	fin   bool
	inMsg bool
	// sentClose and gotClose record the close frames each way, so that
	// each side's is sent and answered once.
	sentClose, gotClose bool
	wbuf                []byte // the frame being written: header, mask key, masked payload
	ctl                 [125]byte
}

// handshake sends the upgrade request and reads the 101 response through
// br, checking Sec-WebSocket-Accept.
func (w *wsRawConn) handshake(host string) error {
	var nonce [16]byte
	binary.LittleEndian.PutUint64(nonce[:], rand.Uint64())
	binary.LittleEndian.PutUint64(nonce[8:], rand.Uint64())
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(w.c, req); err != nil {
		return fmt.Errorf("ws-raw: handshake: %w", err)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	accepted := false
	for i := 0; ; i++ {
		line, err := w.br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("ws-raw: handshake response: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if i == 0 {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 101 ")) {
				return fmt.Errorf("ws-raw: handshake response %q", line)
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			accepted = string(bytes.TrimSpace(value)) == want
		}
	}
	if !accepted {
		return errors.New("ws-raw: handshake response without the right Sec-WebSocket-Accept")
	}
	return nil
}

// writeFrame sends p as one final, masked frame of opcode op, with one
// write.
func (w *wsRawConn) writeFrame(op byte, p []byte) error {
	n := len(p)
	hdr := 2
	switch {
	case n > 0xffff:
		hdr = 10
	case n > 125:
		hdr = 4
	}
	need := hdr + 4 + n
	if cap(w.wbuf) < need {
		w.wbuf = make([]byte, need)
	}
	b := w.wbuf[:need]
	b[0] = 0x80 | op
	switch hdr {
	case 2:
		b[1] = 0x80 | byte(n)
	case 4:
		b[1] = 0x80 | 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b[1] = 0x80 | 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	binary.LittleEndian.PutUint32(b[hdr:], rand.Uint32())
	copy(b[hdr+4:], p)
	maskBytes(b[hdr:hdr+4], b[hdr+4:])
	_, err := w.c.Write(b)
	return err
}

// maskBytes XORs b with the 4-byte key, eight bytes at a time; b starts
// at the payload's first byte, so byte i takes key[i%4].
func maskBytes(key, b []byte) {
	k := uint64(binary.LittleEndian.Uint32(key))
	k |= k << 32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// dataFrame reads frame headers until a data frame's, handling the
// control frames before it (a ping is answered with a pong, a close with
// a close, which ends the connection with errWSRawClosed). It leaves the
// frame's payload unread (left) and returns its opcode.
func (w *wsRawConn) dataFrame() (byte, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return 0, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		if h[0]&0x70 != 0 {
			return 0, errors.New("ws-raw: frame with reserved bits set")
		}
		if h[1]&0x80 != 0 {
			return 0, errors.New("ws-raw: masked frame from the server")
		}
		n := int64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(w.br, e[:]); err != nil {
				return 0, err
			}
			n = int64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(w.br, e[:]); err != nil {
				return 0, err
			}
			n = int64(binary.BigEndian.Uint64(e[:]) & (1<<63 - 1))
		}
		if op < opClose {
			w.left, w.fin = n, fin
			return op, nil
		}
		if n > int64(len(w.ctl)) || !fin {
			return 0, errors.New("ws-raw: bad control frame")
		}
		p := w.ctl[:n]
		if _, err := io.ReadFull(w.br, p); err != nil {
			return 0, err
		}
		switch op {
		case opPing:
			if err := w.writeFrame(opPong, p); err != nil {
				return 0, err
			}
		case opClose:
			w.gotClose = true
			if !w.sentClose {
				w.sentClose = true
				_ = w.writeFrame(opClose, p[:min(len(p), 2)])
			}
			return 0, errWSRawClosed
		case opPong:
		default:
			return 0, fmt.Errorf("ws-raw: frame of reserved opcode %#x", op)
		}
	}
}

// next returns the next binary message; the rest of the previous one, and
// any text message, is discarded.
func (w *wsRawConn) next() (io.Reader, error) {
	if w.inMsg {
		if _, err := io.Copy(io.Discard, (*wsRawMsg)(w)); err != nil {
			return nil, err
		}
	}
	for {
		op, err := w.dataFrame()
		if err != nil {
			return nil, err
		}
		switch op {
		case opBinary:
			w.inMsg = true
			return (*wsRawMsg)(w), nil
		case opText:
			w.inMsg = true
			if _, err := io.Copy(io.Discard, (*wsRawMsg)(w)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("ws-raw: frame of opcode %#x outside a message", op)
		}
	}
}

// wsRawMsg reads the current message's payload across its frames.
type wsRawMsg wsRawConn

func (m *wsRawMsg) Read(p []byte) (int, error) {
	w := (*wsRawConn)(m)
	if !w.inMsg {
		return 0, io.EOF
	}
	for w.left == 0 {
		if w.fin {
			w.inMsg = false
			return 0, io.EOF
		}
		op, err := w.dataFrame()
		if err != nil {
			return 0, err
		}
		if op != opContinuation {
			return 0, errors.New("ws-raw: a new message inside a fragmented one")
		}
	}
	if int64(len(p)) > w.left {
		p = p[:w.left]
	}
	n, err := w.br.Read(p)
	w.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (w *wsRawConn) write(p []byte) error { return w.writeFrame(opBinary, p) }

func (w *wsRawConn) stream(io.Reader, int64) error {
	return errors.New("ws-raw: echo only, no streaming")
}

// close sends a close frame (1000) and reads until the server's, then
// closes TCP.
func (w *wsRawConn) close() error {
	defer w.c.Close()
	if w.gotClose {
		return nil
	}
	w.sentClose = true
	if err := w.writeFrame(opClose, []byte{0x03, 0xe8}); err != nil {
		return err
	}
	_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := w.next(); err != nil {
			if w.gotClose {
				return nil
			}
			return err
		}
	}
}

func (w *wsRawConn) drop() error { return w.c.Close() }
