package handshake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ResponseHead is a parsed HTTP/1.x response head.
type ResponseHead struct {
	// Proto is "HTTP/1.1" or "HTTP/1.0".
	Proto string
	// Status is the status code, 100 to 999.
	Status int
	// StatusText is the reason phrase after the code, as sent.
	StatusText string
	// Header holds the header fields, under their canonical names.
	Header http.Header
}

// errIncompleteHead means the bytes so far hold no complete head.
var errIncompleteHead = errors.New("incomplete HTTP head")

// parseResponseHead parses the HTTP response head at the start of b. It
// returns the head and its length, errIncompleteHead if b does not hold a
// whole head yet, or an error for a malformed one. It accepts only what
// RFC 9112 allows: a status line "HTTP/1.x NNN reason", header fields that
// are "token: value" with no obsolete line folding, CRLF line ends (a bare
// LF is tolerated as the RFC permits).
func parseResponseHead(b []byte) (*ResponseHead, int, error) {
	n := headEnd(b, 0)
	if n < 0 {
		return nil, 0, errIncompleteHead
	}
	status, rest := cutLine(string(b[:n]))
	proto, after, ok := strings.Cut(status, " ")
	if !ok || (proto != "HTTP/1.1" && proto != "HTTP/1.0") {
		return nil, 0, fmt.Errorf("malformed status line %.64q", status)
	}
	codeStr, text, _ := strings.Cut(after, " ")
	code, err := strconv.Atoi(codeStr)
	if err != nil || len(codeStr) != 3 || code < 100 {
		return nil, 0, fmt.Errorf("malformed status code %.16q", codeStr)
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
		if !ok || !IsToken(name) {
			return nil, 0, fmt.Errorf("malformed header line %.64q", l)
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, 0, fmt.Errorf("control character in header %q", name)
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
	return &ResponseHead{Proto: proto, Status: code, StatusText: text, Header: h}, n, nil
}

// ReadResponseHead reads from r until a whole response head has arrived,
// at most maxBytes of it plus its final empty line, and parses it. It
// returns the head with the bytes read past it. It accepts only what
// RFC 9112 allows: a status line "HTTP/1.x NNN reason", header fields
// "token: value" with no obsolete line folding and no control characters
// in the value, CRLF line ends (a bare LF is tolerated as the RFC
// permits); any other head is an error.
func ReadResponseHead(r io.Reader, maxBytes int) (*ResponseHead, []byte, error) {
	bp, _, err := readHeadBytes(r, maxBytes+4, nil, nil)
	if err == ErrHeadTooLarge {
		err = fmt.Errorf("response head larger than %d bytes", maxBytes)
	}
	if err != nil {
		return nil, nil, err
	}
	defer PutBuffer(bp)
	head, hn, err := parseResponseHead(*bp)
	if err != nil {
		return nil, nil, err
	}
	var rest []byte
	if hn < len(*bp) {
		rest = append([]byte(nil), (*bp)[hn:]...)
	}
	return head, rest, nil
}

// ReadBody reads the body of a response with status and header h, whose
// first bytes (read past the head) are rest and the others come from r,
// up to 64 KiB: by Content-Length, by chunks, or to the end of the
// stream, as RFC 9112 (6.3) says. A malformed Content-Length gives no
// body; so do 1xx, 204 and 304. A read error ends the body where it
// stands. The caller bounds the wait with a deadline.
func ReadBody(r io.Reader, status int, h http.Header, rest []byte) []byte {
	const maxBody = 64 << 10
	if status < 200 || status == http.StatusNoContent || status == http.StatusNotModified {
		return nil
	}
	src := io.MultiReader(bytes.NewReader(rest), r)
	switch {
	case HasToken(h, "Transfer-Encoding", "chunked"):
		src = httputil.NewChunkedReader(src)
	case h.Get("Content-Length") != "":
		cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
		if err != nil || cl < 0 {
			return nil
		}
		src = io.LimitReader(src, cl)
	}
	body, _ := io.ReadAll(io.LimitReader(src, maxBody))
	return body
}

// StatusLine is http.Response.Status for a status code and its reason
// phrase: "101 Switching Protocols".
func StatusLine(code int, text string) string {
	if code == http.StatusSwitchingProtocols && text == "Switching Protocols" {
		return "101 Switching Protocols"
	}
	return strconv.Itoa(code) + " " + text
}

// CheckResponse validates the header h of a 101 response to a request
// with Sec-WebSocket-Key key that offered the subprotocols offered
// (RFC 6455, 4.1), and returns why it is not acceptable, or "".
func CheckResponse(h http.Header, key string, offered []string) string {
	var accept [28]byte
	switch {
	case !HasToken(h, "Upgrade", "websocket"):
		return `the Upgrade header does not contain "websocket"`
	case !HasToken(h, "Connection", "upgrade"):
		return `the Connection header does not contain "Upgrade"`
	case First(h["Sec-Websocket-Accept"]) != string(AppendAcceptKey(accept[:0], key)):
		return "Sec-WebSocket-Accept does not match the key"
	}
	return CheckSubprotocol(h, offered)
}

// CheckSubprotocol reports why the server's Sec-WebSocket-Protocol answer
// is not acceptable to a client that offered offered (more than one, or
// one not offered), or "" when it is (none, or one of the offers).
func CheckSubprotocol(h http.Header, offered []string) string {
	if p := h["Sec-Websocket-Protocol"]; len(p) > 0 {
		if len(p) > 1 || !slices.Contains(offered, p[0]) {
			return "the server chose a subprotocol that was not offered: " + strings.Join(p, ", ")
		}
	}
	return ""
}
