package wsio_test

import (
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
	"strings"
	"sync"

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

// ExampleRun reads a connection with callbacks, the way nodejs-websocket's
// events work: here a "scream server" answering text in upper case.
func ExampleRun() {
	srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
		_ = wsio.Run(context.Background(), c, wsio.Events{
			Text: func(c *wsio.Conn, s string) { _ = c.SendText(context.Background(), strings.ToUpper(s)+"!!!") },
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	c, _, err := wsio.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.SendText(context.Background(), "hi")
	_ = wsio.Run(context.Background(), c, wsio.Events{
		Text: func(c *wsio.Conn, s string) {
			fmt.Println(s)
			_ = c.Close(wsio.StatusNormalClosure, "thanks")
		},
		Close: func(c *wsio.Conn, e *wsio.CloseError) { fmt.Println("closed:", e.Code) },
	})
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
