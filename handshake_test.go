//go:build !js

package wsio_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/internal/wstest"
)

// rfcAccept is the Sec-WebSocket-Accept for testKey (RFC 6455, 1.3).
const rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

// rawRequest is an HTTP request written by hand, so every header is ours.
type rawRequest struct {
	method, proto, host string
	header              [][2]string
}

func upgradeRequest(host string) rawRequest {
	return rawRequest{method: "GET", proto: "HTTP/1.1", host: host, header: [][2]string{
		{"Host", host},
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-WebSocket-Key", testKey},
		{"Sec-WebSocket-Version", "13"},
	}}
}

// set replaces every name header with one holding value.
func (r rawRequest) set(name, value string) rawRequest {
	return r.del(name).add(name, value)
}

// add appends a header line, keeping those of the same name.
func (r rawRequest) add(name, value string) rawRequest {
	r.header = append(slices.Clone(r.header), [2]string{name, value})
	return r
}

func (r rawRequest) del(name string) rawRequest {
	r.header = slices.DeleteFunc(slices.Clone(r.header), func(h [2]string) bool { return strings.EqualFold(h[0], name) })
	return r
}

// do sends r on a new connection to addr and returns the response with
// its body read.
func (r rawRequest) do(t *testing.T, addr string) (*http.Response, string) {
	t.Helper()
	resp, body, nc := r.doWith(t, addr, nil)
	_ = nc.Close()
	return resp, body
}

// doWith is do with after written right behind the head, in the same
// write. It also returns the connection, open, for a test to go on with
// after a 101; it closes when the test ends.
func (r rawRequest) doWith(t *testing.T, addr string, after []byte) (*http.Response, string, net.Conn) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	fmt.Fprintf(&b, "%s / %s\r\n", r.method, r.proto)
	for _, h := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	b.Write(after)
	if _, err := io.WriteString(nc, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, "", nc
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp, string(body), nc
}

