//go:build !js

package stream_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// drain reads c until it fails, so the peer's closing handshake gets its
// answer; the returned channel is closed when it stops.
func drain(c net.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, c)
	}()
	return done
}

// TestErrorConventions checks that the net.Conn's errors are shaped as
// package net shapes a socket's: io.EOF bare, everything else a
// *net.OpError over its cause; net.ErrClosed after a local close; a
// timeout net.Error for a passed deadline.
func TestErrorConventions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		so   *wsio.ServerOptions
		do   *wsio.DialOptions
		// act returns the error to check, from a call on the client end.
		act     func(t *testing.T, e ends) error
		op      string  // the *net.OpError's Op
		is      []error // the error must match each
		isNot   []error // and none of these
		timeout bool    // a net.Error (by type assertion) whose Timeout is true
		code    wsio.StatusCode
		remote  bool // with code: the *CloseError errors.As finds
	}{
		{
			name: "Read after Close",
			act: func(t *testing.T, e ends) error {
				drain(e.srv)
				if err := e.cli.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				_, err := e.cli.Read(make([]byte, 8))
				return err
			},
			op: "read", is: []error{net.ErrClosed, wsio.ErrClosed}, isNot: []error{os.ErrDeadlineExceeded},
			code: wsio.StatusNormalClosure,
		},
		{
			name: "Write after Close",
			act: func(t *testing.T, e ends) error {
				drain(e.srv)
				if err := e.cli.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				_, err := e.cli.Write([]byte("late"))
				return err
			},
			op: "write", is: []error{net.ErrClosed, wsio.ErrClosed}, isNot: []error{os.ErrDeadlineExceeded},
			code: wsio.StatusNormalClosure,
		},
		{
			name: "second Close",
			act: func(t *testing.T, e ends) error {
				drain(e.srv)
				if err := e.cli.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return e.cli.Close()
			},
			op: "close", is: []error{net.ErrClosed},
		},
		{
			name: "Read after CloseNow of the connection",
			act: func(t *testing.T, e ends) error {
				_ = e.cliC.CloseNow()
				_, err := e.cli.Read(make([]byte, 8))
				return err
			},
			op: "read", is: []error{net.ErrClosed, wsio.ErrClosed},
			code: wsio.StatusAbnormalClosure,
		},
		{
			name: "Write after Close of the connection",
			act: func(t *testing.T, e ends) error {
				drain(e.srv)
				if err := e.cliC.Close(wsio.StatusGoingAway, "bye"); err != nil {
					t.Fatalf("Close: %v", err)
				}
				_, err := e.cli.Write([]byte("late"))
				return err
			},
			op: "write", is: []error{net.ErrClosed, wsio.ErrClosed},
			code: wsio.StatusGoingAway,
		},
		{
			name: "read deadline between messages",
			act: func(t *testing.T, e ends) error {
				_ = e.cli.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				_, err := e.cli.Read(make([]byte, 8))
				return err
			},
			op: "read", is: []error{os.ErrDeadlineExceeded}, isNot: []error{net.ErrClosed, wsio.ErrClosed},
			timeout: true,
		},
		{
			name: "read deadline inside a binary message",
			so:   &wsio.ServerOptions{Options: wsio.Options{FragmentSize: 4}},
			act: func(t *testing.T, e ends) error {
				w, err := e.srvC.BeginBinary(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				if _, err := w.Write([]byte("half")); err != nil { // one whole frame
					t.Fatal(err)
				}
				var b [8]byte
				if n, err := e.cli.Read(b[:]); err != nil || string(b[:n]) != "half" {
					t.Fatalf("Read = %q, %v", b[:n], err)
				}
				_ = e.cli.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				_, err = e.cli.Read(b[:])
				return err
			},
			op: "read", is: []error{os.ErrDeadlineExceeded}, isNot: []error{net.ErrClosed, wsio.ErrClosed},
			timeout: true,
		},
		{
			name: "write deadline passed before Write",
			act: func(t *testing.T, e ends) error {
				_ = e.cli.SetWriteDeadline(time.Now().Add(-time.Second))
				_, err := e.cli.Write([]byte("x"))
				return err
			},
			op: "write", is: []error{os.ErrDeadlineExceeded}, isNot: []error{net.ErrClosed, wsio.ErrClosed},
			timeout: true,
		},
		{
			// The Write that times out mid-frame ends the connection; it is
			// still reported as the timeout it was.
			name: "write deadline passing mid-frame",
			act: func(t *testing.T, e ends) error {
				_ = e.cli.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				_, err := e.cli.Write(make([]byte, 32<<20)) // nobody reads: the socket buffers fill
				return err
			},
			op: "write", is: []error{os.ErrDeadlineExceeded}, isNot: []error{net.ErrClosed},
			timeout: true,
		},
		{
			name: "peer closes with 1011",
			act: func(t *testing.T, e ends) error {
				go func() { _ = e.srvC.Close(wsio.StatusInternalError, "oops") }()
				_, err := e.cli.Read(make([]byte, 8))
				return err
			},
			op: "read", is: []error{wsio.ErrClosed}, isNot: []error{net.ErrClosed, io.EOF},
			code: wsio.StatusInternalError, remote: true,
		},
		{
			name: "peer closes with 1000: Read is io.EOF, then Write fails",
			act: func(t *testing.T, e ends) error {
				go func() { _ = e.srv.Close() }()
				if _, err := e.cli.Read(make([]byte, 8)); err != io.EOF {
					t.Fatalf("Read = %v, want io.EOF itself", err)
				}
				if _, err := e.cli.Read(make([]byte, 8)); err != io.EOF {
					t.Fatalf("second Read = %v, want io.EOF itself", err)
				}
				_, err := e.cli.Write([]byte("late"))
				return err
			},
			op: "write", is: []error{wsio.ErrClosed}, isNot: []error{net.ErrClosed, io.EOF},
			code: wsio.StatusNormalClosure, remote: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnds(t, tt.so, tt.do)
			err := tt.act(t, e)
			if err == nil {
				t.Fatal("no error")
			}
			if oe, ok := err.(*net.OpError); !ok {
				t.Errorf("%v (%T) is not a *net.OpError", err, err)
			} else if oe.Op != tt.op || oe.Net != "websocket" || oe.Source == nil || oe.Addr == nil {
				t.Errorf("OpError{Op: %q, Net: %q, Source: %v, Addr: %v}, want Op %q, Net \"websocket\" and both addresses",
					oe.Op, oe.Net, oe.Source, oe.Addr, tt.op)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("%v does not match %v", err, target)
				}
			}
			for _, target := range tt.isNot {
				if errors.Is(err, target) {
					t.Errorf("%v matches %v", err, target)
				}
			}
			if ne, ok := err.(net.Error); !ok {
				t.Errorf("%T is not a net.Error", err)
			} else if ne.Timeout() != tt.timeout {
				t.Errorf("Timeout() = %v, want %v", ne.Timeout(), tt.timeout)
			}
			var ce *wsio.CloseError
			if tt.code != 0 && (!errors.As(err, &ce) || ce.Code != tt.code || ce.Remote != tt.remote) {
				t.Errorf("%v: want a *CloseError with code %v, remote %v", err, tt.code, tt.remote)
			}
		})
	}
}

