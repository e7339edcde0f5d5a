// Package handshake holds the HTTP side of the WebSocket opening
// handshake (RFC 6455, 4) that needs no connection: the accept key, the
// header token grammar, reading and parsing request and response heads,
// the checks an upgrade request must pass (among them the same-origin
// and Hosts rules), and writing the heads a handshake sends.
//
// It reports failures as plain errors and reason strings; the root
// package wsio turns them into its HandshakeError and does the I/O
// around them (deadlines, TLS, the connection that follows). This
// package imports only the standard library and golang.org/x/net: never
// the root package.
package handshake

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// keyGUID is the constant RFC 6455 appends to the client's key.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey computes the Sec-WebSocket-Accept value for a client's
// Sec-WebSocket-Key.
func AcceptKey(key string) string {
	var out [28]byte
	return string(AppendAcceptKey(out[:0], key))
}

// AppendAcceptKey appends AcceptKey(key), 28 bytes, to dst.
func AppendAcceptKey(dst []byte, key string) []byte {
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

// ValidKey reports whether key, a Sec-WebSocket-Key value, is the base64
// form of 16 bytes.
func ValidKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(key))
	return err == nil && n == 16
}

// First returns the first of a header's values, or "" (Header.Get for a
// key already in canonical form).
func First(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// HasToken reports whether any of the header's comma-separated values
// equals token, ignoring case and white space around it.
//
// It is not httpguts.HeaderValuesContainsToken: this one trims any
// Unicode white space and compares with Unicode case folding, where
// httpguts trims only spaces and tabs and compares ASCII alone. It agrees
// with HeaderList, which trims the same way.
func HasToken(h http.Header, name, token string) bool {
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

// HeaderList splits a header's comma-separated values into trimmed,
// non-empty elements, in order.
func HeaderList(h http.Header, name string) []string {
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

// IsToken reports whether s is an HTTP token (RFC 9110, 5.6.2): one or
// more of the characters a header field name is made of.
func IsToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }
