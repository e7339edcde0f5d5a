package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// Raw TCP, the ceiling: messages are an 8-byte big-endian length and the
// payload; the "handshake" is the server writing one byte on accept.
var rawLib = &library{
	name: "raw",
	serve: func(ln net.Listener, s *serverState) error {
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			go func() {
				if _, err := c.Write([]byte{1}); err != nil {
					c.Close()
					return
				}
				serveConn(s, &rawConn{c: c})
			}()
		}
	},
	dial: func(ctx context.Context, addr string) (cliConn, error) {
		c, err := dialTCP(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			c.Close()
			return nil, fmt.Errorf("raw: greeting: %w", err)
		}
		return &rawConn{c: c}, nil
	},
	notes: "goroutine per connection; length-prefixed messages read through a 4 KiB buffer (writev for header+payload); " +
		"stream: io.Copy from the file (sendfile); handshake = accept + 1-byte write",
}

// rawConn reads through a 4 KiB buffer (like the libraries' bufio
// defaults), so a message's header and a payload up to ~4 KiB arrive in
// one read.
type rawConn struct {
	c    net.Conn
	inl  [4096]byte
	r, w int   // buffered bytes are inl[r:w]
	left int64 // unread bytes of the current message
	whdr [8]byte
}

func (r *rawConn) next() (io.Reader, error) {
	if r.left > 0 {
		return nil, errors.New("raw: previous message not read")
	}
	for r.w-r.r < 8 {
		if r.r > 0 {
			r.w = copy(r.inl[:], r.inl[r.r:r.w])
			r.r = 0
		}
		n, err := r.c.Read(r.inl[r.w:])
		r.w += n
		if err != nil && r.w-r.r < 8 {
			return nil, err
		}
	}
	r.left = int64(binary.BigEndian.Uint64(r.inl[r.r:]))
	r.r += 8
	return (*rawMsg)(r), nil
}

type rawMsg rawConn

func (m *rawMsg) Read(p []byte) (int, error) {
	if m.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > m.left {
		p = p[:m.left]
	}
	if m.r < m.w {
		n := copy(p, m.inl[m.r:m.w])
		m.r += n
		m.left -= int64(n)
		return n, nil
	}
	m.r, m.w = 0, 0
	n, err := m.c.Read(p)
	m.left -= int64(n)
	if err == io.EOF && m.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *rawConn) write(p []byte) error {
	binary.BigEndian.PutUint64(r.whdr[:], uint64(len(p)))
	bufs := net.Buffers{r.whdr[:], p}
	_, err := bufs.WriteTo(r.c)
	return err
}

func (r *rawConn) stream(src io.Reader, size int64) error {
	binary.BigEndian.PutUint64(r.whdr[:], uint64(size))
	if _, err := r.c.Write(r.whdr[:]); err != nil {
		return err
	}
	n, err := io.Copy(r.c, src)
	if err == nil && n != size {
		err = fmt.Errorf("raw: streamed %d of %d bytes", n, size)
	}
	return err
}

func (r *rawConn) close() error { return r.c.Close() }

func (r *rawConn) drop() error { return r.c.Close() }
