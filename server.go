//go:build !js

package wsio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsio/wsio/internal/sock"
	"github.com/wsio/wsio/limits"
)

// Server is an http.Handler that upgrades every request it serves and runs
// a handler for each connection. It keeps track of its open connections
// for Conns, Broadcast and Shutdown. Mount it on any mux or middleware
// chain, or run it with ListenAndServe.
//
// Under Serve (and ListenAndServe), the handler runs on a goroutine that
// starts after the handshake. A handler that waits in Next, reads each
// binary message into a buffer of its own and sends with SendText or
// SendBinary keeps the goroutine within its initial stack (2 KiB), which
// it then holds while the connection is idle: the read and send paths are
// kept shallow enough for a handler of a few calls of its own on top. A
// goroutine whose stack grew keeps the larger one while it waits, and
// deeper code grows it: a message that does not arrive in one piece, a
// text message's string when the allocator must refill, handler code of
// its own. Under net/http the handler's goroutine starts with the stack
// size the runtime picks from its goroutines' average depth, often larger.
//
// A Server bounds what idle peers can hold in two ways. MaxConns caps the
// connections it holds at once. And keepalive is on by default: when
// ServerOptions.KeepaliveInterval is zero, the Server pings each
// connection every 30 s, and closes one from which nothing (no pong, no
// other byte) has arrived within KeepaliveTimeout (default: the interval)
// of a ping, without a close frame: the handler's reads fail with a
// *CloseError of code 1006 matching ErrKeepalive. So a peer that went
// silent, or vanished without closing, is gone within about a minute.
// Pongs are seen by reads, and, when nobody is reading, by a look at the
// socket before the connection is given up (see Options.KeepaliveInterval):
// over plain TCP a handler that only sends keeps its live peers. Over TLS
// the look cannot be made, so a handler there must keep reading (Next),
// or set KeepaliveInterval longer, or negative to turn keepalive off. An
// event server always reads.
type Server struct {
	// MaxConns, when positive, caps the connections the Server holds at
	// once: those open (Len: from the upgrade until the connection is
	// closed, closing handshake included) plus the handshakes in progress
	// (under Serve, from the moment a connection is accepted, TLS
	// handshake included; under net/http, from the moment ServeHTTP is
	// called). Zero means no cap. An upgrade that would go past the cap is
	// refused with 503 (Service Unavailable) and "Retry-After: 5", before
	// its request is checked, and counted by Refused. The check and the
	// count of a new handshake happen under one lock, so the cap is never
	// exceeded, however many connections arrive at once. Under net/http,
	// requests net/http is still reading are not counted (bound them with
	// http.Server's ReadHeaderTimeout). Set MaxConns before the Server
	// serves.
	MaxConns int

	opts    ServerOptions
	handler func(*Conn)
	events  *Events // for NewEventServer, instead of handler

	mu        sync.Mutex
	conns     map[*Conn]struct{}
	closing   bool          // after Close or Shutdown: no new handshakes or connections
	idle      chan struct{} // closed when conns becomes empty during Shutdown
	lns       map[net.Listener]struct{}
	pending   map[net.Conn]struct{} // raw connections still in the handshake
	upgrading int                   // ServeHTTP calls in Accept: handshakes in progress under net/http
	refused   atomic.Uint64         // upgrades refused for MaxConns
}

// serverKeepalive is the KeepaliveInterval a Server uses when its options
// leave it zero.
const serverKeepalive = 30 * time.Second

// retryAfter is the Retry-After value, in seconds, of the 503 answer to an
// upgrade over MaxConns.
const retryAfter = "5"

// busyReason is why an upgrade over MaxConns is refused.
const busyReason = "the server is at its connection limit"

// NewServer returns a Server that runs handler for each accepted
// connection, on a goroutine of its own. When handler returns, a
// connection that is still open is closed with 1000. A zero
// opts.KeepaliveInterval takes the Server's default of 30 s (see Server);
// a negative one turns keepalive off.
func NewServer(opts ServerOptions, handler func(*Conn)) *Server {
	return &Server{opts: serverDefaults(opts), handler: handler, conns: make(map[*Conn]struct{})}
}