// headFault names the TestHandshakeRefusals cases that a request-head
// reader refuses before any WebSocket check runs.
var headFault = map[string]bool{"no Host": true, "two Hosts": true, "bad Host": true, "bad header name": true,
	"bad header value": true, "HTTP/2.0 head": true, "not HTTP": true}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	type want struct {
		status int
		header map[string]string
	}
	ok := want{http.StatusSwitchingProtocols, map[string]string{
		"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": rfcAccept,
	}}
	bad := want{status: http.StatusBadRequest}
	forbidden := want{status: http.StatusForbidden}
	for _, tc := range []struct {
		name     string
		patterns []string
		edit     func(rawRequest) rawRequest
		want     want
	}{
		{"valid", nil, nil, ok},
		{"tokens in lists, any case", nil, func(r rawRequest) rawRequest {
			return r.set("Connection", "keep-alive, UPGRADE").set("Upgrade", "WebSocket")
		}, ok},
		{"POST", nil, func(r rawRequest) rawRequest {
			r.method = "POST"
			return r.add("Content-Length", "0")
		}, want{http.StatusMethodNotAllowed, map[string]string{"Allow": "GET"}}},
		{"HTTP/1.0", nil, func(r rawRequest) rawRequest { r.proto = "HTTP/1.0"; return r }, bad},
		{"no Connection", nil, func(r rawRequest) rawRequest { return r.del("Connection") }, bad},
		{"Connection without upgrade", nil, func(r rawRequest) rawRequest { return r.set("Connection", "keep-alive") }, bad},
		{"no Upgrade", nil, func(r rawRequest) rawRequest { return r.del("Upgrade") }, bad},
		{"Upgrade to something else", nil, func(r rawRequest) rawRequest { return r.set("Upgrade", "websockets") }, bad},
		{"version 8", nil, func(r rawRequest) rawRequest { return r.set("Sec-WebSocket-Version", "8") },
			want{http.StatusUpgradeRequired, map[string]string{"Sec-WebSocket-Version": "13"}}},
		{"no key", nil, func(r rawRequest) rawRequest { return r.del("Sec-WebSocket-Key") }, bad},
		{"two keys", nil, func(r rawRequest) rawRequest { return r.add("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==") }, bad},
		{"15-byte key", nil, func(r rawRequest) rawRequest { return r.set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA") }, bad},
		{"17-byte key", nil, func(r rawRequest) rawRequest { return r.set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=") }, bad},
		{"key not base64", nil, func(r rawRequest) rawRequest { return r.set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==") }, bad},
		{"same origin", nil, func(r rawRequest) rawRequest { return r.add("Origin", "http://"+r.host) }, ok},
		{"cross origin", nil, func(r rawRequest) rawRequest { return r.add("Origin", "https://evil.test") }, forbidden},
		{"null origin", nil, func(r rawRequest) rawRequest { return r.add("Origin", "null") }, forbidden},
		{"two origins", nil, func(r rawRequest) rawRequest {
			return r.add("Origin", "http://"+r.host).add("Origin", "http://"+r.host)
		}, forbidden},
		{"exact pattern", []string{"example.com"}, func(r rawRequest) rawRequest { return r.add("Origin", "https://example.com") }, ok},
		{"exact pattern, other case", []string{"example.com"}, func(r rawRequest) rawRequest { return r.add("Origin", "HTTPS://EXAMPLE.COM") }, ok},
		{"exact pattern, other host", []string{"example.com"}, func(r rawRequest) rawRequest { return r.add("Origin", "https://evil.test") }, forbidden},
		{"exact pattern, other port", []string{"example.com"}, func(r rawRequest) rawRequest { return r.add("Origin", "https://example.com:8443") }, forbidden},
		{"wildcard pattern", []string{"*.example.com"}, func(r rawRequest) rawRequest { return r.add("Origin", "https://chat.example.com") }, ok},
		{"wildcard pattern, apex", []string{"*.example.com"}, func(r rawRequest) rawRequest { return r.add("Origin", "https://example.com") }, forbidden},
		{"wildcard pattern, lookalike", []string{"*.example.com"}, func(r rawRequest) rawRequest { return r.add("Origin", "https://evilexample.com") }, forbidden},
		{"port wildcard", []string{"localhost:*"}, func(r rawRequest) rawRequest { return r.add("Origin", "http://localhost:3000") }, ok},
		{"star", []string{"*"}, func(r rawRequest) rawRequest { return r.add("Origin", "https://anything.test") }, ok},
		{"star, null origin", []string{"*"}, func(r rawRequest) rawRequest { return r.add("Origin", "null") }, ok},
		// Checks on the head itself, which Serve's own reader must make
		// as net/http does.
		{"no Host", nil, func(r rawRequest) rawRequest { return r.del("Host") }, bad},
		{"two Hosts", nil, func(r rawRequest) rawRequest { return r.add("Host", r.host) }, bad},
		{"bad Host", nil, func(r rawRequest) rawRequest { return r.set("Host", "a b") }, bad},
		{"bad header name", nil, func(r rawRequest) rawRequest { return r.add("X Y", "1") }, bad},
		{"bad header value", nil, func(r rawRequest) rawRequest { return r.add("X-Y", "a\x00b") }, bad},
		{"HTTP/2.0 head", nil, func(r rawRequest) rawRequest { r.proto = "HTTP/2.0"; return r }, want{status: http.StatusHTTPVersionNotSupported}},
		{"not HTTP", nil, func(r rawRequest) rawRequest { r.proto = "SPDY/3"; return r }, bad},
		{"head over 16 KiB", nil, func(r rawRequest) rawRequest {
			for i := range 20 {
				r = r.add(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("x", 1000))
			}
			return r
		}, want{status: http.StatusRequestHeaderFieldsTooLarge}},
		{"head just under 16 KiB", nil, func(r rawRequest) rawRequest {
			for i := range 14 {
				r = r.add(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("x", 1000))
			}
			return r
		}, ok},
	} {
		for _, front := range []string{"Accept", "Server", "Serve"} {
			t.Run(front+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				// The 16 KiB cap belongs to whoever reads the head: Serve,
				// or the http.Server (httptest's allows 1 MiB).
				if strings.Contains(tc.name, "16 KiB") && front != "Serve" {
					t.Skip("the head's size cap is the http.Server's setting here")
				}
				opts := &wsio.ServerOptions{OriginPatterns: tc.patterns}
				accepted := make(chan error, 1)
				var h http.Handler
				if front == "Accept" {
					h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						c, err := wsio.Accept(w, r, opts)
						accepted <- err
						if err == nil {
							_ = c.Close(wsio.StatusNormalClosure, "")
						}
					})
				} else {
					srv := wsio.NewServer(*opts, func(*wsio.Conn) {})
					t.Cleanup(func() {
						ctx, cancel := context.WithTimeout(context.Background(), timeout)
						defer cancel()
						_ = srv.Shutdown(ctx)
					})
					h = srv
				}
				var addr string
				if front == "Serve" {
					// The Server's own listener path: no net/http.
					srv := h.(*wsio.Server)
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					served := make(chan error, 1)
					go func() { served <- srv.Serve(ln) }()
					t.Cleanup(func() {
						_ = srv.Close()
						if err := <-served; !errors.Is(err, http.ErrServerClosed) {
							t.Errorf("Serve returned %v", err)
						}
					})
					addr = ln.Addr().String()
				} else {
					ts := httptest.NewServer(h)
					t.Cleanup(ts.Close)
					addr = ts.Listener.Addr().String()
				}
				req := upgradeRequest(addr)
				if tc.edit != nil {
					req = tc.edit(req)
				}
				resp, body := req.do(t, addr)
				if resp.StatusCode != tc.want.status {
					t.Fatalf("status %s (%q), want %d", resp.Status, body, tc.want.status)
				}
				for name, v := range tc.want.header {
					if got := resp.Header.Get(name); got != v {
						t.Errorf("%s: %q, want %q", name, got, v)
					}
				}
				if front != "Accept" || headFault[tc.name] {
					return // net/http refused it before any handler ran
				}
				select {
				case err := <-accepted:
					var he *wsio.HandshakeError
					switch {
					case tc.want.status == http.StatusSwitchingProtocols:
						if err != nil {
							t.Errorf("Accept: %v", err)
						}
					case !errors.Is(err, wsio.ErrBadHandshake) || !errors.As(err, &he):
						t.Errorf("Accept returned %v, want a *HandshakeError", err)
					case he.Status != tc.want.status:
						t.Errorf("HandshakeError.Status = %d, want %d", he.Status, tc.want.status)
					}
				case <-time.After(timeout):
					t.Fatal("the handler did not finish")
				}
			})
		}
	}
}

// TestDialRefusedByHandler: a handler that answers with its own status
// before upgrading gives Dial a HandshakeError and the response.
func TestDialRefusedByHandler(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("You need a token to chat here. ", 200) // over net/http's buffer: sent chunked
	for _, tc := range []struct {
		name, body string
		flush      bool
	}{
		{"short body", "missing token\n", false},
		{"chunked body", long, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("token") == "" {
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					w.WriteHeader(http.StatusUnauthorized)
					io.WriteString(w, tc.body)
					if tc.flush {
						http.NewResponseController(w).Flush()
					}
					return
				}
				if c, err := wsio.Accept(w, r, nil); err == nil {
					echo(c)
				}
			}))
			t.Cleanup(ts.Close)
			ctx := testCtx(t)
			start := time.Now()
			c, resp, err := wsio.Dial(ctx, wsURL(ts.URL), &wsio.DialOptions{HandshakeTimeout: 2 * time.Second})
			took := time.Since(start)
			if c != nil {
				t.Fatal("Dial returned a connection")
			}
			if !errors.Is(err, wsio.ErrBadHandshake) {
				t.Fatalf("Dial = %v, want ErrBadHandshake", err)
			}
			var he *wsio.HandshakeError
			if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
				t.Fatalf("Dial = %v, want a *HandshakeError with 401", err)
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("response = %v, want 401", resp)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.body {
				t.Fatalf("body = %q, want %q", body, tc.body)
			}
			if took > time.Second {
				t.Errorf("Dial took %v to report the refusal", took)
			}
			// With the token the same handler upgrades.
			c = dial(t, wsURL(ts.URL)+"?token=t", nil)
			roundTrip(t, c, "in")
		})
	}
}

