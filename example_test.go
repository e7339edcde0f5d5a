//go:build !js

package wsio_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wsio/wsio"
)

// An echo server: the handler runs once per connection and returns when
// the client goes away.
func ExampleNewServer() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := c.Request().Context()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return // the connection is closed
			}
			if m.Kind == wsio.Text {
				if err := c.SendText(ctx, m.Text); err != nil {
					return
				}
			}
		}
	})
	ts := httptest.NewServer(srv) // or http.Handle("/echo", srv)
	defer ts.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")

	if err := c.SendText(ctx, "hello"); err != nil {
		log.Fatal(err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Text)
	// Output: hello
}

// Stream a binary message in and out without holding it whole: the client
// copies a reader into the message, the server hashes it as it arrives.
func ExampleConn_BeginBinary() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := c.Request().Context()
		m, err := c.Next(ctx)
		if err != nil || m.Kind != wsio.Binary {
			return
		}
		h := sha256.New()
		if _, err := io.Copy(h, m); err != nil { // m is an io.Reader over the frames
			return
		}
		_ = c.SendText(ctx, hex.EncodeToString(h.Sum(nil)))
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")

	data := strings.NewReader(strings.Repeat("wsio", 256<<10)) // 1 MiB; a file works the same
	w, err := c.BeginBinary(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.Copy(w, data); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // sends the final frame
		log.Fatal(err)
	}

	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Text)
	// Output: 8d291eb0d1e289fe28df29206cd55999463db1b5eb91ac48753cc0efb233f3e2
}

// Authenticate before upgrading: a plain handler refuses with a status of
// its own, and calls Accept only for requests it lets through.
func ExampleAccept() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != "s3cret" {
			http.Error(w, "a valid token is required", http.StatusUnauthorized)
			return
		}
		c, err := wsio.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered with the HTTP error
		}
		defer c.Close(wsio.StatusNormalClosure, "")
		_ = c.SendText(r.Context(), "welcome")
	}
	ts := httptest.NewServer(http.HandlerFunc(handler))
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	ctx := context.Background()

	_, resp, err := wsio.Dial(ctx, url+"?token=guess", nil)
	if errors.Is(err, wsio.ErrBadHandshake) {
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("refused: %s: %s", resp.Status, body)
	}

	c, _, err := wsio.Dial(ctx, url+"?token=s3cret", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Text)
	// Output:
	// refused: 401 Unauthorized: a valid token is required
	// welcome
}

// Send one message to every connected client.
func ExampleServer_Broadcast() {
	var joined sync.WaitGroup
	joined.Add(3)
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		joined.Done() // c is among srv.Conns() by the time the handler runs
		for {
			if _, err := c.Next(c.Request().Context()); err != nil {
				return
			}
		}
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	var clients []*wsio.Conn
	for range 3 {
		c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close(wsio.StatusNormalClosure, "")
		clients = append(clients, c)
	}
	joined.Wait()

	if err := srv.Broadcast(ctx, wsio.Text, []byte("tick")); err != nil {
		log.Fatal(err)
	}
	for i, c := range clients {
		m, err := c.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("client", i, "got", m.Text)
	}
	// Output:
	// client 0 got tick
	// client 1 got tick
	// client 2 got tick
}

// Read messages until the server closes the connection; the close code
// and reason come with the *CloseError.
func ExampleDial() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		_ = c.SendText(c.Request().Context(), "hello, client")
		_ = c.Close(wsio.StatusGoingAway, "restarting")
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/greet", nil)
	if err != nil {
		log.Fatal(err)
	}
	for {
		m, err := c.Next(ctx)
		var ce *wsio.CloseError
		if errors.As(err, &ce) {
			fmt.Printf("closed by the server: %v %q\n", ce.Code, ce.Reason)
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		if m.Kind == wsio.Text {
			fmt.Println(m.Text)
		}
	}
	// Output:
	// hello, client
	// closed by the server: 1001 (going away) "restarting"
}