// serverDefaults returns opts with the defaults a Server adds to those of
// the connection.
func serverDefaults(opts ServerOptions) ServerOptions {
	opts.KeepaliveInterval = or(opts.KeepaliveInterval, serverKeepalive)
	return opts
}

// NewEventServer returns a Server that reads every connection for you and
// calls e's callbacks (the way nodejs-websocket's server emits "text",
// "binary" and "close"), starting with e.Open. Between messages an idle
// connection holds no goroutine on Linux (see ServeEvents), which makes
// it the leanest way to hold many mostly idle connections. Connections
// stay open until either side closes them or, when the callbacks set one,
// their read deadline passes (see Events): that is how to give them an
// idle timeout. Keepalive is on by default, as for NewServer: its pings
// wake a parked connection only for the pong, and it parks again after.
func NewEventServer(opts ServerOptions, e Events) *Server {
	return &Server{opts: serverDefaults(opts), events: &e, conns: make(map[*Conn]struct{})}
}

// ServeHTTP upgrades the request and hands the connection on: to the
// handler, on a goroutine of its own, or to the event loop (see
// NewEventServer). Over HTTP/1.1 it then returns at once, so net/http's
// goroutine ends and the buffers net/http allocated for the request are
// freed; the connection costs what it costs under Serve. The Conn's
// Request keeps the request's context values but not its cancellation:
// net/http cancels a request's context when ServeHTTP returns, and the
// connection lives on. A panic in the handler is recovered and logged as
// net/http logs one (to the http.Server's ErrorLog), unless its value is
// http.ErrAbortHandler, and the connection is closed.
//
// An HTTP/2 request (an RFC 8441 extended CONNECT, see Accept) is served
// the same way, except that ServeHTTP runs the handler itself and
// returns only once the connection is closed, as the stream ends when it
// returns. After Close or Shutdown it answers 503; so it does, with a
// Retry-After header, when MaxConns connections are open or in their
// handshake.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.reserve(w) {
		return
	}
	c, err := Accept(w, r, &s.opts)
	tracked, ok := s.upgraded(c, err)
	switch {
	case !ok:
	case r.ProtoMajor == 2:
		s.runTracked(c, tracked)
		awaitStream(c) // the stream ends when ServeHTTP returns
	default:
		c.req.Store(r.WithContext(context.WithoutCancel(r.Context())))
		if s.begin(c, tracked) {
			go s.runHandler(c)
		}
	}
}

// runHandler runs the handler for c, tracked, on a goroutine ServeHTTP
// started, recovering a panic as net/http recovers one in ServeHTTP.
func (s *Server) runHandler(c *Conn) {
	defer func() {
		v := recover()
		closeOpen(c) // after a panic, which handle does not close c on
		if v != nil && v != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			msg := fmt.Sprintf("http: panic serving %v: %v\n%s", c.RemoteAddr(), v, buf)
			if hs, _ := c.Request().Context().Value(http.ServerContextKey).(*http.Server); hs != nil && hs.ErrorLog != nil {
				hs.ErrorLog.Print(msg)
			} else {
				log.Print(msg)
			}
		}
	}()
	s.handle(c)
}

// reserve counts a handshake ServeHTTP is about to make, or answers 503
// and reports false. The answer is written here rather than in ServeHTTP,
// whose frame stays on the stack for as long as the connection lives.
func (s *Server) reserve(w http.ResponseWriter) bool {
	s.mu.Lock()
	closing := s.closing
	full := !closing && s.fullLocked()
	if !closing && !full {
		s.upgrading++
	}
	s.mu.Unlock()
	switch {
	case closing:
		http.Error(w, "websocket: server is shutting down", http.StatusServiceUnavailable)
		return false
	case full:
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, (&HandshakeError{Status: http.StatusServiceUnavailable, Reason: busyReason}).Error(), http.StatusServiceUnavailable)
		return false
	}
	return true
}

