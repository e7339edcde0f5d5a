package hostile

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio"
)

// wireCase is bytes a client sends after the handshake, the close code the
// server must answer with, and the error its handler must see.
type wireCase struct {
	name    string
	tried   string
	prelude bool   // first a text message "hello", whose echo is awaited
	send    []byte // the attack
	code    int    // close code the server sends
	remote  bool   // the handler's CloseError is the peer's close (an echoed close code)
	causes  []error
	fast    bool // the close must come at once (well under a second)
}

var (
	errProto = wsio.ErrProtocol
	errUTF8  = wsio.ErrInvalidUTF8
	errBig   = wsio.ErrMessageTooBig
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func runWireCases(t *testing.T, opts wsio.ServerOptions, cases []wireCase) {
	s := startServer(t, opts, echo(true))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := record(t, "Frames", tc.tried)
			a := dialWS(t, s)
			if tc.prelude {
				a.mustWrite(frame(true, 0, opText, []byte("hello")))
				f, err := a.readFrame(5 * time.Second)
				if err != nil || f.Opcode != opText || string(f.Payload) != "hello" {
					t.Fatalf("prelude echo: %v %+v", err, f)
				}
			}
			start := time.Now()
			a.mustWrite(tc.send)
			code, reason, _, err := a.awaitClose(5 * time.Second)
			took := time.Since(start)
			if err != nil {
				r.saw("no close frame: %v", err)
				t.Fatalf("awaiting the server's close frame: %v", err)
			}
			if tc.remote {
				// The server echoed a valid close; it must now close TCP.
				if _, err := a.awaitEOF(2 * time.Second); err != nil {
					t.Errorf("after echoing the close the server kept the connection: %v", err)
				}
			}
			_ = a.nc.Close()
			res := s.mustResult(t, a.addr(), 5*time.Second)
			r.saw("close %d %q after %v; handler: %s", code, reason, fmtDur(took), desc(res.err))
			if code != tc.code {
				t.Errorf("close code %d (%q), want %d", code, reason, tc.code)
			}
			if tc.fast && took > time.Second {
				t.Errorf("the close came after %v, want at once", took)
			}
			if msg := checkCloseErr(res.err, wsio.StatusCode(tc.code), tc.remote, tc.causes...); msg != "" {
				t.Errorf("handler error: %s", msg)
			}
		})
	}
}

