package suite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		in   string
		want string // elements rendered as name(p=v,...) joined by " | "
		err  bool
	}{
		{"permessage-deflate", "permessage-deflate()", false},
		{"permessage-deflate; client_max_window_bits", "permessage-deflate(client_max_window_bits)", false},
		{"permessage-deflate;server_max_window_bits=10 ,  x-foo ; a=\"b\"", "permessage-deflate(server_max_window_bits=10) | x-foo(a=b)", false},
		{"permessage-deflate; server_max_window_bits=\"1\\0\"", "permessage-deflate(server_max_window_bits=10)", false},
		{", permessage-deflate,,", "permessage-deflate()", false},
		{"permessage-deflate; =1", "", true},
		{"permessage-deflate; a=\"b c\"", "", true},
		{"permessage-deflate; a=\"b", "", true},
		{"permessage-deflate x", "", true},
		{"permessage-deflate; a=", "", true},
	}
	for _, tc := range tests {
		els, err := parseExtensions([]string{tc.in})
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		var parts []string
		for _, el := range els {
			var ps []string
			for _, p := range el.params {
				if p.hasValue {
					ps = append(ps, p.name+"="+p.value)
				} else {
					ps = append(ps, p.name)
				}
			}
			parts = append(parts, el.name+"("+strings.Join(ps, ",")+")")
		}
		if got := strings.Join(parts, " | "); !tc.err && got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestNegotiateClient(t *testing.T) {
	spec := &deflateVariants[6] // three offers: (snct, 9), (snct), default
	tests := []struct {
		resp     string
		declined bool
		err      string
		tx, rx   bool // takeover
		txBits   int
	}{
		{resp: "", declined: true},
		{resp: "permessage-deflate", tx: false, rx: true, txBits: 15},
		{resp: "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=10", tx: false, rx: false, txBits: 10},
		{resp: "permessage-deflate; server_max_window_bits=9", tx: false, rx: true, txBits: 15}, // fits the default offer
		{resp: "permessage-deflate; server_max_window_bits=08", err: "invalid server_max_window_bits"},
		{resp: "permessage-deflate; server_max_window_bits=16", err: "invalid server_max_window_bits"},
		{resp: "permessage-deflate; server_max_window_bits", err: "needs a value"},
		{resp: "permessage-deflate; client_max_window_bits", err: "needs a value in a response"},
		{resp: "permessage-deflate; server_no_context_takeover=1", err: "must not have a value"},
		{resp: "permessage-deflate; server_no_context_takeover; server_no_context_takeover", err: "duplicate parameter"},
		{resp: "permessage-deflate; mem_level=8", err: "unknown parameter"},
		{resp: "permessage-deflate, permessage-deflate", err: "2 times"},
		{resp: "x-webkit-deflate-frame", err: "not offered"},
		{resp: "permessage-deflate; a=\"", err: "malformed"},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.resp != "" {
			h.Set("Sec-WebSocket-Extensions", tc.resp)
		}
		cfg, declined, err := spec.negotiateClient(h)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.resp, err, tc.err)
			}
		case err != nil || declined != tc.declined:
			t.Errorf("%q: declined %v, error %v; want declined %v", tc.resp, declined, err, tc.declined)
		case declined:
		case cfg.txTakeover != tc.tx || cfg.rxTakeover != tc.rx || cfg.txWindowBits != tc.txBits:
			t.Errorf("%q: %s; want tx takeover %v, rx takeover %v, tx bits %d", tc.resp, cfg, tc.tx, tc.rx, tc.txBits)
		}
	}
	// A single offer requesting server_max_window_bits=9 needs it back.
	h := http.Header{"Sec-Websocket-Extensions": {"permessage-deflate"}}
	if _, _, err := deflateVariants[2].negotiateClient(h); err == nil || !strings.Contains(err.Error(), "server_max_window_bits=9 but the response lacks it") {
		t.Errorf("13.3 without server_max_window_bits in the response: %v", err)
	}
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=10")
	if _, _, err := deflateVariants[2].negotiateClient(h); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("13.3 with a larger server_max_window_bits: %v", err)
	}
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate")
	if _, _, err := deflateVariants[1].negotiateClient(h); err == nil || !strings.Contains(err.Error(), "server_no_context_takeover") {
		t.Errorf("13.2 without server_no_context_takeover in the response: %v", err)
	}
}