// TestCloseUnblocksRead checks that Close makes a Read blocked in another
// goroutine return at once with net.ErrClosed, though the closing
// handshake may take up to CloseTimeout. It and its rows run alone (not
// in parallel), so the goroutine blocked in readUntilClosed is the row's.
func TestCloseUnblocksRead(t *testing.T) {
	tests := []struct {
		name string
		so   *wsio.ServerOptions
		// start makes the client's next Read block where the row says.
		start func(t *testing.T, e ends)
	}{
		{name: "between messages", start: func(*testing.T, ends) {}},
		{
			name: "inside a binary message",
			so:   &wsio.ServerOptions{Options: wsio.Options{FragmentSize: 4}},
			start: func(t *testing.T, e ends) {
				w, err := e.srvC.BeginBinary(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = w.Close() })
				if _, err := w.Write([]byte("half")); err != nil {
					t.Fatal(err)
				}
				var b [4]byte
				if _, err := io.ReadFull(e.cli, b[:]); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A close timeout far longer than the wait below: only Close
			// itself can release the Read in time.
			e := newEnds(t, tt.so, &wsio.DialOptions{Options: wsio.Options{CloseTimeout: time.Minute}})
			tt.start(t, e)
			read := make(chan error, 1)
			go readUntilClosed(e.cli, read)
			wstest.WaitUntil(t, "the Read blocks on the socket", blockedReading)
			closed := make(chan error, 1)
			go func() { closed <- e.cli.Close() }()
			select {
			case err := <-read:
				if !errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("Read = %v, want net.ErrClosed and no deadline", err)
				}
				if ne, ok := err.(net.Error); !ok || ne.Timeout() {
					t.Errorf("Read = %v (%T), want a net.Error that is not a timeout", err, err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Read still blocked 5 s after Close")
			}
			// The server reads the close frame and answers it; Close then
			// returns. A failed row gets there by the cleanup closing the
			// sockets.
			drain(e.srv)
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Close did not return after the server answered")
			}
		})
	}
}

// readUntilClosed sends the error of one Read of c; TestCloseUnblocksRead
// finds it blocked by its name.
func readUntilClosed(c net.Conn, errc chan<- error) {
	_, err := c.Read(make([]byte, 8))
	errc <- err
}

// blockedReading reports whether readUntilClosed is blocked on the socket.
func blockedReading() bool { return wstest.Goroutines("[IO wait", "stream_test.readUntilClosed") > 0 }
