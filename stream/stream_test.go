//go:build !js

package stream_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
	"github.com/wsio/wsio/stream"
)

// TestMain fails the run when goroutines running code of the module
// outlive the tests (the kit's one leak check).
func TestMain(m *testing.M) { wstest.Main(m) }

// pair returns the two ends of a WebSocket connection over loopback TCP
// as net.Conns: the server's and the client's.
func pair(t *testing.T) (srv, cli net.Conn) {
	t.Helper()
	e := newEnds(t, nil, nil)
	return e.srv, e.cli
}

// ends are the two ends of a WebSocket connection over loopback TCP, each
// as a net.Conn and as the connection under it.
type ends struct {
	srv, cli   net.Conn
	srvC, cliC *wsio.Conn
}

// newEnds connects a client with options do to a server with options so
// (either may be nil). Cleanup closes both sockets.
func newEnds(t *testing.T, so *wsio.ServerOptions, do *wsio.DialOptions) ends {
	t.Helper()
	conns := make(chan *wsio.Conn, 1)
	done := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsio.Accept(w, r, so)
		if err != nil {
			return
		}
		conns <- c
		<-done
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsio.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), do)
	if err != nil {
		t.Fatal(err)
	}
	s := <-conns
	t.Cleanup(func() {
		_ = c.Transport().Close()
		_ = s.Transport().Close()
		close(done)
		hs.Close()
	})
	return ends{srv: stream.NetConn(s), cli: stream.NetConn(c), srvC: s, cliC: c}
}

func TestBytesBothWays(t *testing.T) {
	t.Parallel()
	srv, cli := pair(t)
	data := wstest.RandomBytes(3<<20, 1)
	go func() {
		// Many writes of odd sizes: each is a message; the reader sees one stream.
		for p := data; len(p) > 0; {
			n := min(len(p), 77777)
			if _, err := cli.Write(p[:n]); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			p = p[n:]
		}
		_ = cli.Close()
	}()
	h := sha256.New()
	n, err := io.Copy(h, srv) // ends with io.EOF at the client's clean close
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if [32]byte(h.Sum(nil)) != sha256.Sum256(data) {
		t.Fatal("bytes differ")
	}
}

func TestReadDeadlineDoesNotKill(t *testing.T) {
	t.Parallel()
	srv, cli := pair(t)
	_ = srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var b [16]byte
	if _, err := srv.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if _, err := srv.Read(b[:]); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a passed deadline keeps failing with a timeout: %v", err)
	}
	_ = srv.SetReadDeadline(time.Time{})
	go func() { _, _ = cli.Write([]byte("after the deadline")) }()
	n, err := io.ReadFull(srv, b[:18-2])
	if err != nil || string(b[:n]) != "after the deadli" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
}

func TestWriteDeadlinePassedBeforeWrite(t *testing.T) {
	t.Parallel()
	srv, cli := pair(t)
	_ = cli.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := cli.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = %v", err)
	}
	_ = cli.SetWriteDeadline(time.Time{})
	if _, err := cli.Write([]byte("ok")); err != nil {
		t.Fatalf("Write after clearing the deadline: %v", err)
	}
	var b [2]byte
	if _, err := io.ReadFull(srv, b[:]); err != nil || string(b[:]) != "ok" {
		t.Fatalf("read %q %v", b, err)
	}
}

// TLS runs inside the WebSocket: crypto/tls client and server over the
// two net.Conns.
func TestTLSOverWebSocket(t *testing.T) {
	t.Parallel()
	srv, cli := pair(t)
	cert, pool := wstest.SelfSigned(t)
	ts := tls.Server(srv, &tls.Config{Certificates: []tls.Certificate{cert}})
	tc := tls.Client(cli, &tls.Config{RootCAs: pool, ServerName: wstest.CertName})
	errs := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(ts).ReadString('\n')
		if err == nil {
			_, err = ts.Write([]byte(strings.ToUpper(line)))
		}
		errs <- err
	}()
	if _, err := tc.Write([]byte("hello through tls through websocket\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || line != "HELLO THROUGH TLS THROUGH WEBSOCKET\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if !tc.ConnectionState().HandshakeComplete {
		t.Fatal("no TLS handshake")
	}
}

// net/http serves requests over the WebSocket.
func TestHTTPOverWebSocket(t *testing.T) {
	t.Parallel()
	srv, cli := pair(t)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "you asked for %s", r.URL.Path)
	})}
	go func() { _ = hs.Serve(&oneConnListener{c: srv}) }()
	defer hs.Close()
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return cli, nil }}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, path := range []string{"/a", "/b/c"} {
		resp, err := client.Get("http://over-websocket" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "you asked for "+path {
			t.Fatalf("body %q", body)
		}
	}
}

// net/rpc with its gob codec, over the WebSocket.
func TestRPCOverWebSocket(t *testing.T) {
	t.Parallel()
	srv, cli := pair(t)
	rs := rpc.NewServer()
	if err := rs.Register(new(Arith)); err != nil {
		t.Fatal(err)
	}
	go rs.ServeConn(srv)
	client := rpc.NewClient(cli)
	for i := range 20 {
		var got int
		if err := client.Call("Arith.Mul", [2]int{i, 7}, &got); err != nil || got != i*7 {
			t.Fatalf("Mul(%d,7) = %d, %v", i, got, err)
		}
	}
	_ = client.Close()
}

// Arith is an RPC service for the test.
type Arith struct{}

// Mul multiplies two numbers.
func (Arith) Mul(args [2]int, reply *int) error { *reply = args[0] * args[1]; return nil }

type oneConnListener struct {
	once sync.Once
	c    net.Conn
	done chan struct{}
	mu   sync.Mutex
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	done := l.done
	l.mu.Unlock()
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }
