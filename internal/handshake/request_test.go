package handshake

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// upgradeHeads are request heads as real clients send them.
var upgradeHeads = map[string]string{
	"wsio": "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"chromium": "GET /chat?room=7 HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\nPragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36\r\n" +
		"Upgrade: websocket\r\nOrigin: http://example.test\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-US\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
	"ws": "GET / HTTP/1.1\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n" +
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\nHost: localhost:9000\r\n\r\n",
	"python websockets": "GET /p HTTP/1.1\r\nHost: [::1]:9000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nUser-Agent: Python/3.11 websockets/10.4\r\n\r\n",
}

// TestParseUpgradeHead checks which heads the fast parser takes and which
// it leaves to net/http, and that what it takes agrees with net/http.
func TestParseUpgradeHead(t *testing.T) {
	t.Parallel()
	base := upgradeHeads["wsio"]
	edit := func(old, new string) string { return strings.Replace(base, old, new, 1) }
	for name, tc := range map[string]struct {
		head string
		fast bool
	}{
		"wsio":                 {base, true},
		"chromium":             {upgradeHeads["chromium"], true},
		"ws":                   {upgradeHeads["ws"], true},
		"python websockets":    {upgradeHeads["python websockets"], true},
		"names in any case":    {strings.NewReplacer("Host:", "host:", "Upgrade:", "UPGRADE:", "Sec-WebSocket-Key:", "sec-websocket-key:").Replace(base), true},
		"repeated key":         {edit("Upgrade\r\n", "Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"), true},
		"trailing white space": {edit("Version: 13", "Version: \t13 \t"), true},
		"percent-encoded path": {edit("GET /echo", "GET /a%20b"), true},
		"query":                {edit("GET /echo", "GET /echo?a=1&b=%41#f"), true},
		"empty query":          {edit("GET /echo", "GET /echo?"), true},
		"two question marks":   {edit("GET /echo", "GET /echo??"), true},
		"plain punctuation":    {edit("GET /echo", "GET /a-b.c_d~e/$&+,:;=@"), true},
		"escaped punctuation":  {edit("GET /echo", "GET /a!b*c(d)e'f[g]"), true},
		"fragment in path":     {edit("GET /echo", "GET /a#b"), true},
		"double slash":         {edit("GET /echo", "GET //host/echo"), true},
		"POST":                 {edit("GET", "POST"), false},
		"HTTP/1.0":             {edit("HTTP/1.1\r\n", "HTTP/1.0\r\n"), false},
		"HTTP/2.0":             {edit("HTTP/1.1\r\n", "HTTP/2.0\r\n"), false},
		"absolute target":      {edit("GET /echo", "GET http://h/echo"), false},
		"asterisk target":      {edit("GET /echo", "GET *"), false},
		"bare LF":              {strings.ReplaceAll(base, "\r\n", "\n"), false},
		"CR inside a line":     {edit("Upgrade: websocket", "Upgrade: web\rsocket"), false},
		"folded line":          {edit("Connection: Upgrade\r\n", "Connection: Upgrade\r\n  , x\r\n"), false},
		"no Host":              {edit("Host: 127.0.0.1:8080\r\n", ""), false},
		"two Hosts":            {edit("Upgrade: websocket", "Host: a\r\nUpgrade: websocket"), false},
		"bad header name":      {edit("Upgrade:", "Up grade:"), false},
		"space before colon":   {edit("Upgrade:", "Upgrade :"), false},
		"control in value":     {edit("websocket", "web\x00socket"), false},
		"DEL in value":         {edit("websocket", "web\x7fsocket"), false},
		"Content-Length":       {edit("Upgrade:", "Content-Length: 0\r\nUpgrade:"), false},
		"Transfer-Encoding":    {edit("Upgrade:", "transfer-encoding: chunked\r\nUpgrade:"), false},
		"bad escape in target": {edit("GET /echo", "GET /%zz"), false},
		"non-ASCII in target":  {edit("GET /echo", "GET /\xc3\xa9"), false},
		"two spaces after GET": {edit("GET /echo", "GET  /echo"), false},
		"empty request line":   {"\r\n" + base, false},
		"no empty line at end": {strings.TrimSuffix(base, "\r\n"), false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := &UpgradeReq{h: make(http.Header)}
			ok := parseUpgradeHead(tc.head, q)
			if ok != tc.fast {
				t.Fatalf("fast path taken = %v, want %v", ok, tc.fast)
			}
			if ok {
				agreeWithNetHTTP(t, tc.head, &q.r)
			}
		})
	}
}