// ServeEvents reads a connection with callbacks, the way
// nodejs-websocket's events work: here a "scream server" answering text in
// upper case, and a client that prints the answer and closes.
func ExampleServeEvents() {
	scream := wsio.Events{
		Text: func(c *wsio.Conn, s string) { _ = c.SendText(context.Background(), strings.ToUpper(s)+"!!!") },
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := wsio.Accept(w, r, nil); err == nil {
			wsio.ServeEvents(c, scream) // returns at once; the connection outlives the handler
		}
	}))
	defer hs.Close()

	c, _, err := wsio.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	closed := make(chan struct{})
	wsio.ServeEvents(c, wsio.Events{
		Open: func(c *wsio.Conn) { _ = c.SendText(context.Background(), "hi") },
		Text: func(c *wsio.Conn, s string) {
			fmt.Println(s)
			_ = c.Close(wsio.StatusNormalClosure, "thanks")
		},
		Close: func(c *wsio.Conn, e *wsio.CloseError) {
			fmt.Println("closed:", e.Code)
			close(closed)
		},
	})
	<-closed
	// Output:
	// HI!!!
	// closed: 1000 (normal closure)
}

// ExampleNewEventServer serves connections with callbacks and no goroutine
// per idle connection: a chat room that greets each newcomer and relays
// every text message to all.
func ExampleNewEventServer() {
	ctx := context.Background()
	var srv *wsio.Server
	srv = wsio.NewEventServer(wsio.ServerOptions{}, wsio.Events{
		Open: func(c *wsio.Conn) { _ = c.SendText(ctx, "welcome to "+c.Path()) },
		Text: func(c *wsio.Conn, s string) { _ = srv.Broadcast(ctx, wsio.Text, []byte("someone said: "+s)) },
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln) // its own upgrade path, no net/http
	defer srv.Shutdown(ctx)

	c, _, err := wsio.Dial(ctx, "ws://"+ln.Addr().String()+"/lobby", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	for _, send := range []string{"", "hello"} {
		if send != "" {
			_ = c.SendText(ctx, send)
		}
		m, err := c.Next(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(m.Text)
	}
	// Output:
	// welcome to /lobby
	// someone said: hello
}

// Save an uploaded binary message to a file as it arrives: the Message is
// an io.Reader, so io.Copy streams it frame by frame and never holds it
// whole, however large it is.
func ExampleMessage() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := c.Request().Context()
		m, err := c.Next(ctx)
		if err != nil || m.Kind != wsio.Binary {
			return
		}
		f, err := os.CreateTemp("", "upload-*")
		if err != nil {
			return
		}
		defer os.Remove(f.Name())
		n, err := io.Copy(f, m)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = c.Close(wsio.StatusInternalError, "saving failed")
			return
		}
		_ = c.SendText(ctx, fmt.Sprintf("saved %d bytes", n))
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	if err := c.SendBinary(ctx, bytes.Repeat([]byte{42}, 3<<20)); err != nil {
		log.Fatal(err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Text)
	// Output: saved 3145728 bytes
}

// A relay: a server that forwards each binary message from its client to
// an upstream server and the upstream's answer back. io.Copy from a
// received message into a BinaryWriter moves it frame by frame as it
// arrives, socket to socket, never holding it whole.
func ExampleMessage_WriteTo() {
	upstream := httptest.NewServer(wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := c.Request().Context()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return
			}
			n, err := io.Copy(io.Discard, m)
			if err != nil || c.SendText(ctx, fmt.Sprintf("upstream got %d bytes", n)) != nil {
				return
			}
		}
	}))
	defer upstream.Close()

	relay := httptest.NewServer(wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := c.Request().Context()
		up, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(upstream.URL, "http"), nil)
		if err != nil {
			_ = c.Close(wsio.StatusTryAgainLater, "upstream unreachable")
			return
		}
		defer up.Close(wsio.StatusNormalClosure, "")
		for {
			m, err := c.Next(ctx)
			if err != nil || m.Kind != wsio.Binary {
				return
			}
			wctx, abandon := context.WithCancel(ctx)
			w, err := up.BeginBinary(wctx)
			if err == nil {
				if _, err = io.Copy(w, m); err != nil { // Message.WriteTo
					abandon() // so Close does not end the part relayed as if whole
				}
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
			abandon()
			if err != nil {
				return
			}
			answer, err := up.Next(ctx)
			if err != nil || c.SendText(ctx, answer.Text) != nil {
				return
			}
		}
	}))
	defer relay.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(relay.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	if err := c.SendBinary(ctx, bytes.Repeat([]byte{7}, 5<<20)); err != nil {
		log.Fatal(err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Text)
	// Output: upstream got 5242880 bytes
}

// Cap what a peer may send. A text message is assembled whole, so one
// larger than BufferCap closes the connection with 1009 (message too big)
// as soon as its frame header says so; a binary message is streamed and
// capped only by MaxBinaryMessage. Both sides' errors match
// ErrMessageTooBig.
func ExampleOptions() {
	serverErr := make(chan error, 1)
	srv := wsio.NewServer(wsio.ServerOptions{
		Options: wsio.Options{BufferCap: 1 << 10, MaxBinaryMessage: 1 << 20},
	}, func(c *wsio.Conn) {
		_, err := c.Next(c.Request().Context())
		serverErr <- err
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.SendText(ctx, strings.Repeat("x", 2<<10)); err != nil {
		log.Fatal(err)
	}
	_, err = c.Next(ctx)
	var ce *wsio.CloseError
	if errors.As(err, &ce) {
		fmt.Println("client: closed by the server:", ce.Code)
	}
	fmt.Println("server:", errors.Is(<-serverErr, wsio.ErrMessageTooBig))
	// Output:
	// client: closed by the server: 1009 (message too big)
	// server: true
}

// Shut a server down gracefully: every open connection gets a close frame
// with 1001 (going away), and Shutdown returns once they have all closed.
func ExampleServer_Shutdown() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		for {
			if _, err := c.Next(c.Request().Context()); err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		log.Fatal(err)
	}
	next := make(chan error, 1)
	go func() {
		_, err := c.Next(ctx) // the client reads, so it answers the close frame
		next <- err
	}()

	shutdownCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(shutdownCtx))
	var ce *wsio.CloseError
	if errors.As(<-next, &ce) {
		fmt.Println("client: closed by the server:", ce.Code, ce.Remote)
	}
	// Output:
	// shutdown: <nil>
	// client: closed by the server: 1001 (going away) true
}

// Dial a wss:// URL. TLSConfig verifies the server as net/http's client
// would; here it trusts the test server's certificate.
func ExampleDialOptions() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		_ = c.SendText(c.Request().Context(), "hello over TLS")
	})
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "wss"+strings.TrimPrefix(ts.URL, "https"), &wsio.DialOptions{
		TLSConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Text)
	// Output: hello over TLS
}

