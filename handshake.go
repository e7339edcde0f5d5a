package wsio

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/wsio/wsio/internal/sock"
)

// keyGUID is the constant RFC 6455 appends to the client's key.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes the Sec-WebSocket-Accept value for a client's
// Sec-WebSocket-Key.
func acceptKey(key string) string {
	var out [28]byte
	return string(appendAcceptKey(out[:0], key))
}

// appendAcceptKey appends acceptKey(key), 28 bytes, to dst.
func appendAcceptKey(dst []byte, key string) []byte {
	var in [64]byte
	var b []byte
	if len(key)+len(keyGUID) <= len(in) {
		b = append(in[:0], key...) // the usual 24-byte key: no allocation
	} else {
		b = []byte(key)
	}
	sum := sha1.Sum(append(b, keyGUID...))
	n := len(dst)
	dst = slices.Grow(dst, 28)[:n+28] // base64 of 20 bytes
	base64.StdEncoding.Encode(dst[n:], sum[:])
	return dst
}

// first returns the first of a header's values, or "" (Header.Get for a
// key already in canonical form).
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// validKey reports whether key is the base64 form of 16 bytes.
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}

// hasToken reports whether any of the header's comma-separated values
// equals token, ignoring case and optional white space.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// headerList splits a header's comma-separated values into trimmed,
// non-empty tokens, in order.
func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h[name] {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// isToken reports whether s is an HTTP token (RFC 9110, 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// HandshakeError is a failed opening handshake: the HTTP status the server
// answered (or answers) with and why. Status is 0 when no response was
// exchanged (the peer went away or was too slow).
type HandshakeError struct {
	Status int
	Reason string
}

// Error describes the failure.
func (e *HandshakeError) Error() string {
	if e.Status == 0 {
		return "websocket: bad handshake: " + e.Reason
	}
	return fmt.Sprintf("websocket: bad handshake: %d %s: %s", e.Status, http.StatusText(e.Status), e.Reason)
}

// Unwrap returns ErrBadHandshake.
func (e *HandshakeError) Unwrap() error { return ErrBadHandshake }

// responseHead is a parsed HTTP/1.1 response head.
type responseHead struct {
	proto      string
	status     int
	statusText string
	header     http.Header
}

// headEnd returns the length of the head at the start of b: up to and
// including the first empty line (CRLF or bare LF line ends, in any mix),
// or -1 when b holds no empty line yet. from is where the search may
// resume (the caller already scanned b[:from] without finding one).
func headEnd(b []byte, from int) int {
	start := 0
	if from > 0 {
		// Resume at the start of the line that was cut off.
		if i := bytes.LastIndexByte(b[:from], '\n'); i >= 0 {
			start = i + 1
		}
	}
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		line := b[start : start+i]
		if start > 0 && (len(line) == 0 || len(line) == 1 && line[0] == '\r') {
			return start + i + 1
		}
		start += i + 1
	}
}

// cutLine cuts s at its first line end (LF, or CRLF): the line without
// it, and what follows.
func cutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

// headBufs holds the buffers handshakes read HTTP heads into: 4 KiB,
// which a browser's head fits in; a longer head grows the buffer up to
// the cap. A connection keeps none.
var headBufs = sync.Pool{New: func() any {
	b := make([]byte, 4096)
	return &b
}}

// errHeadTooLarge means no head ended within the cap.
var errHeadTooLarge = errors.New("HTTP head too large")

// readHeadBytes reads from r into a buffer from headBufs until it holds a
// whole HTTP head (see headEnd), reading at most max bytes. It returns the
// buffer, holding every byte read, and the head's length; the caller puts
// the buffer back. No head within max bytes is errHeadTooLarge; a read
// error before the head ended is returned as it is (io.ErrUnexpectedEOF
// for the end of the stream inside a head).
//
// While arm is not nil, each read is first tried without waiting
// (sock.Socket.TryRead), and arm is called before the first read that has
// to wait.
func readHeadBytes(r io.Reader, max int, arm func()) (*[]byte, int, error) {
	var s *sock.Socket
	if arm != nil {
		s = sock.Of(r)
	}
	bp := headBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	fail := func(err error) (*[]byte, int, error) {
		*bp = buf[:0]
		headBufs.Put(bp)
		return nil, 0, err
	}
	for {
		if len(buf) >= max {
			return fail(errHeadTooLarge)
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(2*cap(buf), max)-len(buf))
		}
		scanned, room := len(buf), buf[len(buf):min(cap(buf), max)]
		var n int
		var err error
		tried := false
		if arm != nil {
			if n, tried, err = s.TryRead(room); !tried {
				arm()
				arm = nil
			}
		}
		if !tried {
			n, err = r.Read(room)
		}
		buf = buf[:len(buf)+n]
		if n > 0 {
			if end := headEnd(buf, scanned); end >= 0 {
				*bp = buf
				return bp, end, nil
			}
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return fail(err)
		}
	}
}

// errIncompleteHead means the bytes so far hold no complete head.
var errIncompleteHead = errors.New("incomplete HTTP head")

// parseResponseHead parses the HTTP response head at the start of b. It
// returns the head and its length, errIncompleteHead if b does not hold a
// whole head yet, or an error for a malformed one. It accepts only what
// RFC 9112 allows: a status line "HTTP/1.x NNN reason", header fields that
// are "token: value" with no obsolete line folding, CRLF line ends (a bare
// LF is tolerated as the RFC permits).
func parseResponseHead(b []byte) (*responseHead, int, error) {
	n := headEnd(b, 0)
	if n < 0 {
		return nil, 0, errIncompleteHead
	}
	status, rest := cutLine(string(b[:n]))
	proto, after, ok := strings.Cut(status, " ")
	if !ok || (proto != "HTTP/1.1" && proto != "HTTP/1.0") {
		return nil, 0, fmt.Errorf("malformed status line %q", truncUTF8(status, 64))
	}
	codeStr, text, _ := strings.Cut(after, " ")
	code, err := strconv.Atoi(codeStr)
	if err != nil || len(codeStr) != 3 || code < 100 {
		return nil, 0, fmt.Errorf("malformed status code %q", truncUTF8(codeStr, 16))
	}
	// One array holds every field's first value, as net/textproto does: a
	// field's slice has capacity 1, so a repeated field's append copies.
	lines := strings.Count(rest, "\n")
	h := make(http.Header, lines)
	firsts := make([]string, lines)
	for rest != "" {
		var l string
		l, rest = cutLine(rest)
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			return nil, 0, errors.New("obsolete header line folding")
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) {
			return nil, 0, fmt.Errorf("malformed header line %q", truncUTF8(l, 64))
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < 0x20 && c != '\t' || c == 0x7F {
				return nil, 0, fmt.Errorf("control character in header %q", name)
			}
		}
		key := fieldName(name)
		switch {
		case key != "":
		case len(name) == len("Sec-Websocket-Accept") && strings.EqualFold(name, "Sec-Websocket-Accept"):
			key = "Sec-Websocket-Accept" // as servers spell it, it is not canonical: spare the allocation
		default:
			key = textproto.CanonicalMIMEHeaderKey(name)
		}
		if vv, seen := h[key]; seen || len(firsts) == 0 {
			h[key] = append(vv, value)
		} else {
			firsts[0] = value
			h[key] = firsts[:1:1]
			firsts = firsts[1:]
		}
	}
	return &responseHead{proto: proto, status: code, statusText: text, header: h}, n, nil
}