// agreeWithNetHTTP fails unless http.ReadRequest accepts head and finds
// what the fast parser found in r.
func agreeWithNetHTTP(t *testing.T, head string, r *http.Request) {
	t.Helper()
	want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
	if err != nil {
		t.Fatalf("the fast parser accepted %q, net/http did not: %v", head, err)
	}
	switch {
	case r.Method != want.Method, r.Proto != want.Proto, r.ProtoMajor != want.ProtoMajor, r.ProtoMinor != want.ProtoMinor:
		t.Fatalf("request line: %s %s (%d.%d), net/http: %s %s (%d.%d)", r.Method, r.Proto, r.ProtoMajor, r.ProtoMinor,
			want.Method, want.Proto, want.ProtoMajor, want.ProtoMinor)
	case *r.URL != *want.URL, r.RequestURI != want.RequestURI:
		t.Fatalf("target %q (path %q), net/http: %q (path %q)", r.URL, r.URL.Path, want.URL, want.URL.Path)
	case r.Host != want.Host:
		t.Fatalf("Host %q, net/http: %q", r.Host, want.Host)
	case CheckHead(r) != CheckHead(want):
		t.Fatalf("CheckHead: %q, net/http's request: %q", CheckHead(r), CheckHead(want))
	}
	for _, key := range upgradeFields {
		if !slices.Equal(r.Header[key], want.Header[key]) {
			t.Fatalf("%s: %q, net/http: %q", key, r.Header[key], want.Header[key])
		}
	}
	// The root's choices of subprotocol and extensions read only the
	// fields compared above; its checks are CheckUpgrade's.
	for _, o := range []struct{ hosts, patterns []string }{{}, {patterns: []string{"*.example.test"}}, {hosts: []string{"example.test", "127.0.0.1"}}} {
		as, ar := CheckUpgrade(r, o.hosts, o.patterns)
		bs, br := CheckUpgrade(want, o.hosts, o.patterns)
		if as != bs || ar != br {
			t.Fatalf("CheckUpgrade: %d %q, on net/http's request: %d %q", as, ar, bs, br)
		}
	}
	if a, b := HeaderList(r.Header, "Sec-Websocket-Protocol"), HeaderList(want.Header, "Sec-Websocket-Protocol"); !slices.Equal(a, b) {
		t.Fatalf("subprotocols: %q, net/http: %q", a, b)
	}
}