// Give up waiting for a message without losing the connection: a read
// canceled by its context returns the context's error, and the next Next
// resumes where it stopped.
func ExampleConn_Next_cancel() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		ctx := c.Request().Context()
		m, err := c.Next(ctx) // waits for the client's "now"
		if err == nil && m.Text == "now" {
			_ = c.SendText(ctx, "here it is")
		}
		_, _ = c.Next(ctx)
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")

	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = c.Next(waitCtx) // nothing comes in time
	cancel()
	fmt.Println("first wait:", errors.Is(err, context.DeadlineExceeded))

	if err := c.SendText(ctx, "now"); err != nil {
		log.Fatal(err)
	}
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second wait:", m.Text)
	// Output:
	// first wait: true
	// second wait: here it is
}

// Compress messages with permessage-deflate (RFC 7692). A client offers it
// by default; a server accepts it only when its Options.Compression is set.
// WithoutCompression sends one message as it is (data that is already
// compressed gains nothing).
func ExampleCompression() {
	srv := wsio.NewServer(wsio.ServerOptions{
		Options: wsio.Options{Compression: &wsio.Compression{Level: 6}},
	}, func(c *wsio.Conn) {
		ctx := c.Request().Context()
		for {
			m, err := c.Next(ctx)
			if err != nil {
				return
			}
			_ = c.SendText(ctx, fmt.Sprintf("got %d bytes", len(m.Text)))
		}
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	c, resp, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(wsio.StatusNormalClosure, "")
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	fmt.Println("negotiated:", strings.HasPrefix(ext, "permessage-deflate"))

	for _, sendCtx := range []context.Context{ctx, wsio.WithoutCompression(ctx)} {
		if err := c.SendText(sendCtx, strings.Repeat("compressible ", 5000)); err != nil {
			log.Fatal(err)
		}
		m, err := c.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Text)
	}
	// Output:
	// negotiated: true
	// got 65000 bytes
	// got 65000 bytes
}
