//go:build !js

package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
	"github.com/wsio/wsio/stream"
)

// serveListener serves l from an httptest server and returns its ws://
// URL. Cleanup closes l, then the server.
func serveListener(t *testing.T, l *stream.Listener) string {
	t.Helper()
	hs := httptest.NewServer(l)
	t.Cleanup(func() {
		_ = l.Close()
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// dialConn dials url; cleanup ends the connection.
func dialConn(t *testing.T, url string) *wsio.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// wantListenerClosed checks err is what Accept returns after Close.
func wantListenerClosed(t *testing.T, err error, op string) {
	t.Helper()
	oe, ok := err.(*net.OpError)
	if !ok || !errors.Is(err, net.ErrClosed) || oe.Op != op || oe.Net != "websocket" {
		t.Fatalf("got %v (%T), want a *net.OpError{Op: %q, Net: \"websocket\"} matching net.ErrClosed", err, err, op)
	}
}

// net/rpc's Server.Accept serves clients over the Listener.
func TestListenerRPC(t *testing.T) {
	t.Parallel()
	l := stream.NewListener(nil)
	url := serveListener(t, l)
	rs := rpc.NewServer()
	if err := rs.Register(new(Arith)); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		rs.Accept(l) // returns, logging, once l is closed
	}()
	for k := range 3 { // each client its own connection
		client := rpc.NewClient(stream.NetConn(dialConn(t, url)))
		for i := range 10 {
			var got int
			if err := client.Call("Arith.Mul", [2]int{i, k}, &got); err != nil || got != i*k {
				t.Fatalf("client %d: Mul(%d,%d) = %d, %v", k, i, k, got, err)
			}
		}
		if err := client.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Server.Accept still running 5 s after Close")
	}
}

// http.Server serves a handler over the Listener to an http.Client whose
// transport dials WebSockets.
func TestListenerHTTP(t *testing.T) {
	t.Parallel()
	l := stream.NewListener(nil)
	url := serveListener(t, l)
	hsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "you asked for %s", r.URL.Path)
	})}
	served := make(chan error, 1)
	go func() { served <- hsrv.Serve(l) }()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, _, err := wsio.Dial(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		return stream.NetConn(c), nil
	}}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for g := range 4 { // concurrent requests: several connections
		wg.Go(func() {
			for i := range 5 {
				path := fmt.Sprintf("/g%d/r%d", g, i)
				resp, err := client.Get("http://over-websocket" + path)
				if err != nil {
					t.Error(err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || string(body) != "you asked for "+path {
					t.Errorf("GET %s: %d %q, %v", path, resp.StatusCode, body, err)
				}
			}
		})
	}
	wg.Wait()
	tr.CloseIdleConnections()
	if err := hsrv.Close(); err != nil { // closes l
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != http.ErrServerClosed {
			t.Fatalf("Serve = %v, want http.ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running 5 s after Close")
	}
}

// acceptUntilClosed sends the error of one Accept of l; TestListenerCloseUnblocksAccept
// finds it blocked by its name.
func acceptUntilClosed(l *stream.Listener, errc chan<- error) {
	nc, err := l.Accept()
	if nc != nil {
		_ = nc.Close()
	}
	errc <- err
}

func TestListenerCloseUnblocksAccept(t *testing.T) {
	t.Parallel()
	l := stream.NewListener(nil)
	errc := make(chan error, 1)
	go acceptUntilClosed(l, errc)
	wstest.WaitUntil(t, "Accept blocks", func() bool {
		return wstest.Goroutines("[select", "stream_test.acceptUntilClosed") > 0
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		wantListenerClosed(t, err, "accept")
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked 5 s after Close")
	}
	nc, err := l.Accept()
	if nc != nil {
		t.Fatal("Accept after Close returned a connection")
	}
	wantListenerClosed(t, err, "accept")
	wantListenerClosed(t, l.Close(), "close")
}

// A connection upgraded but not accepted is closed with 1001 when the
// Listener closes.
func TestListenerCloseWhileHandshakeWaits(t *testing.T) {
	t.Parallel()
	l := stream.NewListener(nil)
	// Dial returns after the 101, so the handler is past its check for a
	// closed Listener: it waits for Accept, or is about to.
	c := dialConn(t, serveListener(t, l))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Next(ctx)
	var ce *wsio.CloseError
	if !errors.As(err, &ce) || ce.Code != wsio.StatusGoingAway || !ce.Remote {
		t.Fatalf("Next = %v, want the server's close with 1001", err)
	}
	if nc, err := l.Accept(); nc != nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, %v", nc, err)
	}
}

// A connection upgraded but not accepted is closed with 1001 when its
// request's context ends.
func TestListenerRequestContextEnds(t *testing.T) {
	t.Parallel()
	l := stream.NewListener(nil)
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	hs := httptest.NewUnstartedServer(l)
	hs.Config.BaseContext = func(net.Listener) context.Context { return base }
	hs.Start()
	t.Cleanup(func() {
		_ = l.Close()
		hs.Close()
	})
	c := dialConn(t, "ws"+strings.TrimPrefix(hs.URL, "http"))
	cancelBase()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Next(ctx)
	var ce *wsio.CloseError
	if !errors.As(err, &ce) || ce.Code != wsio.StatusGoingAway || !ce.Remote {
		t.Fatalf("Next = %v, want the server's close with 1001", err)
	}
}

func TestListener503AfterClose(t *testing.T) {
	t.Parallel()
	l := stream.NewListener(nil)
	url := serveListener(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := wsio.Dial(ctx, url, nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("Dial after Close succeeded")
	}
	if !errors.Is(err, wsio.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Dial after Close: %v, response %v; want a bad handshake with 503", err, resp)
	}
}

// Handshakes that arrive while nobody calls Accept wait in their own
// handlers, with no goroutine of the Listener's, and later calls of
// Accept take them one by one. It runs alone (not in parallel) so that
// the goroutines it counts in the Listener's code are its own.
func TestListenerWaitingHandshakes(t *testing.T) {
	l := stream.NewListener(nil)
	url := serveListener(t, l)
	const n = 3
	var clients [n]*wsio.Conn
	for i := range clients {
		clients[i] = dialConn(t, url)
	}
	wstest.WaitUntil(t, "every handshake waits for Accept", func() bool {
		return wstest.Goroutines("[select", "stream.(*Listener).ServeHTTP") == n
	})
	if k := wstest.Goroutines("", "stream.(*Listener)"); k != n {
		t.Fatalf("%d goroutines in the Listener's code, want %d (one handler per waiting handshake)", k, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var accepted []net.Conn
	for range n {
		nc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, nc)
	}
	// Each client got its own connection's greeting.
	for i, c := range clients {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		b, err := io.ReadAll(m)
		if err != nil || string(b) != "hi" {
			t.Fatalf("client %d read %q, %v", i, b, err)
		}
	}
	wstest.WaitUntil(t, "the handlers return once their connections are accepted", func() bool {
		return wstest.Goroutines("", "stream.(*Listener)") == 0
	})
	// Closing the accepted ends runs their closing handshakes, which
	// need the clients to read (Accept's order need not be the clients'):
	// each client reads its close.
	for _, nc := range accepted {
		go func() { _ = nc.Close() }()
	}
	for i, c := range clients {
		if _, err := c.Next(ctx); !errors.Is(err, wsio.ErrClosed) {
			t.Fatalf("client %d: %v, want the close", i, err)
		}
	}
}