func TestNegotiateServer(t *testing.T) {
	tests := []struct {
		variant  int
		offer    string
		resp     string
		declined bool
		err      string
		rx       bool
	}{
		{variant: 0, offer: "", declined: true},
		{variant: 0, offer: "x-other", declined: true},
		{variant: 0, offer: "permessage-deflate; client_max_window_bits", resp: "permessage-deflate", rx: true},
		{variant: 0, offer: "permessage-deflate; client_no_context_takeover", resp: "permessage-deflate", rx: false},
		{variant: 1, offer: "permessage-deflate", resp: "permessage-deflate; client_no_context_takeover"},
		{variant: 2, offer: "permessage-deflate", declined: true},
		{variant: 2, offer: "permessage-deflate; server_max_window_bits=10; client_max_window_bits", resp: "permessage-deflate; client_max_window_bits=9; server_max_window_bits=10", rx: true},
		{variant: 3, offer: "permessage-deflate; client_max_window_bits=12", resp: "permessage-deflate; client_max_window_bits=12", rx: true},
		{variant: 6, offer: "permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits",
			resp: "permessage-deflate; client_no_context_takeover; client_max_window_bits=9"},
		{variant: 6, offer: "permessage-deflate; server_no_context_takeover", resp: "permessage-deflate; client_no_context_takeover; server_no_context_takeover"},
		{variant: 0, offer: "permessage-deflate; client_max_window_bits=7", err: "invalid client_max_window_bits"},
		{variant: 0, offer: "permessage-deflate; foo", err: "unknown parameter foo"},
		{variant: 0, offer: "permessage-deflate, permessage-deflate; client_max_window_bits; client_max_window_bits", err: "offer 2: duplicate"},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.offer != "" {
			h.Set("Sec-WebSocket-Extensions", tc.offer)
		}
		cfg, declined, err := deflateVariants[tc.variant].negotiateServer(h)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("13.%d %q: error %v, want one containing %q", tc.variant+1, tc.offer, err, tc.err)
			}
		case err != nil || (declined != "") != tc.declined:
			t.Errorf("13.%d %q: declined %q, error %v; want declined %v", tc.variant+1, tc.offer, declined, err, tc.declined)
		case tc.declined:
		case cfg.header != tc.resp || cfg.rxTakeover != tc.rx:
			t.Errorf("13.%d %q: %s; want %q, rx takeover %v", tc.variant+1, tc.offer, cfg, tc.resp, tc.rx)
		}
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	data := compressionData[0].bytes()
	for _, tc := range []struct {
		takeover bool
		bits     int
	}{{true, 15}, {false, 15}, {true, 9}, {false, 8}} {
		t.Run(fmt.Sprintf("takeover=%v,bits=%d", tc.takeover, tc.bits), func(t *testing.T) {
			d, in := newDeflater(tc.takeover, tc.bits), newInflater(tc.takeover)
			ptr, total, wire := 0, 0, 0
			for _, n := range []int{16, 4096, 131072, 0, 131072, 65536} {
				msg := ringSlice(data, &ptr, n)
				c := d.compress(msg)
				if bytes.HasSuffix(c, deflateTrailer) {
					t.Fatalf("%d bytes: compressed message still ends with 00 00 ff ff", n)
				}
				got, err := in.inflate(c, 1<<20)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("%d bytes: round trip failed: %v", n, err)
				}
				total, wire = total+n, wire+len(c)
			}
			if tc.bits == 15 && wire*2 > total {
				t.Errorf("JSON compressed only to %d of %d bytes", wire, total)
			}
		})
	}
	// Messages compressed with context takeover refer to earlier ones, so
	// an inflater without context takeover must fail on them: that is how
	// the suite catches a peer that ignores no_context_takeover.
	d, in := newDeflater(true, 15), newInflater(false)
	ptr := 0
	_, _ = in.inflate(d.compress(ringSlice(data, &ptr, 8192)), 1<<20)
	if _, err := in.inflate(d.compress(ringSlice(data, &ptr, 8192)), 1<<20); err == nil {
		t.Error("a message referring to the previous one inflated without context")
	}
	if _, err := newInflater(false).inflate(newDeflater(false, 15).compress(make([]byte, 1<<16)), 1000); err != errInflateTooLarge {
		t.Errorf("inflating beyond the limit: %v", err)
	}
}

