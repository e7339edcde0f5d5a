package wstest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// HTTPServer starts an httptest server on 127.0.0.1 that runs h for each
// request, with TLS (httptest's certificate, which the server's Client
// trusts) when useTLS is set. The test's cleanup closes the server and then
// waits for every call of h to return, including the calls that hijacked
// their connection, which httptest.Server.Close does not wait for; a
// request that arrives once the cleanup has begun is dropped without
// calling h. A handler that serves a WebSocket therefore has to end by
// itself, for example because the test's client, closed by a cleanup
// registered later (and so run earlier), went away.
func HTTPServer(tb testing.TB, useTLS bool, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1) // under mu, so no Add comes after the cleanup's Wait began
		mu.Unlock()
		defer wg.Done()
		h(w, r)
	}))
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	tb.Cleanup(func() {
		srv.Close()
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	return srv
}

// WSURL turns the http:// or https:// URL of a test server into its ws://
// or wss:// URL.
func WSURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago:
// nothing listens there when FreePort returns, so a dial to it is refused
// (unless something else took the port since).
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen on 127.0.0.1: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ServeConns accepts connections on ln and runs handle on each, in a
// goroutine of its own, and returns ln's address. When the test ends it
// stops accepting (closing ln), closes every connection still open and
// waits for the handlers to return; handle need not close its connection.
func ServeConns(tb testing.TB, ln net.Listener, handle func(c net.Conn)) string {
	tb.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		done  bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if done {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		done = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// recorderMark is what Received's own connection sends.
const recorderMark = "END OF TEST"

// Recorder is a raw TCP listener on 127.0.0.1 that keeps everything each
// accepted connection sent, until that connection ended. It never answers.
// It shows what a client sent, or that it sent nothing at all.
type Recorder struct {
	ln    net.Listener
	mu    sync.Mutex
	got   []string      // one entry per ended connection, in the order accepted
	marks int           // how many marks Received has sent
	done  chan struct{} // closed when the accept loop has ended
}

// StartRecorder starts a Recorder, which the test's cleanup stops.
func StartRecorder(tb testing.TB) *Recorder {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen on 127.0.0.1: %v", err)
	}
	r := &Recorder{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			// Connections are read one after another, so got keeps the
			// order in which they were accepted.
			_ = nc.SetReadDeadline(time.Now().Add(Timeout))
			b, _ := io.ReadAll(nc)
			_ = nc.Close()
			r.mu.Lock()
			r.got = append(r.got, string(b))
			r.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		<-r.done
	})
	return r
}

// Addr returns the recorder's host:port.
func (r *Recorder) Addr() string { return r.ln.Addr().String() }

// Received returns what every connection accepted so far sent (other than
// the marks of Received itself), one string per connection in the order
// they were accepted. It opens a connection of its own that sends a mark
// and waits for it: a connection opened before the call was accepted (and
// read to its end) before that one, so nothing sent before the call is
// missed. It is not for concurrent use.
func (r *Recorder) Received(tb testing.TB) []string {
	tb.Helper()
	r.mu.Lock()
	r.marks++
	r.mu.Unlock()
	nc, err := net.DialTimeout("tcp", r.Addr(), Timeout)
	if err != nil {
		tb.Fatal(err)
	}
	_, err = io.WriteString(nc, recorderMark)
	_ = nc.Close()
	if err != nil {
		tb.Fatal(err)
	}
	// An earlier connection that stays open holds the mark's up to the
	// read deadline of Timeout, so the wait is longer than that.
	var got []string
	if !Poll(2*Timeout, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = nil
		marks := 0
		for _, s := range r.got {
			if s == recorderMark { // this call's mark, or an earlier call's
				marks++
			} else {
				got = append(got, s)
			}
		}
		return marks == r.marks
	}) {
		tb.Fatalf("the recorder did not read its own mark within %v", 2*Timeout)
	}
	return got
}