// upgraded ends the handshake reserve counted, whose outcome is c and
// err: ok reports whether there is a connection, and tracked whether it
// joined the open connections (it did not when Close or Shutdown has
// begun). The handshake leaves upgrading and joins conns under one lock,
// so MaxConns counts it throughout.
func (s *Server) upgraded(c *Conn, err error) (tracked, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upgrading--
	if err != nil {
		return false, false
	}
	return s.trackLocked(c), true
}

// fullLocked reports whether MaxConns connections are open or in their
// handshake; if so it counts a refusal, which the caller then makes.
func (s *Server) fullLocked() bool {
	if s.MaxConns <= 0 || len(s.conns)+len(s.pending)+s.upgrading < s.MaxConns {
		return false
	}
	s.refused.Add(1)
	return true
}

// Refused returns how many upgrades the Server has refused because
// MaxConns connections were open or in their handshake, on every path
// (Serve and ServeHTTP) since it was made.
func (s *Server) Refused() uint64 { return s.refused.Load() }

// runTracked runs the handler for c, or closes c with 1001 if it was not
// tracked because Close or Shutdown has begun.
func (s *Server) runTracked(c *Conn, tracked bool) {
	if s.begin(c, tracked) {
		defer closeOpen(c) // after a panic too, which net/http recovers
		s.handler(c)
	}
}

// begin sets c up to be served: it closes c with 1001 if it was not
// tracked because Close or Shutdown has begun, and hands c to the event
// loop on an event server. It reports whether c's handler is to run.
func (s *Server) begin(c *Conn, tracked bool) bool {
	if !tracked {
		_ = c.Close(StatusGoingAway, "server is shutting down")
		return false
	}
	c.OnClose(func() { s.untrack(c) })
	if s.events != nil {
		ServeEvents(c, *s.events)
		return false
	}
	return true
}

// handle runs the handler for c and closes c if the handler left it open.
// Serve and ServeHTTP (over HTTP/1) run it on a goroutine of its own that
// starts here, so the handler's goroutine holds no frame of the
// handshake: a handler whose reads and sends stay within the goroutine's
// first stack segment keeps it (see Server). A panic leaves c as it is:
// under Serve it ends the program, and under net/http runHandler closes c.
func (s *Server) handle(c *Conn) {
	s.handler(c)
	closeOpen(c)
}

// closeOpen closes c normally unless it is closed or closing already.
func closeOpen(c *Conn) {
	if c.State() == Open {
		_ = c.Close(StatusNormalClosure, "")
	}
}

// trackLocked adds c to the open connections unless Close or Shutdown has
// begun. Those take their snapshot of the open connections under the same
// lock, so every connection is either in it or refused here.
func (s *Server) trackLocked(c *Conn) bool {
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// Conns returns the open connections at the time of the call.
func (s *Server) Conns() iter.Seq[*Conn] {
	s.mu.Lock()
	list := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		list = append(list, c)
	}
	s.mu.Unlock()
	return func(yield func(*Conn) bool) {
		for _, c := range list {
			if !yield(c) {
				return
			}
		}
	}
}

// Len returns the number of open connections. MaxConns counts these and
// the handshakes in progress.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close ends the server at once, as http.Server.Close does: it closes the
// listeners given to Serve, refuses new upgrades with 503, cuts off
// handshakes in progress, and closes every open connection without the
// closing handshake (CloseNow: the peers see their connection end with
// 1006, and this side's reads and writes fail with a *CloseError of code
// 1006). A handshake that completes after Close gets a close frame with
// 1001 (going away) instead of the handler. For a graceful end, with a
// close frame to every connection, use Shutdown. Calling Close again
// returns nil.
func (s *Server) Close() error {
	err := s.stopAccepting()
	for c := range s.Conns() {
		_ = c.CloseNow()
	}
	return err
}

