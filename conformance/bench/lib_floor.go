package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// wsFloorLib is the handshake table's second reference beside raw TCP: a
// client and server that make exactly the system calls of a WebSocket
// handshake (the client writes a request head and reads a 101 head, the
// server reads the one and writes the other) with canned bytes and no
// parsing, checking or bookkeeping, and for the closing handshake send a
// close frame each way. What a WebSocket library spends above this
// column is its own work; raw TCP's connect + 1-byte write is below it.
// It appears in the handshake table only.
var wsFloorLib = &library{
	name:  "ws-floor",
	serve: serveFloor,
	dial:  dialFloor,
	notes: "the system calls of a WebSocket handshake and nothing else: canned request and 101 heads " +
		"(read until the empty line), a canned close frame each way for the closing handshake",
}

var (
	floorRequest = []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	floorResponse = []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
	floorCloseMasked = []byte{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2} // 1000, as a client sends it
	floorClose       = []byte{0x88, 0x02, 0x03, 0xe8}                     // 1000, as a server sends it
)

// readHeadFloor reads from c until b holds an empty line; it returns the
// bytes read past it.
func readHeadFloor(c net.Conn, b []byte) ([]byte, error) {
	n := 0
	for {
		if i := bytes.Index(b[:n], []byte("\r\n\r\n")); i >= 0 {
			return b[i+4 : n], nil
		}
		if n == len(b) {
			return nil, errors.New("ws-floor: head too long")
		}
		k, err := c.Read(b[n:])
		n += k
		if err != nil && k == 0 {
			return nil, err
		}
	}
}

func serveFloor(ln net.Listener, _ *serverState) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			var b [4096]byte
			if _, err := readHeadFloor(c, b[:]); err != nil {
				return
			}
			if _, err := c.Write(floorResponse); err != nil {
				return
			}
			// The client either drops the connection or sends a close
			// frame, answered with one.
			if _, err := io.ReadFull(c, b[:len(floorCloseMasked)]); err == nil {
				_, _ = c.Write(floorClose)
			}
		}()
	}
}

func dialFloor(ctx context.Context, addr string) (cliConn, error) {
	c, err := dialTCP(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(floorRequest); err != nil {
		c.Close()
		return nil, err
	}
	var b [1024]byte
	if rest, err := readHeadFloor(c, b[:]); err != nil || len(rest) > 0 {
		c.Close()
		return nil, fmt.Errorf("ws-floor: reading the response: %v (%d bytes after it)", err, len(rest))
	}
	return floorConn{c}, nil
}

// floorConn is a ws-floor client connection: it only closes.
type floorConn struct{ c net.Conn }

func (f floorConn) next() (io.Reader, error)      { return nil, errors.New("ws-floor: handshake only") }
func (f floorConn) write([]byte) error            { return errors.New("ws-floor: handshake only") }
func (f floorConn) stream(io.Reader, int64) error { return errors.New("ws-floor: handshake only") }
func (f floorConn) drop() error                   { return f.c.Close() }

// close sends a close frame, waits for the server's, and closes.
func (f floorConn) close() error {
	defer f.c.Close()
	if _, err := f.c.Write(floorCloseMasked); err != nil {
		return err
	}
	var b [4]byte
	if _, err := io.ReadFull(f.c, b[:]); err != nil {
		return err
	}
	if !bytes.Equal(b[:], floorClose) {
		return fmt.Errorf("ws-floor: close frame % x", b)
	}
	return nil
}
