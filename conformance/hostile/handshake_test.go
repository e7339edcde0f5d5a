package hostile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

const goodKey = "dGhlIHNhbXBsZSBub25jZQ=="

// upgradeHead is a valid upgrade request head for host, with extra header
// lines (each ending in CRLF) before the blank line.
func upgradeHead(host, extra string) string {
	return "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + goodKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// rawRequest sends head on a new connection and reads the response head.
func rawRequest(t *testing.T, host, head string) (*http.Response, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := io.WriteString(nc, head); werr <- err }()
	resp, err := http.ReadResponse(bufio.NewReader(nc), &http.Request{Method: strings.Fields(head)[0]})
	if err == nil {
		_ = resp.Body.Close()
	}
	_ = nc.Close()
	<-werr
	return resp, err
}

func TestHandshakeSlowloris(t *testing.T) {
	t.Parallel()
	r := record(t, "Handshake", "slowloris: a valid request head sent one byte per 200 ms, HandshakeTimeout 1 s")
	s := startServer(t, wsio.ServerOptions{HandshakeTimeout: time.Second}, echo(false))
	nc, err := net.Dial("tcp", s.host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	type cut struct {
		at   time.Duration
		got  int
		resp string
		err  error
	}
	cutc := make(chan cut, 1)
	go func() {
		_ = nc.SetReadDeadline(start.Add(5 * time.Second))
		b, err := io.ReadAll(nc)
		if err == nil {
			err = io.EOF
		}
		cutc <- cut{time.Since(start), len(b), string(b), err}
	}()
	head := upgradeHead(s.host, "")
	sent := 0
	var c cut
loop:
	for sent < len(head) {
		select {
		case c = <-cutc:
			break loop
		case <-time.After(200 * time.Millisecond):
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := nc.Write([]byte{head[sent]}); err != nil {
				c = <-cutc
				break loop
			}
			sent++
		}
	}
	if sent == len(head) {
		t.Fatalf("the whole %d-byte head was accepted at one byte per 200 ms", len(head))
	}
	r.saw("closed after %v having received %d of %d bytes; %d response bytes %q; read error: %v", fmtDur(c.at), sent, len(head), c.got, c.resp, c.err)
	if !isClosedErr(c.err) {
		t.Errorf("the connection was not closed by the server: %v", c.err)
	}
	if c.at < 900*time.Millisecond || c.at > 2*time.Second {
		t.Errorf("cut after %v, want 1–2 s", c.at)
	}
	if c.got != 0 && !strings.HasPrefix(c.resp, "HTTP/1.1 400 ") {
		t.Errorf("response %q, want nothing or net/http's 400", c.resp)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsio.ServerOptions{HandshakeTimeout: time.Second}, echo(false))
	h := s.host
	std := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	req := func(method, proto, lines string) string {
		return method + " / " + proto + "\r\nHost: " + h + "\r\n" + lines + "\r\n"
	}
	pad := func(total int) string {
		// a head of exactly total bytes
		base := upgradeHead(h, "X-Pad: \r\n")
		return upgradeHead(h, "X-Pad: "+strings.Repeat("a", total-len(base))+"\r\n")
	}
	cases := []struct {
		name, tried string
		head        string
		status      int
		header      [2]string // a header the response must carry
	}{
		{"valid", "a valid upgrade request (control)", upgradeHead(h, ""), 101, [2]string{"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
		{"head-15KiB", "a 15 KiB request head", pad(15 << 10), 101, [2]string{}},
		{"head-32KiB", "a 32 KiB request head (over the 16 KiB cap)", pad(32 << 10), 431, [2]string{}},
		{"head-64KiB", "a 64 KiB request head", pad(64 << 10), 431, [2]string{}},
		{"key-missing", "no Sec-WebSocket-Key", req("GET", "HTTP/1.1", std), 400, [2]string{}},
		{"key-duplicated", "two Sec-WebSocket-Key lines", req("GET", "HTTP/1.1", std+"Sec-WebSocket-Key: "+goodKey+"\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"key-not-base64", "Sec-WebSocket-Key of 24 non-base64 characters", req("GET", "HTTP/1.1", std+"Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!\r\n"), 400, [2]string{}},
		{"key-15-bytes", "Sec-WebSocket-Key decoding to 15 bytes", req("GET", "HTTP/1.1", std+"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n"), 400, [2]string{}},
		{"key-17-bytes", "Sec-WebSocket-Key decoding to 17 bytes", req("GET", "HTTP/1.1", std+"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n"), 400, [2]string{}},
		{"key-empty", "empty Sec-WebSocket-Key", req("GET", "HTTP/1.1", std+"Sec-WebSocket-Key: \r\n"), 400, [2]string{}},
		{"version-8", "Sec-WebSocket-Version: 8", req("GET", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 426, [2]string{"Sec-WebSocket-Version", "13"}},
		{"version-missing", "no Sec-WebSocket-Version", req("GET", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 426, [2]string{"Sec-WebSocket-Version", "13"}},
		{"version-list", "Sec-WebSocket-Version: 13, 8", req("GET", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13, 8\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 426, [2]string{"Sec-WebSocket-Version", "13"}},
		{"POST", "method POST", req("POST", "HTTP/1.1", std+"Sec-WebSocket-Key: "+goodKey+"\r\n"), 405, [2]string{"Allow", "GET"}},
		{"PUT", "method PUT", req("PUT", "HTTP/1.1", std+"Sec-WebSocket-Key: "+goodKey+"\r\n"), 405, [2]string{"Allow", "GET"}},
		{"DELETE", "method DELETE", req("DELETE", "HTTP/1.1", std+"Sec-WebSocket-Key: "+goodKey+"\r\n"), 405, [2]string{"Allow", "GET"}},
		{"OPTIONS", "method OPTIONS", req("OPTIONS", "HTTP/1.1", std+"Sec-WebSocket-Key: "+goodKey+"\r\n"), 405, [2]string{"Allow", "GET"}},
		{"HTTP/1.0", "an HTTP/1.0 upgrade request", req("GET", "HTTP/1.0", std+"Sec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"connection-keep-alive", "Connection: keep-alive (no upgrade token)", req("GET", "HTTP/1.1", "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"connection-missing", "no Connection header", req("GET", "HTTP/1.1", "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"connection-upgradex", "Connection: upgradex", req("GET", "HTTP/1.1", "Upgrade: websocket\r\nConnection: upgradex\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"connection-list", "Connection: keep-alive, Upgrade (control)", req("GET", "HTTP/1.1", "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 101, [2]string{}},
		{"upgrade-h2c", "Upgrade: h2c", req("GET", "HTTP/1.1", "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"upgrade-missing", "no Upgrade header", req("GET", "HTTP/1.1", "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"upgrade-websocket2", "Upgrade: websocket2", req("GET", "HTTP/1.1", "Upgrade: websocket2\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 400, [2]string{}},
		{"upgrade-case", "Upgrade: WebSocket (control: tokens are case-insensitive)", req("GET", "HTTP/1.1", "Upgrade: WebSocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+goodKey+"\r\n"), 101, [2]string{}},
		{"origin-cross", "cross-origin Origin: http://evil.example, no allow-list", upgradeHead(h, "Origin: http://evil.example\r\n"), 403, [2]string{}},
		{"origin-other-port", "Origin on the same IP, another port", upgradeHead(h, "Origin: http://127.0.0.1:1\r\n"), 403, [2]string{}},
		{"origin-null", "Origin: null", upgradeHead(h, "Origin: null\r\n"), 403, [2]string{}},
		{"origin-two", "two Origin lines, one same-origin", upgradeHead(h, "Origin: http://"+h+"\r\nOrigin: http://evil.example\r\n"), 403, [2]string{}},
		{"origin-same", "same-origin Origin (control)", upgradeHead(h, "Origin: http://"+h+"\r\n"), 101, [2]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Handshake", fmt.Sprintf("%s (%d-byte head)", tc.tried, len(tc.head)))
			resp, err := rawRequest(t, h, tc.head)
			if err != nil {
				r.saw("no response: %v", err)
				t.Fatalf("reading the response: %v", err)
			}
			r.saw("%s", resp.Status)
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			} else if tc.header[0] != "" {
				r.saw("%s with %s: %s", resp.Status, tc.header[0], tc.header[1])
			}
		})
	}
}

// TestHandshakeRequestBody sends upgrade requests that declare a body and
// put a masked text frame in it. The body is HTTP's, not the WebSocket's:
// the server must refuse the request with 400 rather than upgrade and read
// the body's bytes as the client's first message (the echo handler would
// send it back). Content-Length: 0 declares no body, so the frame behind
// that head is the WebSocket's and is echoed.
func TestHandshakeRequestBody(t *testing.T) {
	t.Parallel()
	s := startServer(t, wsio.ServerOptions{HandshakeTimeout: time.Second}, echo(false))
	hi := frame(true, 0, opText, []byte("hi")) // 8 bytes
	cases := []struct {
		name, tried, lines string
		status             int
	}{
		{"content-length", "an upgrade request with Content-Length: 8, the body a masked text frame", "Content-Length: 8\r\n", 400},
		{"chunked", "an upgrade request with Transfer-Encoding: chunked, the body a masked text frame", "Transfer-Encoding: chunked\r\n", 400},
		{"content-length-and-chunked", "an upgrade request with both Content-Length: 8 and Transfer-Encoding: chunked (the smuggling signal), the body a masked text frame",
			"Content-Length: 8\r\nTransfer-Encoding: chunked\r\n", 400},
		{"content-length-0", "an upgrade request with Content-Length: 0 and a masked text frame behind the head (control)", "Content-Length: 0\r\n", 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Handshake", tc.tried)
			nc, err := net.DialTimeout("tcp", s.host, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write(append([]byte(upgradeHead(s.host, tc.lines)), hi...)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
			if err != nil {
				r.saw("no response: %v", err)
				t.Fatalf("reading the response: %v", err)
			}
			if resp.StatusCode == http.StatusSwitchingProtocols {
				f, err := readWireFrame(br, 1<<10)
				switch {
				case err != nil:
					r.saw("%s; then no frame: %v", resp.Status, err)
				case f.Opcode == opText:
					r.saw("%s; the frame behind the head was read as a message and echoed: %q", resp.Status, f.Payload)
				default:
					r.saw("%s; then a frame with opcode %d", resp.Status, f.Opcode)
				}
				if tc.status != 101 {
					t.Errorf("status %s, want %d", resp.Status, tc.status)
				} else if err != nil || f.Opcode != opText || string(f.Payload) != "hi" {
					t.Errorf("want the frame behind the head echoed")
				}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			_, eofErr := awaitEOF(nc, br, 5*time.Second)
			s.mu.Lock()
			ran := s.results[nc.LocalAddr().String()] != nil
			s.mu.Unlock()
			r.saw("%s %q; connection closed: %v; handler ran: %v", resp.Status, strings.TrimSpace(string(body)), eofErr == nil, ran)
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
			if eofErr != nil {
				t.Errorf("the server did not close the connection after refusing: %v", eofErr)
			}
			if ran {
				t.Errorf("a handler ran for a refused request")
			}
		})
	}
}

// TestHandshakeHostsAndOrigins: a DNS rebinding page reaches a service on
// 127.0.0.1 under the attacker's name, so its Host and Origin agree and the
// same-origin check passes it; ServerOptions.Hosts refuses it with 421.
// OriginPatterns are host[:port] patterns, not globs: IPv6 literals work.
func TestHandshakeHostsAndOrigins(t *testing.T) {
	t.Parallel()
	local := []string{"localhost", "127.0.0.1", "::1"}
	cases := []struct {
		name, tried string
		opts        wsio.ServerOptions
		host        string // the Host header; the server's port is appended
		origin      string // "" for none; "{port}" is the server's port
		status      int
	}{
		{"rebinding-without-hosts", "DNS rebinding: Host and Origin name the attacker's host on the server's port, no Hosts (documented: same-origin trusts Host)",
			wsio.ServerOptions{}, "rebind.evil.example", "http://rebind.evil.example:{port}", 101},
		{"rebinding-hosts", "DNS rebinding: Host and Origin name the attacker's host on the server's port, Hosts: localhost, 127.0.0.1, ::1",
			wsio.ServerOptions{Hosts: local}, "rebind.evil.example", "http://rebind.evil.example:{port}", 421},
		{"hosts-other-no-origin", "Host: the attacker's host, no Origin, Hosts: localhost, 127.0.0.1, ::1",
			wsio.ServerOptions{Hosts: local}, "rebind.evil.example", "", 421},
		{"hosts-listed", "Host: 127.0.0.1, Hosts: localhost, 127.0.0.1, ::1 (control)",
			wsio.ServerOptions{Hosts: local}, "127.0.0.1", "", 101},
		{"origin-ipv6-pattern", "Origin: http://[::1]:3000, OriginPatterns: [::1]:*",
			wsio.ServerOptions{OriginPatterns: []string{"[::1]:*"}}, "127.0.0.1", "http://[::1]:3000", 101},
		{"origin-ipv6-pattern-other", "Origin: http://[::2]:3000, OriginPatterns: [::1]:*",
			wsio.ServerOptions{OriginPatterns: []string{"[::1]:*"}}, "127.0.0.1", "http://[::2]:3000", 403},
		{"origin-wildcard-deep", "Origin: https://a.b.example.com, OriginPatterns: *.example.com (one or more labels)",
			wsio.ServerOptions{OriginPatterns: []string{"*.example.com"}}, "127.0.0.1", "https://a.b.example.com", 101},
		{"origin-not-glob", "Origin: http://example.com, OriginPatterns: exa?ple.com (no glob syntax)",
			wsio.ServerOptions{OriginPatterns: []string{"exa?ple.com"}}, "127.0.0.1", "http://example.com", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Handshake", tc.tried)
			tc.opts.HandshakeTimeout = time.Second
			s := startServer(t, tc.opts, echo(false))
			_, port, _ := net.SplitHostPort(s.host)
			extra := ""
			if tc.origin != "" {
				extra = "Origin: " + strings.ReplaceAll(tc.origin, "{port}", port) + "\r\n"
			}
			resp, err := rawRequest(t, s.host, upgradeHead(tc.host+":"+port, extra))
			if err != nil {
				r.saw("no response: %v", err)
				t.Fatalf("reading the response: %v", err)
			}
			r.saw("%s", resp.Status)
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
		})
	}
}

// TestHandshakeHeaderCapBoundary probes the exact size of the largest
// accepted head: the spec (README, ListenAndServe's doc) says 16 KiB.
func TestHandshakeHeaderCapBoundary(t *testing.T) {
	t.Parallel()
	r := record(t, "Handshake", "a request head of 16 KiB + 1 byte, and the largest head accepted (binary search)")
	s := startServer(t, wsio.ServerOptions{HandshakeTimeout: time.Second}, echo(false))
	status := func(total int) int {
		base := upgradeHead(s.host, "X-Pad: \r\n")
		head := upgradeHead(s.host, "X-Pad: "+strings.Repeat("a", total-len(base))+"\r\n")
		resp, err := rawRequest(t, s.host, head)
		if err != nil {
			t.Fatalf("%d-byte head: %v", total, err)
		}
		return resp.StatusCode
	}
	lo, hi := 16<<10, 64<<10 // lo accepted? checked below; hi refused
	if st := status(hi); st != 431 {
		t.Fatalf("a %d-byte head got %d, want 431", hi, st)
	}
	over := status(16<<10 + 1)
	if over == 431 {
		r.saw("431 for 16 KiB + 1")
		return
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if status(mid) == 431 {
			hi = mid
		} else {
			lo = mid
		}
	}
	bug(t, r, "a request head of 16385 bytes (16 KiB + 1) gets %d, not 431; the largest head accepted is %d bytes (16 KiB + %d): "+
		"net/http reads MaxHeaderBytes + 4096 bytes before refusing, so the effective cap of Serve/ListenAndServe is 20 KiB, not the documented 16 KiB", over, lo, lo-16<<10)
}

// TestHandshakeHalfOpenFlood holds 1,000 connections that each sent half
// a request head. Bound on heap growth: net/http keeps, per connection
// waiting for its head, the conn struct, a 4 KiB bufio.Reader and a
// 4 KiB bufio.Writer plus the partial request: about 10 KiB, so 1,000
// connections need about 10 MiB, and the attacker's own 1,000 sockets a
// few hundred KiB more; 64 MiB leaves room for the race detector's
// bookkeeping while still catching any per-connection buffer of 64 KiB
// or more.
func TestHandshakeHalfOpenFlood(t *testing.T) {
	r := record(t, "Handshake", "1,000 concurrent half-open handshakes (half a request head each, then silence), HandshakeTimeout 2 s; a normal client meanwhile")
	const n = 1000
	const timeout = 2 * time.Second
	s := startServer(t, wsio.ServerOptions{HandshakeTimeout: timeout}, echo(false))
	hw := watchHeap(t)
	half := upgradeHead(s.host, "")[:60]

	type victim struct {
		nc     net.Conn
		sentAt time.Time
		cutAt  time.Time
		resp   string
		err    error
	}
	vs := make([]*victim, n)
	var wg sync.WaitGroup
	var dialErrs atomic.Int64
	sem := make(chan struct{}, 64)
	for i := range vs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			nc, err := net.DialTimeout("tcp", s.host, 5*time.Second)
			if err != nil {
				dialErrs.Add(1)
				return
			}
			v := &victim{nc: nc}
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := io.WriteString(nc, half); err != nil {
				dialErrs.Add(1)
			}
			v.sentAt = time.Now()
			vs[i] = v
		})
	}
	wg.Wait()
	defer func() {
		for _, v := range vs {
			if v != nil {
				_ = v.nc.Close()
			}
		}
	}()
	dialed := time.Now()
	if dialErrs.Load() > 0 {
		t.Fatalf("%d of %d connections could not be opened", dialErrs.Load(), n)
	}
	// Every victim waits for its cut on its own goroutine.
	for _, v := range vs {
		wg.Go(func() {
			_ = v.nc.SetReadDeadline(v.sentAt.Add(timeout + 5*time.Second))
			b, err := io.ReadAll(v.nc)
			if err == nil {
				err = io.EOF
			}
			v.cutAt, v.resp, v.err = time.Now(), string(b), err
		})
	}

	// Meanwhile a normal client connects and echoes.
	c := dialClient(t, s.url, nil)
	rtt, err := echoRoundTrip(c, "still serving", time.Second)
	if err != nil {
		t.Errorf("a normal client during the flood: %v", err)
	}
	_ = c.Close(wsio.StatusNormalClosure, "")
	held := time.Since(dialed)
	live := int64(liveHeap()) - int64(hw.base)
	wg.Wait()
	grow := hw.growth()
	hw.end()

	early, late, notCut, answered := 0, 0, 0, 0
	var worst time.Duration
	for _, v := range vs {
		if !isClosedErr(v.err) || v.resp != "" && !strings.HasPrefix(v.resp, "HTTP/1.1 400 ") {
			notCut++
			t.Logf("victim: %v, response %q", v.err, v.resp)
			continue
		}
		if v.resp != "" {
			answered++
		}
		// The server's header timer starts when its connection goroutine
		// starts reading, just after Accept.
		sc := s.conn(v.nc.LocalAddr().String())
		if sc == nil {
			notCut++
			continue
		}
		d := v.cutAt.Sub(sc.acceptedAt)
		worst = max(worst, d)
		if d < timeout-50*time.Millisecond {
			early++
		}
		if d > timeout+1500*time.Millisecond {
			late++
		}
	}
	r.saw("live heap with all %d held: +%s (peak +%s); %d cut at the timeout (%d with net/http's 400), %d not cut, %d early, %d late (latest %v after its accept); a normal client echoed in %v meanwhile",
		n, mib(live), mib(grow), n-notCut-early-late, answered, notCut, early, late, fmtDur(worst), fmtDur(rtt))
	if held > timeout-200*time.Millisecond {
		t.Logf("the normal client took until %v after the flood was in place", held)
	}
	if live > 64<<20 || grow > 64<<20 {
		t.Errorf("heap grew by %s live, %s peak, want < 64 MiB", mib(live), mib(grow))
	}
	if notCut > 0 || early > 0 || late > 0 {
		t.Errorf("of %d half-open connections: %d not cut, %d cut before %v, %d cut after %v", n, notCut, early, timeout-50*time.Millisecond, late, timeout+1500*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Next(ctx); !errors.Is(err, wsio.ErrClosed) {
		t.Errorf("after Close, Next: %v", err)
	}
}
