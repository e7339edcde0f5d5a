package cluster

import (
	"bytes"
	"net/http"
	"net/netip"
	"testing"

	"github.com/wsio/wsio"
)

// FuzzClientIP feeds ClientIP any peer address and forwarding header. It
// must not panic; it returns no address for a peer that is not an IP
// address, and the peer's for an untrusted peer, whatever the header says.
// Then, through a trusted peer, the header gets an untrusted address x
// appended as a proxy appends it (on the same line after a comma, or on a
// line of its own): whatever the client wrote to its left, ClientIP
// returns x.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:80", `for=6.6.6.6`, []byte{198, 51, 100, 1}, true, true)
	f.Add("203.0.113.9:5000", `6.6.6.6, 10.1.1.1`, []byte{198, 51, 100, 1}, false, true)
	f.Add("[::1]:80", `for="[2001:db8::7]:4711";ext="a\",b"`, []byte{0x20, 1, 0xd, 0xb8, 15: 7}, true, false)
	f.Add("10.0.0.2:80", `for="6.6.6.6`, []byte{198, 51, 100, 1}, true, true)
	f.Add("10.0.0.2:80", `ext="x;for=6.6.6.6\\`, []byte{2, 2, 2, 2}, true, true)
	f.Add("@unix", `for=unknown`, []byte{1, 2, 3, 4}, true, false)
	tp := TrustedProxies{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	header := func(fwd bool) string {
		if fwd {
			return "Forwarded"
		}
		return "X-Forwarded-For"
	}
	f.Fuzz(func(t *testing.T, remote, client string, xb []byte, fwd, sameLine bool) {
		tp := tp
		tp.Forwarded = fwd
		r := &http.Request{RemoteAddr: remote, Header: http.Header{header(fwd): {client}}}
		got := tp.ClientIP(r)
		peer, ok := parseHost(remote)
		switch {
		case !ok && got.IsValid():
			t.Fatalf("peer %q is not an IP address, yet ClientIP = %v", remote, got)
		case ok && !tp.trusted(peer) && got != peer:
			t.Fatalf("untrusted peer %v: ClientIP = %v", peer, got)
		}

		x, ok := netip.AddrFromSlice(xb)
		if !ok {
			return
		}
		x = x.Unmap()
		if tp.trusted(x) {
			return
		}
		hop := x.String()
		if fwd {
			hop = "for=" + hop
			if x.Is6() {
				hop = `for="[` + x.String() + `]:4711"`
			}
		}
		r = &http.Request{RemoteAddr: "10.0.0.2:80", Header: http.Header{}}
		if sameLine {
			r.Header.Add(header(fwd), client+", "+hop)
		} else {
			r.Header.Add(header(fwd), client)
			r.Header.Add(header(fwd), hop)
		}
		if got := tp.ClientIP(r); got != x {
			t.Fatalf("header %q: ClientIP = %v, want the appended %v", r.Header.Values(header(fwd)), got, x)
		}
	})
}

// FuzzBusMessage decodes any bytes as a bus message: it must not panic,
// a message it accepts encodes back to the same bytes, and one it refuses
// is short, of another version, or of another kind. Every message
// encoded decodes to what was encoded.
func FuzzBusMessage(f *testing.F) {
	var origin [16]byte
	copy(origin[:], "0123456789abcdef")
	f.Add(encode(origin, 7, wsio.Text, []byte("hello")), uint64(7), false)
	f.Add(encode(origin, 1<<63, wsio.Binary, nil), uint64(0), true)
	f.Add([]byte{wireVersion, 9}, uint64(1), true)
	f.Add(append([]byte{2, byte(wsio.Text)}, make([]byte, headerLen)...), uint64(1), false)
	f.Fuzz(func(t *testing.T, b []byte, seq uint64, binary bool) {
		o, s, k, payload, ok := decode(b)
		if ok {
			if again := encode(o, s, k, payload); !bytes.Equal(again, b) {
				t.Fatalf("decode(%x) = %x, %d, %v, %x, which encodes to %x", b, o, s, k, payload, again)
			}
		} else if len(b) >= headerLen && b[0] == wireVersion && (wsio.Kind(b[1]) == wsio.Text || wsio.Kind(b[1]) == wsio.Binary) {
			t.Fatalf("decode(%x) refused a well-formed message", b)
		}

		kind := wsio.Text
		if binary {
			kind = wsio.Binary
		}
		copy(origin[:], b)
		o, s, k, payload, ok = decode(encode(origin, seq, kind, b))
		if !ok || o != origin || s != seq || k != kind || !bytes.Equal(payload, b) {
			t.Fatalf("decode(encode(%x, %d, %v, %x)) = %x, %d, %v, %x, %v", origin, seq, kind, b, o, s, k, payload, ok)
		}
	})
}
