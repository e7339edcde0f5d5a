package handshake

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// ReadRequestHead reads a request head from r, at most max bytes, and
// parses it. It returns the head as read and the bytes read past it. A
// head that did not end within max bytes gives ErrHeadTooLarge; a peer
// that went away or timed out gives the read error; a malformed head, the
// parse error.
//
// With full true, net/http parses the head. With full false, a head of
// the usual upgrade shape (GET, origin-form target, HTTP/1.1, CRLF lines,
// one Host, no body) is parsed without it, into a pooled request whose
// Header holds only the fields the handshake reads (Connection, Upgrade,
// Origin and the Sec-WebSocket- fields): then q is not nil, req is q's
// request, and the caller hands q back with Release once it no longer
// reads req. Any other head goes to net/http, whose verdict stands.
//
// While arm is not nil, each read is first tried without waiting (try),
// and arm is called before the first read that has to wait, so a caller
// sets its deadline only then.
func ReadRequestHead(r io.Reader, max int, full bool, try TryRead, arm func()) (req *http.Request, q *UpgradeReq, head string, pre []byte, err error) {
	bp, n, err := readHeadBytes(r, max, try, arm)
	if err != nil {
		return nil, nil, "", nil, err
	}
	head = string((*bp)[:n])
	if n < len(*bp) {
		pre = append([]byte(nil), (*bp)[n:]...)
	}
	PutBuffer(bp)
	if !full {
		q = upgradeReqs.Get().(*UpgradeReq)
		if parseUpgradeHead(head, q) {
			return &q.r, q, head, pre, nil
		}
		q.Release()
	}
	req, err = ParseHead(head)
	return req, nil, head, pre, err
}

// UpgradeReq is a request ReadRequestHead parsed without net/http, with
// its URL and header, in one pooled allocation. Its owner keeps nothing
// that points into it once it calls Release.
type UpgradeReq struct {
	r      http.Request
	u      url.URL
	h      http.Header
	firsts [len(upgradeFields)]string // each field's first value, so a field costs no slice of its own
}

var upgradeReqs = sync.Pool{New: func() any {
	return &UpgradeReq{h: make(http.Header, len(upgradeFields))}
}}

// Release empties q and puts it back in the pool; neither q nor its
// request may be used afterwards.
func (q *UpgradeReq) Release() {
	clear(q.h)
	h := q.h
	*q = UpgradeReq{h: h}
	upgradeReqs.Put(q)
}

// ParseHead parses a whole request head, which ends with its empty line,
// with net/http.
func ParseHead(head string) (*http.Request, error) {
	br := bufio.NewReaderSize(strings.NewReader(head), max(16, len(head)))
	r, err := http.ReadRequest(br)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// The head is complete (headEnd found its end), so running out
		// of bytes means net/http saw a malformed line.
		err = fmt.Errorf("malformed request head (%v)", err)
	}
	return r, err
}

// upgradeFields are the header fields the opening handshake reads, in
// canonical form.
var upgradeFields = [...]string{"Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Origin"}

// fieldName returns the canonical form of name if it is one of
// upgradeFields, Host, Content-Length or Transfer-Encoding, else "".
func fieldName(name string) string {
	var c1, c2 string
	switch len(name) {
	case 4:
		c1 = "Host"
	case 6:
		c1 = "Origin"
	case 7:
		c1 = "Upgrade"
	case 10:
		c1 = "Connection"
	case 14:
		c1 = "Content-Length"
	case 17:
		c1, c2 = "Sec-Websocket-Key", "Transfer-Encoding"
	case 21:
		c1 = "Sec-Websocket-Version"
	case 22:
		c1 = "Sec-Websocket-Protocol"
	case 24:
		c1 = "Sec-Websocket-Extensions"
	}
	switch {
	case c1 != "" && strings.EqualFold(name, c1):
		return c1
	case c2 != "" && strings.EqualFold(name, c2):
		return c2
	}
	return ""
}

// parseUpgradeHead parses the common shape of an upgrade request without
// net/http: "GET /origin-form-target HTTP/1.1", CRLF line ends, header
// fields "token: value" with no control characters in the value, exactly
// one Host, and no Content-Length or Transfer-Encoding. The request's
// Header holds only upgradeFields. For any head outside that shape it
// returns false, and the caller parses it with net/http, whose verdict
// then stands. Whatever it accepts, http.ReadRequest accepts with the same
// method, URL, Host and upgradeFields values (FuzzParseUpgradeHead).
func parseUpgradeHead(head string, q *UpgradeReq) bool {
	line, rest, ok := cutCRLF(head)
	if !ok {
		return false
	}
	target, ok := strings.CutPrefix(line, "GET ")
	if !ok {
		return false
	}
	target, ok = strings.CutSuffix(target, " HTTP/1.1")
	if !ok || target == "" || target[0] != '/' {
		return false
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	if !parseTarget(target, &q.u) {
		return false
	}
	h := q.h
	firsts := q.firsts[:]
	host, hosts := "", 0
	for {
		if line, rest, ok = cutCRLF(rest); !ok {
			return false
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !IsToken(name) {
			return false
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return false
		}
		switch key := fieldName(name); key {
		case "":
		case "Host":
			host, hosts = value, hosts+1
		case "Content-Length", "Transfer-Encoding":
			return false
		default:
			if vv, seen := h[key]; seen {
				h[key] = append(vv, value)
			} else {
				firsts[0] = value
				h[key] = firsts[:1:1]
				firsts = firsts[1:]
			}
		}
	}
	if hosts != 1 {
		return false
	}
	q.r = http.Request{Method: http.MethodGet, URL: &q.u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: host, RequestURI: target, Body: http.NoBody}
	return true
}

// parseTarget parses an origin-form request target (it starts with "/"
// and holds no space or control character) into u, as url.ParseRequestURI
// does. A path of only characters that need no escaping is split off
// without an allocation; anything else goes through url.ParseRequestURI.
func parseTarget(target string, u *url.URL) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !plainPathChar(path[i]) {
			pu, err := url.ParseRequestURI(target)
			if err != nil {
				return false
			}
			*u = *pu
			return true
		}
	}
	u.Path, u.RawQuery = path, query
	u.ForceQuery = hasQuery && query == ""
	return true
}

// plainPathChar reports whether c stands for itself in a URL path: it is
// neither escaped nor an escape (RFC 3986's unreserved characters and the
// sub-delimiters that Go's url package leaves as they are in a path).
func plainPathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '/', '$', '&', '+', ',', ':', ';', '=', '@':
		return true
	}
	return false
}

// cutCRLF cuts s after its first line, which must end in CRLF; ok is
// false when it does not, or has a CR elsewhere.
func cutCRLF(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	line = s[:i-1]
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", false
	}
	return line, s[i+1:], true
}

// CheckHead applies the checks net/http's server makes on a request head
// beyond what http.ReadRequest does, and returns why it fails or "".
func CheckHead(r *http.Request) string {
	if r.ProtoMajor != 1 {
		return "unsupported protocol version " + r.Proto
	}
	if r.Host == "" && r.ProtoAtLeast(1, 1) {
		return "missing required Host header"
	}
	if r.Host != "" && !httpguts.ValidHostHeader(r.Host) {
		return "malformed Host header"
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "invalid header value"
			}
		}
	}
	return ""
}
