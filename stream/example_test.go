//go:build !js

package stream_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"strings"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/stream"
)

// A line protocol over a WebSocket: both ends wrap their connection with
// NetConn and use bufio as they would on a TCP connection.
func ExampleNetConn() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsio.Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := stream.NetConn(c)
		defer nc.Close()
		// Answer each line until the client closes (Scan stops at io.EOF).
		sc := bufio.NewScanner(nc)
		for sc.Scan() {
			fmt.Fprintf(nc, "you said: %s\n", strings.ToUpper(sc.Text()))
		}
	}))
	defer srv.Close()

	c, _, err := wsio.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	nc := stream.NetConn(c)
	defer nc.Close()
	fmt.Fprintln(nc, "hello over a websocket")
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(line)
	// Output: you said: HELLO OVER A WEBSOCKET
}

// Greeter is the RPC service of the Listener example.
type Greeter struct{}

// Hello greets name.
func (Greeter) Hello(name string, reply *string) error {
	*reply = "hello, " + name
	return nil
}

// net/rpc over WebSockets: the Listener is the HTTP handler that upgrades
// requests and the net.Listener the RPC server accepts from; a client
// dials with wsio.Dial and wraps the connection with NetConn.
func ExampleListener() {
	l := stream.NewListener(nil)
	srv := httptest.NewServer(l) // or mux.Handle("/rpc", l) on any server
	defer srv.Close()
	defer l.Close() // Server.Accept returns (and logs why) once l is closed

	rs := rpc.NewServer()
	if err := rs.Register(Greeter{}); err != nil {
		fmt.Println(err)
		return
	}
	go rs.Accept(l)

	c, _, err := wsio.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	client := rpc.NewClient(stream.NetConn(c))
	defer client.Close()
	var reply string
	if err := client.Call("Greeter.Hello", "websocket", &reply); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reply)
	// Output: hello, websocket
}