// TestDialRejectsBadResponse: Dial refuses a 101 that breaks RFC 6455.
func TestDialRejectsBadResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, response string
		protocols      []string
	}{
		{"wrong accept", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n", nil},
		{"no upgrade", "Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n", nil},
		{"no connection", "Upgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n", nil},
		{"protocol not offered", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: x\r\n", []string{"a"}},
		{"extension not offered", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: x-never-offered\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := fakeServer(t, func(key string) string {
				return "HTTP/1.1 101 Switching Protocols\r\n" + strings.ReplaceAll(tc.response, "{accept}", wstest.AcceptKey(key)) + "\r\n"
			})
			c, resp, err := wsio.Dial(testCtx(t), "ws://"+addr, &wsio.DialOptions{Subprotocols: tc.protocols})
			var he *wsio.HandshakeError
			if c != nil || !errors.As(err, &he) || he.Status != http.StatusSwitchingProtocols {
				t.Fatalf("Dial = %v, %v, want a *HandshakeError with 101", c, err)
			}
			if resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("response = %v", resp)
			}
		})
	}
}

// fakeServer answers one request on a loopback listener with respond(key).
func fakeServer(t *testing.T, respond func(key string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(timeout))
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err != nil {
			return
		}
		io.WriteString(nc, respond(req.Header.Get("Sec-WebSocket-Key")))
		io.Copy(io.Discard, nc) // until Dial hangs up
	})
	return ln.Addr().String()
}

