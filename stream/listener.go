//go:build !js

package stream

import (
	"net"
	"net/http"
	"sync"

	"github.com/wsio/wsio"
)

// Listener is a net.Listener whose connections are WebSockets: it is also
// the http.Handler that makes them. Mount it on any mux (or serve it with
// httptest or http.Server); each request it serves is upgraded with
// wsio.Accept and handed, as a net.Conn made by NetConn, to a call of
// Accept. So a server written for a net.Listener runs over WebSockets
// unchanged:
//
//	l := stream.NewListener(nil)
//	http.Handle("/rpc", l)
//	go rpcServer.Accept(l) // or http.Serve(l, h), grpcServer.Serve(l)
//
// Nothing queues between the handler and Accept: an upgraded connection
// waits in the request's own handler goroutine until an Accept takes it,
// the request's context ends or the Listener is closed (the last two
// close it with 1001, going away). So however many requests arrive while
// nobody calls Accept, the Listener holds no buffer and starts no
// goroutine of its own, and each waiting connection costs what any
// handler that has not returned costs. As with a TCP listener's backlog,
// a client's handshake completes before its connection is accepted.
//
// A Listener is safe for concurrent use. Its zero value is not usable;
// make one with NewListener.
type Listener struct {
	opts *wsio.ServerOptions
	// conns is unbuffered: a connection passes from ServeHTTP to Accept
	// only when both are there, so it is never held by neither.
	conns chan net.Conn
	done  chan struct{} // closed by Close
	once  sync.Once
}

// NewListener returns a Listener that upgrades requests with the given
// options, copied now; opts may be nil for the defaults.
func NewListener(opts *wsio.ServerOptions) *Listener {
	l := &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
	if opts != nil {
		o := *opts
		l.opts = &o
	}
	return l
}

// ServeHTTP upgrades r to a WebSocket connection and waits until a call
// of Accept takes it. A request that is not a valid upgrade gets the
// matching HTTP error from wsio.Accept. After Close, requests are answered
// 503 Service Unavailable, and a connection still waiting is closed with
// 1001 (going away); so is one whose request's context ends first. Over
// HTTP/2 (RFC 8441, see wsio.Accept), whose stream ends when the handler
// returns, ServeHTTP returns only once the connection has been closed.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-l.done:
		http.Error(w, "websocket: listener closed", http.StatusServiceUnavailable)
		return
	default:
	}
	c, err := wsio.Accept(w, r, l.opts)
	if err != nil {
		return // Accept answered the request
	}
	if r.ProtoMajor == 2 {
		// OnClose hooks run once the stream is released, with no write
		// in flight: only then may the handler return.
		released := make(chan struct{})
		c.OnClose(func() { close(released) })
		defer func() { <-released }()
	}
	select {
	case l.conns <- NetConn(c):
		// Accept's caller owns the connection now.
	case <-l.done:
		_ = c.Close(wsio.StatusGoingAway, "")
	case <-r.Context().Done():
		_ = c.Close(wsio.StatusGoingAway, "")
	}
}

// Accept waits for the next upgraded connection and returns it as a
// net.Conn made by NetConn. After Close it returns an error matching
// net.ErrClosed (a *net.OpError, as a TCP listener's), at once, also to
// calls that were already waiting.
func (l *Listener) Accept() (net.Conn, error) {
	// A closed Listener fails even when a handler is ready to hand over.
	select {
	case <-l.done:
		return nil, l.closedError("accept")
	default:
	}
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.done:
		return nil, l.closedError("accept")
	}
}

// Close stops the Listener: waiting and later calls of Accept fail with
// an error matching net.ErrClosed, later requests are answered 503, and
// connections upgraded but not yet accepted are closed with 1001 by their
// handlers. Connections already accepted are not affected. Close does not
// wait for the handlers' closing handshakes. A second Close returns an
// error matching net.ErrClosed.
func (l *Listener) Close() error {
	first := false
	l.once.Do(func() {
		close(l.done)
		first = true
	})
	if !first {
		return l.closedError("close")
	}
	return nil
}

// Addr returns an address whose Network and String are both "websocket":
// the Listener serves whatever URL its handler is mounted at, and so has
// no address of its own.
func (l *Listener) Addr() net.Addr { return wsAddr{} }

// closedError is the error of op on a closed Listener. It names no
// address: the Listener has none beyond "websocket", which Net says.
func (l *Listener) closedError(op string) error {
	return &net.OpError{Op: op, Net: "websocket", Err: net.ErrClosed}
}
