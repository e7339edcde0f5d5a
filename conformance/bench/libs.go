package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// A library is one WebSocket implementation (or raw TCP) behind the same
// small set of behaviours: an echo server, a bulk server, and a client.
type library struct {
	name string
	// handler serves WebSocket connections through net/http (nil for raw).
	handler func(s *serverState) http.Handler
	// serve runs the server on ln instead of net/http (raw TCP only).
	serve func(ln net.Listener, s *serverState) error
	// tls, when set, configures the net/http server for TLS, which it
	// then serves.
	tls func(hs *http.Server)
	// dial opens one client connection to the server at addr (host:port).
	dial func(ctx context.Context, addr string) (cliConn, error)
	// notes say which APIs the adapter uses.
	notes string
}

var allLibs = []*library{wsioLib, gorillaLib, coderLib, gwsLib, gobwasLib, rawLib}

func libByName(name string) *library {
	for _, l := range allLibs {
		if l.name == name {
			return l
		}
	}
	return nil
}

// serverState is what a server process knows: its mode and the bulk file.
type serverState struct {
	mode   string   // echo (also used by idle and handshake) or bulk
	file   string   // bulk: the file streamed server→client
	size   int64    // bulk: its size
	verify bool     // bulk: CRC-32 the received stream
	sink   string   // relay: the sink's address
	lib    *library // relay: the library, to dial the sink with
}

// srvConn is the server side of one connection for the pull-style
// libraries; serveConn runs the common echo / bulk behaviour over it.
type srvConn interface {
	next() (io.Reader, error)             // the next binary message, as a stream
	write(p []byte) error                 // one whole binary message
	stream(r io.Reader, size int64) error // one binary message streamed from r
	close() error
}

// cliConn is the client side of one connection.
type cliConn interface {
	next() (io.Reader, error)
	write(p []byte) error
	stream(r io.Reader, size int64) error
	// close ends the connection: the client starts the closing handshake
	// and (where the library lets it) waits for the server's close frame.
	close() error
	// drop ends the connection at once by closing TCP, without a close
	// frame (the library's own call for it where it has one).
	drop() error
}

// echoLooper is an optional fast path for libraries whose idiomatic client
// is callback driven (gws): round trips until stop is set.
type echoLooper interface {
	echoLoop(p []byte, stop *atomic.Bool) (int64, error)
}

// msgPool holds echo buffers, taken only while a message is handled, so an
// idle connection keeps none.
var msgPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10+1024); return &b }}

// readMsg reads a whole message into b (growing it if needed).
func readMsg(r io.Reader, b []byte) ([]byte, error) {
	b = b[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

var drainPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// drain reads r to its end through a 64 KiB buffer; it returns the byte
// count, the first byte and (with verify) the CRC-32.
func drain(r io.Reader, verify bool) (n int64, first byte, sum uint32, err error) {
	bp := drainPool.Get().(*[]byte)
	defer drainPool.Put(bp)
	buf := *bp
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if n == 0 {
				first = buf[0]
			}
			n += int64(k)
			if verify {
				sum = crc32.Update(sum, crc32.IEEETable, buf[:k])
			}
		}
		if err == io.EOF {
			return n, first, sum, nil
		}
		if err != nil {
			return n, first, sum, err
		}
	}
}

// bulkReply is the server's answer to an upload: byte count and CRC-32.
func bulkReply(n int64, sum uint32) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, uint64(n))
	binary.BigEndian.PutUint32(b[8:], sum)
	return b
}

// bulkGet is the client's request for the download.
var bulkGet = []byte{'G'}

// serveConn is the server behaviour of every pull-style library.
func serveConn(s *serverState, c srvConn) {
	defer c.close()
	if s.mode == "relay" {
		relayConn(s, c)
		return
	}
	for {
		r, err := c.next()
		if err != nil {
			return
		}
		if handleMsg(s, c, r) != nil {
			return
		}
	}
}

// handleMsg is what a server does with one incoming message r: in bulk
// mode drain it and answer (or stream the file back), else echo it.
func handleMsg(s *serverState, c srvConn, r io.Reader) error {
	switch s.mode {
	case "bulk":
		n, first, sum, err := drain(r, s.verify)
		if err != nil {
			return err
		}
		if n == 1 && first == 'G' {
			return streamFile(c.stream, s.file, s.size)
		}
		return c.write(bulkReply(n, sum))
	default: // echo
		bp := msgPool.Get().(*[]byte)
		b, err := readMsg(r, *bp)
		if err == nil {
			err = c.write(b)
		}
		*bp = b[:0]
		msgPool.Put(bp)
		return err
	}
}

func streamFile(stream func(io.Reader, int64) error, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return stream(f, size)
}

// roundTrip sends p and waits for its echo.
func roundTrip(c cliConn, p []byte, buf *[]byte) error {
	if err := c.write(p); err != nil {
		return err
	}
	r, err := c.next()
	if err != nil {
		return err
	}
	b, err := readMsg(r, *buf)
	*buf = b
	if err != nil {
		return err
	}
	if len(b) != len(p) {
		return fmt.Errorf("echo: sent %d bytes, got %d back", len(p), len(b))
	}
	return nil
}

// echoLoop runs round trips until stop is set.
func echoLoop(c cliConn, p []byte, stop *atomic.Bool) (int64, error) {
	if l, ok := c.(echoLooper); ok {
		return l.echoLoop(p, stop)
	}
	bp := msgPool.Get().(*[]byte)
	defer msgPool.Put(bp)
	var n int64
	for !stop.Load() {
		if err := roundTrip(c, p, bp); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Client source addresses: dials are spread over 127.0.0.10–127.0.0.25
// (IP_BIND_ADDRESS_NO_PORT defers the port choice to connect, so the
// 4-tuple, not the local port alone, must be unique) to stay clear of
// ephemeral port exhaustion with many connections or handshakes.
const numSources = 16

var srcSeq atomic.Uint32

func newDialer() *net.Dialer {
	i := srcSeq.Add(1)
	return &net.Dialer{
		Timeout:   10 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i%numSources))},
		Control:   proc.BindNoPort,
	}
}

// dialTCP is the NetDial function handed to every library.
func dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	return newDialer().DialContext(ctx, network, addr)
}

// gwsDialer adapts newDialer to gws's Dialer interface.
type gwsDialer struct{}

func (gwsDialer) Dial(network, addr string) (net.Conn, error) {
	return newDialer().Dial(network, addr)
}

func isClosedErr(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