func TestCompressionData(t *testing.T) {
	for i, d := range compressionData {
		data := d.bytes()
		if len(data) < 190<<10 {
			t.Errorf("data set %d has only %d bytes", i+1, len(data))
		}
		if !d.binary {
			for j, c := range data {
				if c >= 0x80 {
					t.Fatalf("text data set %d has a non-ASCII byte at %d", i+1, j)
				}
			}
		}
	}
	if !utf8.Valid(compressionData[2].bytes()) || bytes.IndexByte(compressionData[2].bytes(), 0xc3) < 0 {
		t.Error("the German verse should be UTF-8 with umlauts")
	}
	ptr := 0
	data := []byte("abcdef")
	if got := string(ringSlice(data, &ptr, 4)) + "|" + string(ringSlice(data, &ptr, 10)); got != "abcd|efabcdefab" || ptr != 2 {
		t.Errorf("ringSlice: %q, ptr %d", got, ptr)
	}
}

// deflateFlaws selects deliberate bugs of the deflate echo peers below.
type deflateFlaws struct {
	// decline answers without the extension.
	decline bool
	// response replaces the server's Sec-WebSocket-Extensions response.
	response string
	// rsv1OnContinuation sends echoes in two frames, both with RSV1.
	rsv1OnContinuation bool
	// rsv1OnPong sends an unsolicited pong with RSV1 before every echo.
	rsv1OnPong bool
	// keepContext compresses with context takeover even when the other
	// side asked for no context takeover.
	keepContext bool
	// plain echoes without compression (allowed by RFC 7692).
	plain bool
}

// deflateEchoLoop echoes messages over a negotiated connection, inflating
// and deflating with the suite's own helpers, until a close frame arrives.
func deflateEchoLoop(conn net.Conn, br *bufio.Reader, masked bool, cfg *deflateConfig, fl deflateFlaws) {
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var tx *deflater
	var rx *inflater
	if cfg != nil {
		tx = newDeflater(cfg.txTakeover || fl.keepContext, cfg.txWindowBits)
		rx = newInflater(cfg.rxTakeover)
	}
	send := func(fs ...WireFrame) {
		var out []byte
		for i := range fs {
			fs[i].Masked = masked
			out = AppendFrame(out, &fs[i])
		}
		_, _ = conn.Write(out)
	}
	var (
		op         Opcode
		buf        []byte
		compressed bool
	)
	for {
		f, err := ReadFrame(br, 1<<26)
		if err != nil {
			return
		}
		switch f.Opcode {
		case OpPing:
			send(WireFrame{Fin: true, Opcode: OpPong, Payload: f.Payload})
			continue
		case OpClose:
			p := f.Payload
			if len(p) >= 2 {
				p = p[:2]
			}
			send(WireFrame{Fin: true, Opcode: OpClose, Payload: p})
			return
		case OpText, OpBinary:
			op, buf, compressed = f.Opcode, nil, f.RSV&4 != 0
		}
		buf = append(buf, f.Payload...)
		if !f.Fin {
			continue
		}
		if compressed {
			if buf, err = rx.inflate(buf, 1<<26); err != nil {
				send(WireFrame{Fin: true, Opcode: OpClose, Payload: closePayload(1007)})
				return
			}
		}
		if fl.rsv1OnPong {
			send(WireFrame{Fin: true, RSV: 4, Opcode: OpPong})
		}
		if tx == nil || fl.plain {
			send(WireFrame{Fin: true, Opcode: op, Payload: buf})
			continue
		}
		c := tx.compress(buf)
		if fl.rsv1OnContinuation && len(c) > 1 {
			send(WireFrame{RSV: 4, Opcode: op, Payload: c[:1]}, WireFrame{Fin: true, RSV: 4, Opcode: OpContinuation, Payload: c[1:]})
			continue
		}
		send(WireFrame{Fin: true, RSV: 4, Opcode: op, Payload: c})
	}
}