// TestDialHandshakeTimeout: a server that accepts the TCP connection but
// never answers holds Dial only as long as ctx or HandshakeTimeout.
func TestDialHandshakeTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { // read the request, never answer
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(timeout))
				io.Copy(io.Discard, nc)
			})
		}
	})
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		o    *wsio.DialOptions
	}{
		{"ctx", short, nil},
		{"HandshakeTimeout", context.Background(), &wsio.DialOptions{HandshakeTimeout: 200 * time.Millisecond}},
	} {
		start := time.Now()
		c, _, err := wsio.Dial(tc.ctx, "ws://"+ln.Addr().String(), tc.o)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: Dial took %v", tc.name, took)
		}
		// Either deadline error means "timed out".
		if c != nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: Dial = %v, %v, want a deadline error", tc.name, c, err)
		}
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"ftp://127.0.0.1/", "ws:///nohost", "ws://[::1"} {
		if c, _, err := wsio.Dial(testCtx(t), url, nil); err == nil || c != nil {
			t.Errorf("Dial(%q) = %v, %v, want an error", url, c, err)
		}
	}
	// http:// is taken as ws://.
	_, url := newServer(t, wsio.ServerOptions{}, echo)
	c := dial(t, "http"+strings.TrimPrefix(url, "ws"), nil)
	roundTrip(t, c, "plain http URL")
}

func TestSubprotocols(t *testing.T) {
	t.Parallel()
	last := func(r *http.Request, offered []string) string { return offered[len(offered)-1] }
	for _, tc := range []struct {
		name    string
		server  []string
		selectP func(*http.Request, []string) string
		client  []string
		want    string
	}{
		{"server preference wins", []string{"b", "a"}, nil, []string{"a", "b"}, "b"},
		{"first shared", []string{"c", "a"}, nil, []string{"a", "b"}, "a"},
		{"no overlap", []string{"x", "y"}, nil, []string{"a", "b"}, ""},
		{"server speaks none", nil, nil, []string{"a"}, ""},
		{"client offers none", []string{"a"}, nil, nil, ""},
		{"SelectSubprotocol", nil, last, []string{"x", "y", "z"}, "z"},
		{"SelectSubprotocol over Protocols", []string{"x"}, last, []string{"x", "y"}, "y"},
		{"SelectSubprotocol picks one not offered", nil, func(*http.Request, []string) string { return "nope" }, []string{"x"}, ""},
		{"SelectSubprotocol picks none", []string{"x"}, func(*http.Request, []string) string { return "" }, []string{"x"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			selected := make(chan []string, 1)
			opts := wsio.ServerOptions{Subprotocols: tc.server}
			if tc.selectP != nil {
				opts.SelectSubprotocol = func(r *http.Request, offered []string) string {
					if r == nil {
						t.Error("SelectSubprotocol got a nil request")
					}
					selected <- offered
					return tc.selectP(r, offered)
				}
			}
			_, url := newServer(t, opts, func(c *wsio.Conn) {
				_ = c.SendText(context.Background(), c.Subprotocol())
				drain(c)
			})
			c := dial(t, url, &wsio.DialOptions{Subprotocols: tc.client})
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("client Subprotocol() = %q, want %q", got, tc.want)
			}
			if got := nextText(t, testCtx(t), c); got != tc.want {
				t.Errorf("server chose %q, want %q", got, tc.want)
			}
			if tc.selectP != nil {
				select {
				case offered := <-selected:
					if !slices.Equal(offered, tc.client) {
						t.Errorf("SelectSubprotocol got %q, want the client's order %q", offered, tc.client)
					}
				default:
					t.Error("SelectSubprotocol was not called")
				}
			}
		})
	}
}