// stopAccepting closes the listeners, refuses new upgrades and cuts off
// handshakes in progress; a connection whose handshake completes from now
// on is closed with 1001 instead of handed to the handler.
func (s *Server) stopAccepting() error {
	s.mu.Lock()
	s.closing = true
	lns := s.lns
	s.lns = nil
	// Cut the handshakes off with a deadline rather than by closing their
	// sockets: a handshake whose response is already out then completes,
	// and serveConn, which takes it out of pending under this lock,
	// clears the deadline again and hands the connection to trackLocked.
	// A handshake that arms its timeout after this finds closing set
	// (armHandshake).
	for nc := range s.pending {
		_ = nc.SetDeadline(aLongTimeAgo)
	}
	s.mu.Unlock()
	var errs []error
	for ln := range lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting new connections, sends every open connection a
// close frame with 1001 (going away), and waits until all of them have
// closed or ctx ends; then it tears down those left and returns ctx's
// error. It mirrors http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	_ = s.stopAccepting()
	s.mu.Lock()
	var idle chan struct{}
	if len(s.conns) > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()
	for c := range s.Conns() {
		go func() { _ = c.Close(StatusGoingAway, "server shutting down") }()
	}
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		for c := range s.Conns() {
			_ = c.CloseNow()
		}
		return ctx.Err()
	}
}

// ListenAndServe listens on the TCP address addr and serves WebSocket
// upgrades on every path, as Serve does. It returns http.ErrServerClosed
// after Close or Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// ListenAndServeTLS is ListenAndServe over TLS with the given certificate
// and key files. It offers only HTTP/1.1 in ALPN, as WebSocket upgrades
// need.
func (s *Server) ListenAndServeTLS(addr, certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	sock.DeferAccept(ln) // a TLS client speaks first too
	return s.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}))
}

// Serve accepts connections on ln and upgrades each on its own goroutine,
// which then runs the handler. It does not go through net/http: each
// request head is read and answered by AcceptConn (16 KiB cap, the
// options' HandshakeTimeout, default 10 s), so a connection costs no more
// than its goroutine and Conn. Mount the Server on an http.Server instead
// when other handlers or middleware must see the requests. On Linux, Serve
// sets TCP_DEFER_ACCEPT on a *net.TCPListener, so a connection is accepted
// once its request has started to arrive (a client that connects and stays
// silent is accepted after a second or more, then meets HandshakeTimeout).
// Serve returns http.ErrServerClosed after Close or Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		return http.ErrServerClosed
	}
	if s.lns == nil {
		s.lns = make(map[net.Listener]struct{})
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	sock.DeferAccept(ln)
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: back off as
				// net/http does, up to a second.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			s.mu.Lock()
			delete(s.lns, ln)
			s.mu.Unlock()
			_ = ln.Close()
			return err
		}
		delay = 0
		go s.serveConn(nc)
	}
}

// isTemporary reports whether an Accept error is worth retrying.
func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (s *Server) serveConn(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	if s.fullLocked() {
		s.mu.Unlock()
		s.refuseBusy(nc)
		return
	}
	if s.pending == nil {
		s.pending = make(map[net.Conn]struct{})
	}
	s.pending[nc] = struct{}{}
	s.mu.Unlock()
	c, err := acceptConn(context.Background(), nc, &s.opts, s)
	s.mu.Lock()
	delete(s.pending, nc)
	if err != nil {
		s.mu.Unlock()
		return
	}
	if s.closing {
		// Close cut this handshake off just after it finished: clear the
		// deadline so runTracked can still send its close frame.
		_ = nc.SetDeadline(time.Time{})
	}
	tracked := s.trackLocked(c)
	s.mu.Unlock()
	if s.begin(c, tracked) {
		go s.handle(c)
	}
}

// armHandshake sets the deadline of nc, a connection in its handshake,
// to t, or into the past once the Server is closing: under s.mu, so that
// a handshake arming its timeout cannot undo the cut stopAccepting made.
func (s *Server) armHandshake(nc net.Conn, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		t = aLongTimeAgo
	}
	_ = nc.SetDeadline(t)
}

// refuseBusy answers nc, a connection over MaxConns, with the 503 that
// ServeHTTP gives then, without reading its request, and closes it as
// AcceptConn closes a refused connection (refuse). The whole takes at most
// HandshakeTimeout and the half second refuse drains for.
func (s *Server) refuseBusy(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(positiveOr(s.opts.HandshakeTimeout, limits.DefaultHandshakeTimeout)))
	_, _ = refuse(nc, func() bool { return true }, http.StatusServiceUnavailable, busyReason)
}