// deflateTestServer is a Go echo server with permessage-deflate that
// accepts the first offer, granting what it requests.
type deflateTestServer struct{ flaws deflateFlaws }

func (ds *deflateTestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	spec := &DeflateSpec{Accept: []DeflateAccept{{}}}
	cfg, _, err := spec.negotiateServer(r.Header)
	if err != nil || ds.flaws.decline {
		cfg = nil
	}
	ext := ""
	if cfg != nil {
		ext = cfg.header
	}
	if ds.flaws.response != "" {
		ext = ds.flaws.response
	}
	conn, br, err := acceptWebSocket(w, r, ext)
	if err != nil {
		return
	}
	defer conn.Close()
	deflateEchoLoop(conn, br, false, cfg, ds.flaws)
}

func runDeflateAgainst(t *testing.T, fl deflateFlaws, include ...string) map[string]*Result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &deflateTestServer{flaws: fl}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	cases, err := SelectCases(true, include, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := RunClient(ctx, "ws://"+ln.Addr().String(), cases, RunOptions{Concurrency: 4})
	out := map[string]*Result{}
	for _, r := range res {
		out[r.ID] = r
	}
	return out
}

// TestDeflateServerFlaws runs compression cases against Go deflate echo
// servers: correct ones earn OK (also when echoing uncompressed), declining
// ones UNIMPLEMENTED, and flawed ones FAILED with the reason named.
func TestDeflateServerFlaws(t *testing.T) {
	ids := []string{"12.1.1", "12.2.11", "13.2.7", "13.3.4", "13.6.13", "13.7.18"}
	tests := []struct {
		name   string
		flaws  deflateFlaws
		want   Outcome
		reason string
		only   []string
	}{
		{name: "correct", want: OK},
		{name: "plain echoes", flaws: deflateFlaws{plain: true}, want: OK},
		{name: "declines", flaws: deflateFlaws{decline: true}, want: Unimplemented, reason: "declined"},
		{name: "unknown parameter", flaws: deflateFlaws{response: "permessage-deflate; foo"}, want: Failed, reason: "unknown parameter foo"},
		{name: "bad window", flaws: deflateFlaws{response: "permessage-deflate; server_max_window_bits=7"}, want: Failed, reason: "invalid server_max_window_bits"},
		{name: "RSV1 on continuation", flaws: deflateFlaws{rsv1OnContinuation: true}, want: Failed, reason: "RSV1 on a continuation frame"},
		{name: "RSV1 on pong", flaws: deflateFlaws{rsv1OnPong: true}, want: Failed, reason: "RSV1 on a pong frame"},
		{name: "keeps context", flaws: deflateFlaws{keepContext: true}, want: Failed, reason: "does not inflate", only: []string{"13.2.7", "13.6.13"}},
		// 13.7 negotiates server_max_window_bits=9, under which the
		// suite's test server compresses without back-references, so
		// keeping the context is harmless there.
		{name: "keeps context, small window", flaws: deflateFlaws{keepContext: true}, want: OK, only: []string{"13.7.18"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			include := ids
			if tc.only != nil {
				include = tc.only
			}
			res := runDeflateAgainst(t, tc.flaws, include...)
			for _, id := range include {
				r := res[id]
				if r == nil {
					t.Errorf("%s: not run", id)
					continue
				}
				if r.Outcome != tc.want || !strings.Contains(r.Reason, tc.reason) {
					t.Errorf("%s: %s (%s; close %s: %s; %v), want %s with %q", id, r.Outcome, r.Reason, r.BehaviorClose, r.ReasonClose, r.Details, tc.want, tc.reason)
				}
			}
		})
	}
}

