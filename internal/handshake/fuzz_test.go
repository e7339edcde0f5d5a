package handshake

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
		"HTTP/1.0 403 Forbidden\nContent-Length: 3\n\nno!",
		"HTTP/1.1 200\r\n\r\n",
		"HTTP/1.1 200 OK\r\nx-lower-case: 1\r\nX-LOWER-CASE: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: caf\xc3\xa9\t\r\n\r\n",
		"HTTP/1.1 +01 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 101",
		"HTTP/1.1 101 OK\r\nA: b\r\n",
		"",
		"\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		head, n, err := parseResponseHead(b)
		if err == nil {
			if n <= 0 || n > len(b) {
				t.Fatalf("n=%d for %d bytes", n, len(b))
			}
			if head.Status < 100 || head.Status > 999 {
				t.Fatalf("status %d", head.Status)
			}
			if head.Proto != "HTTP/1.1" && head.Proto != "HTTP/1.0" {
				t.Fatalf("proto %q", head.Proto)
			}
			for k, vs := range head.Header {
				if k != textproto.CanonicalMIMEHeaderKey(k) || !IsToken(k) {
					t.Fatalf("header key %q is not a canonical token", k)
				}
				for _, v := range vs {
					if strings.ContainsAny(v, "\r\n\x00\x7f") || strings.Trim(v, " \t") != v {
						t.Fatalf("header value %q", v)
					}
				}
			}
		} else if n != 0 || head != nil {
			t.Fatalf("error %v with n=%d head=%v", err, n, head)
		}

		// ReadResponseHead over the same bytes one at a time must agree.
		const maxBytes = 16 << 10
		// One byte at a time, except for long inputs: ReadResponseHead reparses the
		// whole buffer after every read, which is quadratic, and would make
		// the fuzzer crawl.
		var r io.Reader = iotest.OneByteReader(bytes.NewReader(b))
		if len(b) > 4<<10 {
			r = &chunkReader{b: b, n: 509}
		}
		rh, rest, rerr := ReadResponseHead(r, maxBytes)
		var diff string
		switch {
		case err == errIncompleteHead:
			if rerr == nil {
				diff = fmt.Sprintf("ReadResponseHead parsed an incomplete head: %+v", rh)
			}
		case err != nil:
			if rerr == nil {
				diff = fmt.Sprintf("parseResponseHead: %v; ReadResponseHead succeeded: %+v", err, rh)
			}
		case n > maxBytes+4:
			if rerr == nil {
				diff = fmt.Sprintf("ReadResponseHead accepted a %d-byte head", n)
			}
		case rerr != nil:
			diff = fmt.Sprintf("parseResponseHead succeeded (n=%d); ReadResponseHead: %v", n, rerr)
		case rh.Status != head.Status || rh.Proto != head.Proto || rh.StatusText != head.StatusText ||
			!equalHeader(rh.Header, head.Header):
			diff = fmt.Sprintf("ReadResponseHead %+v, parseResponseHead %+v", rh, head)
		case !bytes.HasPrefix(b[n:], rest):
			diff = fmt.Sprintf("ReadResponseHead returned %q past the head", rest)
		case len(b) <= 4<<10 && len(rest) != 0:
			// OneByteReader: ReadResponseHead stops right after the head.
			diff = fmt.Sprintf("ReadResponseHead read %d bytes past the head", len(rest))
		}
		if diff != "" {
			t.Fatalf("input %q: %s", b, diff)
		}
	})
}

// chunkReader returns b in reads of at most n bytes.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || strings.Join(va, "\x00") != strings.Join(vb, "\x00") || len(va) != len(vb) {
			return false
		}
	}
	return true
}

// TestParseResponseHeadEarliestTerminator: parseResponseHead looks for
// "\r\n\r\n" first and for "\n\n" only when there is none, and never for the
// mixed ends "\r\n\n" and "\n\r\n" that its bare-LF tolerance implies. A
// head that ends with "\n\n", followed in the same read by bytes containing
// "\r\n\r\n" (a WebSocket frame, a body), is cut at the later terminator, so
// those bytes are parsed as header lines; ReadResponseHead, fed one byte at a time,
// cuts it right, so the result depends on how the bytes arrive.
func TestParseResponseHeadEarliestTerminator(t *testing.T) {
	for _, tc := range []struct{ in, after string }{
		{"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n", "\x81\x04\r\n\r\n"},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\n", "\x81\x00"},
		{"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\r\n", "\x81\x00"},
	} {
		in := []byte(tc.in + tc.after)
		head, n, err := parseResponseHead(in)
		if err != nil || n != len(tc.in) || head.Header.Get("Upgrade") != "websocket" {
			t.Errorf("parseResponseHead(%q): n=%d (want %d), err=%v", in, n, len(tc.in), err)
		}
	}
}