func TestHandshakeHeaders(t *testing.T) {
	t.Parallel()
	srv := wsio.NewServer(wsio.ServerOptions{Header: http.Header{"X-Server": {"wsio"}}}, func(c *wsio.Conn) {
		r := c.Request()
		_ = c.SendText(context.Background(), strings.Join([]string{
			r.Header.Get("Authorization"), r.Header.Get("X-Trace"), strings.Join(r.Header.Values("X-Multi"), ","),
			r.Host, c.Path(), r.URL.RawQuery, fmt.Sprint(c.ResponseHeader() == nil),
		}, "|"))
		drain(c)
	})
	// Middleware sets headers on the ResponseWriter before the upgrade.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "middleware")
		w.Header().Add("Set-Cookie", "session=abc; Path=/")
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ts.Close()
	})
	c := dial(t, wsURL(ts.URL)+"/rooms/42?lang=en", &wsio.DialOptions{Header: http.Header{
		"Authorization": {"Bearer t0k"},
		"X-Trace":       {"7"},
		"X-Multi":       {"a", "b"},
		"Host":          {"chat.example"},
	}})
	rh := c.ResponseHeader()
	for name, want := range map[string]string{"X-Server": "wsio", "X-Before": "middleware", "Set-Cookie": "session=abc; Path=/"} {
		if got := rh.Get(name); got != want {
			t.Errorf("response header %s = %q, want %q", name, got, want)
		}
	}
	if got := c.Path(); got != "/rooms/42" {
		t.Errorf("client Path() = %q", got)
	}
	if c.Request() != nil {
		t.Error("client Request() is not nil")
	}
	want := "Bearer t0k|7|a,b|chat.example|/rooms/42|lang=en|true"
	if got := nextText(t, testCtx(t), c); got != want {
		t.Errorf("server saw %q, want %q", got, want)
	}
}

func TestRoutingTwoServers(t *testing.T) {
	t.Parallel()
	named := func(name string) *wsio.Server {
		srv := wsio.NewServer(wsio.ServerOptions{}, func(c *wsio.Conn) {
			_ = c.SendText(context.Background(), name+" "+c.Path())
			drain(c)
		})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
		return srv
	}
	alpha, beta := named("alpha"), named("beta")
	mux := http.NewServeMux()
	mux.Handle("/alpha", alpha)
	mux.Handle("/beta/", beta)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	url := wsURL(ts.URL)

	for path, want := range map[string]string{"/alpha": "alpha /alpha", "/beta/room": "beta /beta/room"} {
		c := dial(t, url+path, nil)
		if got := nextText(t, testCtx(t), c); got != want {
			t.Errorf("%s: got %q, want %q", path, got, want)
		}
	}
	waitUntil(t, "one connection on each", func() bool { return alpha.Len() == 1 && beta.Len() == 1 })
	_, resp, err := wsio.Dial(testCtx(t), url+"/gamma", nil)
	if !errors.Is(err, wsio.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("Dial to an unrouted path: %v %v, want 404", resp, err)
	}
}