func TestFramesReservedBitsAndOpcodes(t *testing.T) {
	t.Parallel()
	var cases []wireCase
	for rsv := byte(1); rsv <= 7; rsv++ {
		bits := fmt.Sprintf("RSV%s", rsvNames(rsv))
		cases = append(cases,
			wireCase{name: "text-rsv" + fmt.Sprint(rsv), tried: "text frame with " + bits, send: frame(true, rsv, opText, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
			wireCase{name: "binary-rsv" + fmt.Sprint(rsv), tried: "binary frame with " + bits, send: frame(true, rsv, opBinary, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
			wireCase{name: "ping-rsv" + fmt.Sprint(rsv), tried: "ping frame with " + bits, send: frame(true, rsv, opPing, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
		)
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		kind := "data"
		if op >= 8 {
			kind = "control"
		}
		cases = append(cases, wireCase{name: fmt.Sprintf("opcode-%X", op), tried: fmt.Sprintf("reserved %s opcode 0x%X", kind, op), send: frame(true, 0, op, []byte("x")), code: 1002, causes: []error{errProto}, fast: true})
	}
	cases = append(cases,
		wireCase{name: "after-echo-rsv1", tried: "text with RSV1 after a message was echoed", prelude: true, send: frame(true, 4, opText, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
		wireCase{name: "after-echo-opcode-B", tried: "reserved opcode 0xB after a message was echoed", prelude: true, send: frame(true, 0, 0xB, nil), code: 1002, causes: []error{errProto}, fast: true},
		wireCase{name: "after-echo-opcode-3", tried: "reserved opcode 0x3 after a message was echoed", prelude: true, send: frame(true, 0, 3, nil), code: 1002, causes: []error{errProto}, fast: true},
		wireCase{name: "unmasked", tried: "an unmasked text frame from the client", send: unmaskedFrame(true, opText, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
	)
	runWireCases(t, wsio.ServerOptions{}, cases)
}

func rsvNames(rsv byte) string {
	var s []string
	for i, bit := range []byte{4, 2, 1} {
		if rsv&bit != 0 {
			s = append(s, fmt.Sprint(i+1))
		}
	}
	return strings.Join(s, "+")
}

func TestFramesLengths(t *testing.T) {
	t.Parallel()
	p := func(n int) []byte { return bytes.Repeat([]byte("a"), n) }
	cases := []wireCase{
		{name: "16bit-0", tried: "length 0 in the 16-bit form", send: rawFrame(0x81, len16(0), nil), code: 1002, causes: []error{errProto}, fast: true},
		{name: "16bit-125", tried: "length 125 in the 16-bit form", send: rawFrame(0x81, len16(125), p(125)), code: 1002, causes: []error{errProto}, fast: true},
		{name: "64bit-5", tried: "length 5 in the 64-bit form", send: rawFrame(0x81, len64(5), p(5)), code: 1002, causes: []error{errProto}, fast: true},
		{name: "64bit-126", tried: "length 126 in the 64-bit form", send: rawFrame(0x82, len64(126), p(126)), code: 1002, causes: []error{errProto}, fast: true},
		{name: "64bit-65535", tried: "length 65535 in the 64-bit form", send: rawFrame(0x82, len64(65535), p(65535)), code: 1002, causes: []error{errProto}, fast: true},
		{name: "64bit-topbit", tried: "64-bit length 2^63 (most significant bit set)", send: rawFrame(0x82, len64(1<<63), nil), code: 1002, causes: []error{errProto}, fast: true},
		{name: "64bit-all-ones", tried: "64-bit length 0xFFFFFFFFFFFFFFFF", send: rawFrame(0x81, len64(^uint64(0)), nil), code: 1002, causes: []error{errProto}, fast: true},
		{name: "text-2^62", tried: "text frame declaring 2^62 bytes, then silence (BufferCap 2 MiB)", send: rawFrame(0x81, len64(1<<62), nil), code: 1009, causes: []error{errBig}, fast: true},
		{name: "text-cap+1", tried: "text frame declaring BufferCap+1 bytes (2 MiB + 1)", send: rawFrame(0x81, len64(2<<20+1), nil), code: 1009, causes: []error{errBig}, fast: true},
		{name: "ping-126", tried: "ping with a 126-byte payload", send: rawFrame(0x89, len16(126), p(126)), code: 1002, causes: []error{errProto}, fast: true},
		{name: "pong-126", tried: "pong with a 126-byte payload", send: rawFrame(0x8A, len16(126), p(126)), code: 1002, causes: []error{errProto}, fast: true},
		{name: "close-126", tried: "close with a 126-byte payload", send: rawFrame(0x88, len16(126), cat([]byte{3, 0xE8}, p(124))), code: 1002, causes: []error{errProto}, fast: true},
		{name: "ping-2^62", tried: "ping declaring 2^62 bytes", send: rawFrame(0x89, len64(1<<62), nil), code: 1002, causes: []error{errProto}, fast: true},
		{name: "ping-nofin", tried: "fragmented ping (FIN clear)", send: frame(false, 0, opPing, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
		{name: "pong-nofin", tried: "fragmented pong (FIN clear)", send: frame(false, 0, opPong, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
		{name: "close-nofin", tried: "fragmented close (FIN clear)", send: frame(false, 0, opClose, closePayload(1000, "")), code: 1002, causes: []error{errProto}, fast: true},
	}
	runWireCases(t, wsio.ServerOptions{}, cases)
}

func TestFramesFragmentation(t *testing.T) {
	t.Parallel()
	cases := []wireCase{
		{name: "cont-first", tried: "a continuation frame with no message", send: frame(true, 0, opCont, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
		{name: "cont-after-message", tried: "a continuation frame after a complete (echoed) message", prelude: true, send: frame(false, 0, opCont, []byte("x")), code: 1002, causes: []error{errProto}, fast: true},
		{name: "text-in-text", tried: "a new text message inside a fragmented text message", send: cat(frame(false, 0, opText, []byte("a")), frame(true, 0, opText, []byte("b"))), code: 1002, causes: []error{errProto}, fast: true},
		{name: "binary-in-text", tried: "a new binary message inside a fragmented text message", send: cat(frame(false, 0, opText, []byte("a")), frame(true, 0, opBinary, []byte("b"))), code: 1002, causes: []error{errProto}, fast: true},
		{name: "text-in-binary", tried: "a new text message inside a fragmented binary message (handler reading it)", send: cat(frame(false, 0, opBinary, []byte("a")), frame(true, 0, opText, []byte("b"))), code: 1002, causes: []error{errProto, io.ErrUnexpectedEOF}, fast: true},
		{name: "binary-in-binary", tried: "a new binary message inside a fragmented binary message", send: cat(frame(false, 0, opBinary, []byte("a")), frame(true, 0, opBinary, []byte("b"))), code: 1002, causes: []error{errProto, io.ErrUnexpectedEOF}, fast: true},
		{name: "ping-between-fragments", tried: "ping between text fragments, then a continuation with no message after the end", send: cat(frame(false, 0, opText, []byte("a")), frame(true, 0, opPing, nil), frame(true, 0, opCont, []byte("b")), frame(true, 0, opCont, []byte("c"))), code: 1002, causes: []error{errProto}, fast: true},
	}
	runWireCases(t, wsio.ServerOptions{}, cases)
}

func TestFramesCloseCodes(t *testing.T) {
	t.Parallel()
	var cases []wireCase
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} {
		cases = append(cases, wireCase{name: fmt.Sprintf("invalid-%d", code), tried: fmt.Sprintf("close with invalid code %d", code), send: frame(true, 0, opClose, closePayload(code, "")), code: 1002, causes: []error{errProto}, fast: true})
	}
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999} {
		cases = append(cases, wireCase{name: fmt.Sprintf("valid-%d", code), tried: fmt.Sprintf("close with valid code %d", code), send: frame(true, 0, opClose, closePayload(code, "bye")), code: code, remote: true, fast: true})
	}
	cases = append(cases,
		wireCase{name: "empty", tried: "close with no payload", send: frame(true, 0, opClose, nil), code: 1005, remote: true, fast: true},
		wireCase{name: "one-byte", tried: "close with a 1-byte payload", send: frame(true, 0, opClose, []byte{3}), code: 1002, causes: []error{errProto}, fast: true},
		wireCase{name: "reason-123", tried: "close 1000 with a 123-byte reason (the most allowed)", send: frame(true, 0, opClose, closePayload(1000, strings.Repeat("r", 123))), code: 1000, remote: true, fast: true},
		wireCase{name: "reason-invalid-utf8", tried: "close 1000 with reason bytes FF FE", send: frame(true, 0, opClose, closePayload(1000, "\xff\xfe")), code: 1007, causes: []error{errUTF8}, fast: true},
		wireCase{name: "reason-truncated-utf8", tried: "close 1000 with a reason ending in half a UTF-8 sequence (E2 82)", send: frame(true, 0, opClose, closePayload(1000, "ok\xe2\x82")), code: 1007, causes: []error{errUTF8}, fast: true},
		wireCase{name: "reason-surrogate", tried: "close 1000 with an encoded UTF-16 surrogate (ED A0 80) in the reason", send: frame(true, 0, opClose, closePayload(1000, "\xed\xa0\x80")), code: 1007, causes: []error{errUTF8}, fast: true},
	)
	runWireCases(t, wsio.ServerOptions{}, cases)
}

func TestFramesUTF8(t *testing.T) {
	t.Parallel()
	text3 := func(a, b, c string) []byte {
		return cat(frame(false, 0, opText, []byte(a)), frame(false, 0, opCont, []byte(b)), frame(true, 0, opCont, []byte(c)))
	}
	cases := []wireCase{
		{name: "last-byte-FF", tried: "text in 3 fragments, invalid only in the last byte of the last (…ld FF)", send: text3("hello ", "wor", "ld\xff"), code: 1007, causes: []error{errUTF8}, fast: true},
		{name: "last-byte-lead", tried: "text in 3 fragments whose last byte starts a 3-byte sequence (…ld E2)", send: text3("hello ", "wor", "ld\xe2"), code: 1007, causes: []error{errUTF8}, fast: true},
		{name: "last-byte-truncated", tried: "text in 3 fragments ending in 2 of 3 bytes of € (E2 82)", send: text3("hello ", "wor", "\xe2\x82"), code: 1007, causes: []error{errUTF8}, fast: true},
		{name: "split-invalid", tried: "E2 82 | 28 across fragments (invalid continuation)", send: text3("a", "\xe2\x82", "\x28"), code: 1007, causes: []error{errUTF8}, fast: true},
		{name: "single-overlong", tried: "one text frame with an overlong encoding (C0 AF)", send: frame(true, 0, opText, []byte("\xc0\xaf")), code: 1007, causes: []error{errUTF8}, fast: true},
		{name: "fail-fast", tried: "first fragment invalid (FF), message never finished", send: frame(false, 0, opText, []byte("ok\xff")), code: 1007, causes: []error{errUTF8}, fast: true},
	}
	runWireCases(t, wsio.ServerOptions{}, cases)
}

// TestFramesUTF8Valid is the control: € split across three fragments, one
// byte each, is echoed whole.
func TestFramesUTF8Valid(t *testing.T) {
	t.Parallel()
	r := record(t, "Frames", "€ (E2 82 AC) split across three text fragments, one byte each (control)")
	s := startServer(t, wsio.ServerOptions{}, echo(true))
	a := dialWS(t, s)
	a.mustWrite(frame(false, 0, opText, []byte{0xE2}), frame(false, 0, opCont, []byte{0x82}), frame(true, 0, opCont, []byte{0xAC}))
	f, err := a.readFrame(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r.saw("echoed %v %q", f.Opcode, f.Payload)
	if f.Opcode != opText || string(f.Payload) != "€" || !f.Fin {
		t.Errorf("echo %v fin=%v %q, want a text frame \"€\"", f.Opcode, f.Fin, f.Payload)
	}
}