// FuzzParseUpgradeHead: whatever head the fast parser accepts, net/http
// accepts with the same request line, Host and handshake fields; and
// ReadRequestHead, fed one byte at a time, finds the same head.
func FuzzParseUpgradeHead(f *testing.F) {
	for _, h := range upgradeHeads {
		f.Add(h + "\x81\x80abcd")
	}
	base := upgradeHeads["wsio"]
	for _, s := range []string{
		strings.ToLower(base),
		strings.Replace(base, "Upgrade\r\n", "Upgrade\r\nsec-websocket-key: x\r\n", 1),
		strings.Replace(base, "/echo", "/a/../b%2F?q=%41#frag", 1),
		strings.Replace(base, "/echo", "//a:b@c/;d=e?f?", 1),
		strings.Replace(base, "/echo", "/[x]!?", 1),
		strings.Replace(base, "13", " 13\t", 1),
		strings.Replace(base, "Host: ", "Host: a b", 1),
		strings.Replace(base, "Host: ", "Host:\t", 1),
		strings.Replace(base, "websocket", "websocket\xff", 1),
		strings.Replace(base, "\r\n\r\n", "\r\nOrigin: http://[::1\r\n\r\n", 1),
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		end := headEnd([]byte(s), 0)
		if end < 0 {
			return
		}
		head := s[:end]
		// A pooled request, so one left dirty by an earlier input shows.
		q := upgradeReqs.Get().(*UpgradeReq)
		if parseUpgradeHead(head, q) {
			agreeWithNetHTTP(t, head, &q.r)
		}
		q.Release()
		// The head reader over the same bytes, one at a time.
		r, _, got, pre, err := ReadRequestHead(iotest.OneByteReader(strings.NewReader(s)), 16<<10, false, nil, nil)
		switch {
		case len(head) > 16<<10:
			if err != ErrHeadTooLarge {
				t.Fatalf("a %d-byte head: %v", len(head), err)
			}
		case got != head || len(pre) != 0:
			t.Fatalf("read head %q with %d bytes after it, want %q", got, len(pre), head)
		case err == nil && r == nil:
			t.Fatal("no request and no error")
		}
	})
}

// TestReadRequestHeadCap: a head of exactly the cap is read whole, one
// byte more is ErrHeadTooLarge, whatever sizes the reads come in.
func TestReadRequestHeadCap(t *testing.T) {
	t.Parallel()
	const max = 16 << 10
	base := upgradeHeads["wsio"]
	pad := func(total int) string {
		return strings.Replace(base, "\r\n\r\n", "\r\nX-Pad: "+strings.Repeat("a", total-len(base)-len("X-Pad: \r\n"))+"\r\n\r\n", 1)
	}
	for _, chunk := range []int{1, 1000, 4096, 5000, 64 << 10} {
		for _, size := range []int{max - 1, max, max + 1, 3 * max} {
			head := pad(size)
			cr := &chunkReader{b: []byte(head + "\x81\x80abcd"), n: chunk}
			r, _, got, _, err := ReadRequestHead(cr, max, false, nil, nil)
			if size > max {
				if err != ErrHeadTooLarge {
					t.Errorf("reads of %d: a %d-byte head gave %v, want ErrHeadTooLarge", chunk, size, err)
				}
				continue
			}
			if err != nil || got != head || r == nil {
				t.Errorf("reads of %d: a %d-byte head gave %v (read %d bytes)", chunk, size, err, len(got))
			}
		}
	}
}

// BenchmarkReadRequestHead reads and parses a browser's upgrade request:
// the fast path, and net/http's parse (which SelectSubprotocol gets).
func BenchmarkReadRequestHead(b *testing.B) {
	head := []byte(upgradeHeads["chromium"])
	for _, full := range []bool{false, true} {
		name := map[bool]string{false: "fast", true: "net-http"}[full]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cr := &chunkReader{}
			for b.Loop() {
				cr.b, cr.n = head, len(head)
				_, q, _, _, err := ReadRequestHead(cr, 16<<10, full, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if q != nil {
					q.Release()
				}
			}
		})
	}
}

// TestAcceptKey: RFC 6455's example (1.3), and keys of other lengths
// against a plain SHA-1 of key + GUID.
func TestAcceptKey(t *testing.T) {
	t.Parallel()
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("RFC example: %q", got)
	}
	for _, n := range []int{0, 1, 24, 28, 29, 100} {
		key := strings.Repeat("k", n)
		sum := sha1.Sum([]byte(key + keyGUID))
		if want := base64.StdEncoding.EncodeToString(sum[:]); AcceptKey(key) != want {
			t.Errorf("%d-byte key: %q, want %q", n, AcceptKey(key), want)
		}
	}
}