// serverFronts are the ways a request reaches the server side of the
// handshake: Accept in a net/http handler, a Server mounted on net/http
// (ServeHTTP), Server.Serve, and AcceptConn on a net.Conn, once as
// configured (its own parser first, net/http's for any other head) and
// once with SelectSubprotocol set (net/http's parser only, as
// SelectSubprotocol is handed the whole request).
var serverFronts = []string{"Accept", "Server", "Serve", "AcceptConn", "AcceptConn/net-http-parser"}

// startFront serves opts on front from a loopback listener. It returns the
// address, a channel that gets the error of each handshake on the fronts
// that return one (Accept, AcceptConn), and one that gets, for each
// accepted connection, what its first Next returned ("text: ..." or
// "error: ..."). Cleanup stops the server and waits for its goroutines.
func startFront(t *testing.T, front string, opts wsio.ServerOptions) (addr string, handshake <-chan error, next <-chan string) {
	t.Helper()
	hs, nx := make(chan error, 4), make(chan string, 4)
	var wg sync.WaitGroup
	run := func(c *wsio.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		m, err := c.Next(ctx)
		switch {
		case err != nil:
			nx <- "error: " + err.Error()
		case m.Kind == wsio.Text:
			nx <- "text: " + m.Text
		default:
			nx <- "binary message"
		}
		_ = c.Transport().Close()
	}
	if front == "AcceptConn/net-http-parser" {
		opts.SelectSubprotocol = func(*http.Request, []string) string { return "" }
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wg.Wait)
	switch front {
	case "Accept", "Server":
		var h http.Handler = wsio.NewServer(opts, run)
		if front == "Accept" {
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := wsio.Accept(w, r, &opts)
				hs <- err
				if err == nil {
					run(c)
				}
			})
		}
		ts := httptest.NewUnstartedServer(h)
		ts.Listener.Close()
		ts.Listener = ln
		ts.Start()
		t.Cleanup(ts.Close)
	case "Serve":
		srv := wsio.NewServer(opts, run)
		wg.Go(func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		})
		t.Cleanup(func() { _ = srv.Close() })
	default:
		t.Cleanup(func() { _ = ln.Close() })
		wg.Go(func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Go(func() {
					c, err := wsio.AcceptConn(context.Background(), nc, &opts)
					hs <- err
					if err == nil {
						run(c)
					}
				})
			}
		})
	}
	return ln.Addr().String(), hs, nx
}

// TestHandshakeRequestBody: an upgrade request's body belongs to HTTP,
// so a request that has one (a non-zero Content-Length, any
// Transfer-Encoding) is refused with 400 on every server path, and its
// bytes never reach the WebSocket as frames. Content-Length: 0 declares
// no body, and the frame behind such a head is the WebSocket's.
func TestHandshakeRequestBody(t *testing.T) {
	t.Parallel()
	// A masked text frame "hi": 8 bytes, the length declared below.
	hi := []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}
	for _, tc := range []struct {
		name   string
		header [][2]string
		status int
	}{
		{"Content-Length 8", [][2]string{{"Content-Length", "8"}}, http.StatusBadRequest},
		{"Transfer-Encoding chunked", [][2]string{{"Transfer-Encoding", "chunked"}}, http.StatusBadRequest},
		{"Content-Length and Transfer-Encoding", [][2]string{{"Content-Length", "8"}, {"Transfer-Encoding", "chunked"}}, http.StatusBadRequest},
		{"Content-Length 0", [][2]string{{"Content-Length", "0"}}, http.StatusSwitchingProtocols},
	} {
		for _, front := range serverFronts {
			t.Run(front+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				addr, handshake, next := startFront(t, front, wsio.ServerOptions{})
				req := upgradeRequest(addr)
				for _, h := range tc.header {
					req = req.add(h[0], h[1])
				}
				resp, body, _ := req.doWith(t, addr, hi)
				if resp.StatusCode != tc.status {
					if resp.StatusCode == http.StatusSwitchingProtocols {
						select {
						case got := <-next:
							t.Fatalf("status 101, want %d; the first message read was the request body's frame: %s", tc.status, got)
						case <-time.After(timeout):
						}
					}
					t.Fatalf("status %s (%q), want %d", resp.Status, body, tc.status)
				}
				if tc.status == http.StatusSwitchingProtocols {
					select {
					case got := <-next:
						if got != "text: hi" {
							t.Fatalf("the first Next returned %s, want the frame sent behind the head", got)
						}
					case <-time.After(timeout):
						t.Fatal("no message after the upgrade")
					}
					return
				}
				if !strings.Contains(body, "must have no body") {
					t.Errorf("refusal body %q does not say why", body)
				}
				if front != "Server" && front != "Serve" {
					select {
					case err := <-handshake:
						var he *wsio.HandshakeError
						if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
							t.Errorf("handshake error %v, want a *HandshakeError with 400", err)
						}
					case <-time.After(timeout):
						t.Fatal("the handshake did not end")
					}
				}
				// A refused handshake made no connection, so nothing was
				// read from the body as a message.
				select {
				case got := <-next:
					t.Errorf("a connection was accepted and read %s", got)
				default:
				}
			})
		}
	}
}