// TestParseResponseHeadErrorText: a malformed line is quoted in the error
// cut to its first 64 characters (16 for a status code), never inside a
// UTF-8 sequence.
func TestParseResponseHeadErrorText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("\u00e9", 100) // 200 bytes
	for _, tc := range []struct{ in, want string }{
		{"HTTP/9 " + long + "\r\n\r\n", fmt.Sprintf("malformed status line %q", ("HTTP/9 " + long)[:7+2*57])},
		{"HTTP/1.1 " + long + "\r\n\r\n", fmt.Sprintf("malformed status code %q", long[:2*16])},
		{"HTTP/1.1 101 OK\r\n" + long + "\r\n\r\n", fmt.Sprintf("malformed header line %q", long[:2*64])},
		{"HTTP/1.1 101 OK\r\nX: a\x01b\r\n\r\n", `control character in header "X"`},
	} {
		_, _, err := parseResponseHead([]byte(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("parseResponseHead(%.20q...): %v, want %s", tc.in, err, tc.want)
		}
	}
}

func FuzzHeaderTokens(f *testing.F) {
	for _, s := range [][2]string{
		{"Upgrade", "websocket"},
		{"keep-alive, Upgrade", "upgrade"},
		{" , ,UPGRADE ,", "Upgrade"},
		{"a,,b", ""},
		{"\u00a0websocket\u0085", "websocket"},
		{"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=="},
		{"dGhlIHNhbXBsZSBub25jZQ=", "x"},
		{"AAAAAAAAAAAAAAAAAAAAAA==", "tok!#$%&'*+-.^_`|~"},
		{"AAAAAAAAAAAAAAAAAAAAAB==", "\xff"},
		{"chat, superchat\t,\tv2.json", "superchat"},
	} {
		f.Add(s[0], s[1], "x,y")
	}
	f.Fuzz(func(t *testing.T, v, tok, v2 string) {
		h := http.Header{"X": {v, v2}}
		list := HeaderList(h, "X")
		for _, e := range list {
			if e == "" || strings.TrimSpace(e) != e || strings.Contains(e, ",") {
				t.Fatalf("headerList element %q", e)
			}
		}
		// Every element of the list is found by hasToken.
		for _, e := range list {
			if !HasToken(h, "X", e) {
				t.Fatalf("hasToken misses list element %q", e)
			}
		}
		// For each candidate token, hasToken agrees with list membership.
		cands := []string{tok, strings.TrimSpace(tok)}
		for _, part := range strings.Split(v, ",") {
			cands = append(cands, part, strings.TrimSpace(part), strings.ToUpper(strings.TrimSpace(part)))
		}
		for _, c := range cands {
			if c == "" {
				continue // an empty token matches an empty element, which headerList drops
			}
			in := false
			for _, e := range list {
				if strings.EqualFold(e, c) {
					in = true
				}
			}
			if got := HasToken(h, "X", c); got != in {
				t.Fatalf("HasToken(%q, %q) = %v, list %q", []string{v, v2}, c, got, list)
			}
		}
		if HasToken(http.Header{}, "X", tok) || HeaderList(http.Header{}, "X") != nil {
			t.Fatal("empty header matched")
		}

		// isToken against a plain reference.
		const tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		for _, s := range []string{v, tok} {
			want := s != ""
			for i := 0; i < len(s); i++ {
				if strings.IndexByte(tchar, s[i]) < 0 {
					want = false
				}
			}
			if got := IsToken(s); got != want {
				t.Fatalf("IsToken(%q) = %v", s, got)
			}
		}

		// validKey: 24 characters of standard base64 for 16 bytes.
		for _, s := range []string{v, tok} {
			d, err := base64Std(s)
			want := len(s) == 24 && err == nil && len(d) == 16
			if got := ValidKey(s); got != want {
				t.Fatalf("ValidKey(%q) = %v", s, got)
			}
		}
	})
}