// runDeflateClient runs case n (1-based) of the fuzzing server as a Go
// client sending the given Sec-WebSocket-Extensions offer.
func runDeflateClient(t *testing.T, base string, n int, offer string, fl deflateFlaws) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, br, hdr, err := dialWebSocket(ctx, base+"/runCase?case="+strconv.Itoa(n)+"&agent=go", 5*time.Second, offer)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	var cfg *deflateConfig
	if hdr.Get("Sec-WebSocket-Extensions") != "" {
		els, err := parseExtensions([]string{offer})
		if err != nil {
			t.Fatal(err)
		}
		var offers []DeflateParams
		for _, el := range els {
			p, err := parseDeflateParams(el, true)
			if err != nil {
				t.Fatal(err)
			}
			offers = append(offers, p)
		}
		cfg, _, err = (&DeflateSpec{Offers: offers}).negotiateClient(hdr)
		if err != nil {
			t.Fatalf("the suite's response: %v", err)
		}
	}
	deflateEchoLoop(conn, br, true, cfg, fl)
}

// TestDeflateClientRole runs compression cases with the suite as server
// against a Go client making various offers.
func TestDeflateClientRole(t *testing.T) {
	cases, err := SelectCases(true, []string{"12.1.2", "13.3.11", "13.5.10", "13.6.7"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		offer string
		flaws deflateFlaws
		want  []Outcome // per case
		why   string
	}{
		{name: "no offer", want: []Outcome{Unimplemented, Unimplemented, Unimplemented, Unimplemented}, why: "did not offer"},
		{name: "ws-like offer", offer: "permessage-deflate; client_max_window_bits", want: []Outcome{OK, OK, OK, OK}},
		{name: "offer without client_max_window_bits", offer: "permessage-deflate; server_max_window_bits=10",
			want: []Outcome{OK, Unimplemented, Unimplemented, Unimplemented}, why: "needs client_max_window_bits"},
		{name: "small server window", offer: "permessage-deflate; client_max_window_bits; server_max_window_bits=8; server_no_context_takeover", want: []Outcome{OK, OK, OK, OK}},
		{name: "invalid offer", offer: "permessage-deflate; client_max_window_bits=1", want: []Outcome{Failed, Failed, Failed, Failed}, why: "invalid client_max_window_bits"},
		{name: "keeps context", offer: "permessage-deflate; client_max_window_bits", flaws: deflateFlaws{keepContext: true},
			want: []Outcome{OK, OK, OK, Failed}, why: "does not inflate"}, // 13.5: window 9, no back-references
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := &FuzzServer{Cases: cases, Quick: true}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: fs, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			for i := range cases {
				runDeflateClient(t, "ws://"+ln.Addr().String(), i+1, tc.offer, tc.flaws)
			}
			fs.waitInflight(10 * time.Second)
			res := fs.Results("go")
			if len(res) != len(cases) {
				t.Fatalf("%d results", len(res))
			}
			for i, r := range res {
				if r.Outcome != tc.want[i] || (r.Outcome != OK && !strings.Contains(r.Reason, tc.why)) {
					t.Errorf("%s: %s (%s; %v), want %s with %q", r.ID, r.Outcome, r.Reason, r.Details, tc.want[i], tc.why)
				}
			}
		})
	}
}