// TestHandshakeHostsAndOrigins: on every server path, Hosts refuses a
// request for another host with 421, which is what stops a DNS rebinding
// page (its Host and Origin name the attacker's host, so the same-origin
// check alone lets it through), and OriginPatterns match IPv6 literals.
func TestHandshakeHostsAndOrigins(t *testing.T) {
	t.Parallel()
	local := []string{"localhost", "127.0.0.1", "::1"}
	for _, tc := range []struct {
		name     string
		hosts    []string
		patterns []string
		host     string // the Host header, with the server's port appended
		origin   string // with the server's port appended when it ends in ":"
		status   int
	}{
		{"rebinding without Hosts", nil, nil, "rebind.evil.test", "http://rebind.evil.test:", http.StatusSwitchingProtocols},
		{"rebinding", local, nil, "rebind.evil.test", "http://rebind.evil.test:", http.StatusMisdirectedRequest},
		{"other host, no Origin", local, nil, "rebind.evil.test", "", http.StatusMisdirectedRequest},
		{"listed IP", local, nil, "127.0.0.1", "http://127.0.0.1:", http.StatusSwitchingProtocols},
		{"listed name, other case", local, nil, "LOCALHOST", "http://localhost:", http.StatusSwitchingProtocols},
		{"listed IPv6", local, nil, "[::1]", "", http.StatusSwitchingProtocols},
		{"listed host, cross origin", local, nil, "localhost", "http://evil.test", http.StatusForbidden},
		{"IPv6 pattern, any port", nil, []string{"[::1]:*"}, "127.0.0.1", "http://[::1]:3000", http.StatusSwitchingProtocols},
		{"IPv6 pattern, its port", nil, []string{"[::1]:3000"}, "127.0.0.1", "http://[::1]:3000", http.StatusSwitchingProtocols},
		{"IPv6 pattern, other port", nil, []string{"[::1]:3000"}, "127.0.0.1", "http://[::1]:3001", http.StatusForbidden},
	} {
		for _, front := range serverFronts {
			t.Run(front+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				addr, handshake, _ := startFront(t, front, wsio.ServerOptions{Hosts: tc.hosts, OriginPatterns: tc.patterns})
				_, port, _ := net.SplitHostPort(addr)
				req := upgradeRequest(addr).set("Host", tc.host+":"+port)
				if origin := tc.origin; origin != "" {
					if strings.HasSuffix(origin, ":") {
						origin += port
					}
					req = req.add("Origin", origin)
				}
				resp, body := req.do(t, addr)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %s (%q), want %d", resp.Status, body, tc.status)
				}
				if front == "Server" || front == "Serve" {
					return
				}
				select {
				case err := <-handshake:
					var he *wsio.HandshakeError
					switch {
					case tc.status == http.StatusSwitchingProtocols:
						if err != nil {
							t.Errorf("handshake: %v", err)
						}
					case !errors.As(err, &he) || he.Status != tc.status:
						t.Errorf("handshake error %v, want a *HandshakeError with %d", err, tc.status)
					}
				case <-time.After(timeout):
					t.Fatal("the handshake did not end")
				}
			})
		}
	}
}
