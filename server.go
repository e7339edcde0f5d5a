package wsio

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"sync"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/limits"
)

// Server is an http.Handler that upgrades every request it serves and runs
// a handler for each connection. It keeps track of its open connections
// for Conns, Broadcast and Shutdown. Mount it on any mux or middleware
// chain, or run it with ListenAndServe.
type Server struct {
	opts    ServerOptions
	handler func(*Conn)

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	closing  bool
	idle     chan struct{} // closed when conns becomes empty during Shutdown
	httpSrvs []*http.Server
}

// NewServer returns a Server that runs handler for each accepted
// connection, on the request's goroutine. When handler returns, a
// connection that is still open is closed with 1000.
func NewServer(opts ServerOptions, handler func(*Conn)) *Server {
	return &Server{opts: opts, handler: handler, conns: make(map[*Conn]struct{})}
}

// ServeHTTP upgrades the request and runs the handler. After Close or
// Shutdown it answers 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		http.Error(w, "websocket: server is shutting down", http.StatusServiceUnavailable)
		return
	}
	c, err := conn.Accept(w, r, &s.opts)
	if err != nil {
		return
	}
	if !s.track(c) {
		_ = c.Close(StatusGoingAway, "server is shutting down")
		return
	}
	c.OnClose(func() { s.untrack(c) })
	defer func() {
		if c.State() == Open {
			_ = c.Close(StatusNormalClosure, "")
		}
	}()
	s.handler(c)
}

func (s *Server) track(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
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

// Len returns the number of open connections.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Broadcast sends one message to every open connection. The message is
// framed once; each connection gets it on its own goroutine, so a slow
// peer delays only itself (bound the wait with ctx). A connection with an
// open binary stream gets the message after the stream ends. The error,
// if any, counts the connections that did not get the message and wraps
// the first failure.
func (s *Server) Broadcast(ctx context.Context, kind Kind, data []byte) error {
	p, err := conn.Prepare(kind, data, s.opts.FragmentSize)
	if err != nil {
		return err
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
		first  error
		total  int
	)
	for c := range s.Conns() {
		total++
		wg.Go(func() {
			if err := c.SendPrepared(ctx, p); err != nil {
				mu.Lock()
				failed++
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("wsio: broadcast reached %d of %d connections: %w", total-failed, total, first)
	}
	return nil
}

// Close stops accepting new connections (upgrades get 503, and listeners
// started by ListenAndServe or Serve are closed) and leaves the open ones
// alone, as nodejs-websocket's server.close does.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	srvs := s.httpSrvs
	s.mu.Unlock()
	var errs []error
	for _, hs := range srvs {
		errs = append(errs, hs.Close())
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting new connections, sends every open connection a
// close frame with 1001 (going away), and waits until all of them have
// closed or ctx ends; then it tears down those left and returns ctx's
// error. It mirrors http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	_ = s.Close()
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
			_ = c.NetConn().Close()
		}
		return ctx.Err()
	}
}

// ListenAndServe listens on the TCP address addr and serves WebSocket
// upgrades on every path, with a handshake read timeout of 10 s and a
// header cap of 16 KiB. It returns http.ErrServerClosed after Close or
// Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// ListenAndServeTLS is ListenAndServe over TLS with the given certificate
// and key files.
func (s *Server) ListenAndServeTLS(addr, certFile, keyFile string) error {
	hs := s.httpServer()
	if hs == nil {
		return http.ErrServerClosed
	}
	hs.Addr = addr
	return hs.ListenAndServeTLS(certFile, keyFile)
}

// Serve accepts connections on ln, as ListenAndServe does.
func (s *Server) Serve(ln net.Listener) error {
	hs := s.httpServer()
	if hs == nil {
		_ = ln.Close()
		return http.ErrServerClosed
	}
	return hs.Serve(ln)
}

func (s *Server) httpServer() *http.Server {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: limits.Or(s.opts.HandshakeTimeout, limits.DefaultHandshakeTimeout),
		// net/http reads MaxHeaderBytes plus 4 KiB of slack before it
		// answers 431; subtract it so the cap is the documented 16 KiB.
		MaxHeaderBytes: limits.DefaultMaxHeaderBytes - 4096,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	s.httpSrvs = append(s.httpSrvs, hs)
	return hs
}
