package handshake

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// AppendRequest appends the opening handshake's request head for u to b:
// Sec-WebSocket-Key key, the extensions and subprotocols offered ("" and
// nil for none), and the fields of h. A "Host" entry in h overrides u's
// host. The caller has checked that the Host override is a valid Host
// header and the subprotocols are tokens (IsToken); AppendHeader filters
// the other fields of h, and the ones the handshake sets itself are left
// out.
func AppendRequest(b []byte, u *url.URL, key, extensions string, subprotocols []string, h http.Header) []byte {
	host := u.Host
	if v := h.Get("Host"); v != "" {
		host = v
	}
	b = append(b, "GET "...)
	b = append(b, u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	b = append(b, key...)
	b = append(b, "\r\nSec-WebSocket-Version: 13\r\n"...)
	if extensions != "" {
		b = appendField(b, "Sec-WebSocket-Extensions", extensions)
	}
	if len(subprotocols) > 0 {
		b = appendField(b, "Sec-WebSocket-Protocol", strings.Join(subprotocols, ", "))
	}
	b = AppendHeader(b, h, RequestOwned...)
	return append(b, "\r\n"...)
}

// RequestOwned are the fields AppendRequest writes itself.
var RequestOwned = []string{"Host", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions"}

// AppendResponse appends the 101 response head to a request with
// Sec-WebSocket-Key key to b: the subprotocol and extensions chosen (""
// for none), then the fields of each of hs. AppendHeader filters those,
// and leaves out the fields the 101 sets itself or may not carry.
func AppendResponse(b []byte, key, protocol, extensions string, hs ...http.Header) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = AppendAcceptKey(b, key)
	b = append(b, "\r\n"...)
	if protocol != "" {
		b = appendField(b, "Sec-WebSocket-Protocol", protocol)
	}
	if extensions != "" {
		b = appendField(b, "Sec-WebSocket-Extensions", extensions)
	}
	for _, h := range hs {
		b = AppendHeader(b, h, ResponseOwned...)
	}
	return append(b, "\r\n"...)
}

// ResponseOwned are the fields AppendResponse writes itself or that a
// 101 may not carry; an HTTP/2 answer leaves them to the handshake too.
var ResponseOwned = []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol",
	"Sec-Websocket-Extensions", "Content-Length", "Transfer-Encoding", "Content-Type"}

// AppendRefusal appends to b a response that refuses a handshake with
// status: the fields of h (filtered by AppendHeader), "Connection:
// close", and body as plain text.
func AppendRefusal(b []byte, status int, h http.Header, body string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	b = AppendHeader(b, h)
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// AppendConnect appends to b the CONNECT request that asks an HTTP proxy
// for a tunnel to addr (host:port), with Basic Proxy-Authorization when
// user is not nil.
func AppendConnect(b []byte, addr string, user *url.Userinfo) []byte {
	b = append(b, "CONNECT "...)
	b = append(b, addr...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, addr...)
	b = append(b, "\r\n"...)
	if user != nil {
		pass, _ := user.Password()
		b = appendField(b, "Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user.Username()+":"+pass)))
	}
	return append(b, "\r\n"...)
}

// AddHeader adds to dst the fields of h that AppendHeader would write
// (the same names and values left out), for a head that net/http writes:
// an HTTP/2 request or response. It first deletes the names in skip from
// dst, so a handshake field set there by mistake does not go out twice.
func AddHeader(dst, h http.Header, skip ...string) {
	for _, name := range skip {
		delete(dst, name)
	}
	for name, vs := range h {
		name = http.CanonicalHeaderKey(name)
		if !IsToken(name) || slices.Contains(skip, name) {
			continue
		}
		for _, v := range vs {
			if !strings.ContainsAny(v, "\r\n") {
				dst[name] = append(dst[name], v)
			}
		}
	}
}

// AppendHeader writes h as header lines, leaving out names that are not
// tokens, the names in skip (canonical form: the ones the handshake itself
// sets), and values with line breaks, so no user header can split or
// forge the head.
func AppendHeader(b []byte, h http.Header, skip ...string) []byte {
	for name, vs := range h {
		if !IsToken(name) || slices.Contains(skip, http.CanonicalHeaderKey(name)) {
			continue
		}
		for _, v := range vs {
			if !strings.ContainsAny(v, "\r\n") {
				b = appendField(b, name, v)
			}
		}
	}
	return b
}

// appendField appends the header line "name: value" to b.
func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}
