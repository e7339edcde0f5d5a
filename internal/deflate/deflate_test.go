package deflate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string // name(params)… or "error"
	}{
		{[]string{"permessage-deflate"}, "permessage-deflate()"},
		{[]string{"permessage-deflate; client_max_window_bits"}, "permessage-deflate(client_max_window_bits)"},
		{[]string{"permessage-deflate;server_max_window_bits=10 ; client_no_context_takeover, x-foo"},
			"permessage-deflate(server_max_window_bits=10,client_no_context_takeover) x-foo()"},
		{[]string{`permessage-deflate; server_max_window_bits="10"`}, "permessage-deflate(server_max_window_bits=10)"},
		{[]string{"a", "b; c=d"}, "a() b(c=d)"},
		{[]string{" , a ,, b"}, "a() b()"},
		{[]string{"permessage-deflate; =10"}, "error"},
		{[]string{"permessage-deflate; a=10 b"}, "error"},
		{[]string{`permessage-deflate; a="10`}, "error"},
		{[]string{"permessage-deflate; a="}, "error"},
		{[]string{"permessage deflate"}, "error"},
		{[]string{"; x"}, "error"},
	}
	for _, tt := range tests {
		exts, err := ParseExtensions(tt.in)
		got := "error"
		if err == nil {
			var parts []string
			for _, e := range exts {
				var ps []string
				for _, p := range e.Params {
					if p.HasValue {
						ps = append(ps, p.Name+"="+p.Value)
					} else {
						ps = append(ps, p.Name)
					}
				}
				parts = append(parts, e.Name+"("+strings.Join(ps, ",")+")")
			}
			got = strings.Join(parts, " ")
		}
		if got != tt.want {
			t.Errorf("ParseExtensions(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestAcceptOffers(t *testing.T) {
	t.Parallel()
	def := Config{}
	tests := []struct {
		name  string
		offer string
		cfg   Config
		resp  string // "" = declined
		st    string // outBits/outTakeover inBits/inTakeover
	}{
		{"browser offer", "permessage-deflate; client_max_window_bits", def, "permessage-deflate", "15t 15t"},
		{"bare offer", "permessage-deflate", def, "permessage-deflate", "15t 15t"},
		{"client asks server no takeover", "permessage-deflate; server_no_context_takeover", def, "permessage-deflate; server_no_context_takeover", "15f 15t"},
		{"client says it won't take over", "permessage-deflate; client_no_context_takeover", def, "permessage-deflate; client_no_context_takeover", "15t 15f"},
		{"server window limited", "permessage-deflate; server_max_window_bits=10", def, "permessage-deflate; server_max_window_bits=10", "10t 15t"},
		{"server window below ours", "permessage-deflate; server_max_window_bits=12", Config{WindowBits: 9}, "permessage-deflate; server_max_window_bits=9", "9t 15t"},
		{"client window offered with value", "permessage-deflate; client_max_window_bits=11", def, "permessage-deflate", "15t 11t"},
		{"we limit the client window", "permessage-deflate; client_max_window_bits", Config{PeerWindowBits: 10}, "permessage-deflate; client_max_window_bits=10", "15t 10t"},
		{"we cannot limit a client that did not offer it", "permessage-deflate", Config{PeerWindowBits: 10}, "permessage-deflate", "15t 15t"},
		{"our no-takeover settings", "permessage-deflate", Config{NoContextTakeover: true, PeerNoContextTakeover: true},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover", "15f 15f"},
		{"first acceptable of several", "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover", def,
			"permessage-deflate; client_no_context_takeover", "15t 15f"},
		{"other extension first", "x-webkit-deflate-frame, permessage-deflate", def, "permessage-deflate", "15t 15t"},
		{"unknown parameter", "permessage-deflate; foo", def, "", ""},
		{"duplicate parameter", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", def, "", ""},
		{"value on a flag", "permessage-deflate; server_no_context_takeover=1", def, "", ""},
		{"server bits without value", "permessage-deflate; server_max_window_bits", def, "", ""},
		{"bits too small", "permessage-deflate; server_max_window_bits=7", def, "", ""},
		{"bits too large", "permessage-deflate; client_max_window_bits=16", def, "", ""},
		{"leading zero", "permessage-deflate; server_max_window_bits=010", def, "", ""},
		{"not a number", "permessage-deflate; server_max_window_bits=ten", def, "", ""},
		{"only other extensions", "x-foo", def, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			offers, err := ParseExtensions([]string{tt.offer})
			if err != nil {
				t.Fatal(err)
			}
			resp, st, ok := AcceptOffers(offers, tt.cfg)
			if !ok {
				if tt.resp != "" {
					t.Fatalf("declined, want %q", tt.resp)
				}
				return
			}
			if resp != tt.resp {
				t.Fatalf("response %q, want %q", resp, tt.resp)
			}
			if got := stateString(st); got != tt.st {
				t.Fatalf("state %s, want %s", got, tt.st)
			}
			// The response must be one our own client accepts for the offer.
			if _, err := ParseExtensions([]string{resp}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func stateString(st Params) string {
	tf := func(b bool) string {
		if b {
			return "t"
		}
		return "f"
	}
	return fmt.Sprintf("%d%s %d%s", st.OutBits, tf(st.OutTakeover), st.InBits, tf(st.InTakeover))
}

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	def := Config{}
	tests := []struct {
		name string
		cfg  Config
		resp string
		st   string // "" = error; "nil" = declined
	}{
		{"declined", def, "", "nil"},
		{"plain", def, "permessage-deflate", "15t 15t"},
		{"server no takeover", def, "permessage-deflate; server_no_context_takeover", "15t 15f"},
		{"client no takeover", def, "permessage-deflate; client_no_context_takeover", "15f 15t"},
		{"server window", def, "permessage-deflate; server_max_window_bits=9", "15t 9t"},
		{"client window", def, "permessage-deflate; client_max_window_bits=10", "10t 15t"},
		{"client window without value", def, "permessage-deflate; client_max_window_bits", ""},
		{"server window over our offer", Config{PeerWindowBits: 10}, "permessage-deflate; server_max_window_bits=11", ""},
		{"server window ignored", Config{PeerWindowBits: 10}, "permessage-deflate", ""},
		{"server takeover ignored", Config{PeerNoContextTakeover: true}, "permessage-deflate", ""},
		{"unknown parameter", def, "permessage-deflate; foo=1", ""},
		{"duplicate", def, "permessage-deflate; client_no_context_takeover; client_no_context_takeover", ""},
		{"unoffered extension", def, "x-foo", ""},
		{"two extensions", def, "permessage-deflate, permessage-deflate", ""},
		{"our own no takeover", Config{NoContextTakeover: true}, "permessage-deflate; client_no_context_takeover", "15f 15t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vals []string
			if tt.resp != "" {
				vals = []string{tt.resp}
			}
			exts, err := ParseExtensions(vals)
			if err != nil {
				t.Fatal(err)
			}
			st, ok, err := CheckResponse(exts, tt.cfg)
			switch {
			case tt.st == "" && err == nil:
				t.Fatalf("accepted %q, want an error", tt.resp)
			case tt.st == "":
			case err != nil:
				t.Fatalf("error %v", err)
			case tt.st == "nil" && ok, tt.st != "nil" && !ok:
				t.Fatalf("state %v (ok %v), want %s", st, ok, tt.st)
			case ok && stateString(st) != tt.st:
				t.Fatalf("state %s, want %s", stateString(st), tt.st)
			}
		})
	}
}

func TestAppendHistory(t *testing.T) {
	t.Parallel()
	var ref []byte
	var h []byte
	for i := range 2000 {
		p := make([]byte, rand.IntN(700))
		for j := range p {
			p[j] = byte(i + j)
		}
		ref = append(ref, p...)
		h = AppendHistory(h, p, 1024)
		want := ref[max(0, len(ref)-1024):]
		if got := h[max(0, len(h)-1024):]; !bytes.Equal(got, want) {
			t.Fatalf("step %d: history differs", i)
		}
		if cap(h) > historyCap(1024) {
			t.Fatalf("capacity %d grew past %d", cap(h), historyCap(1024))
		}
		if got := LastBytes(h, 1024); !bytes.Equal(got, want) {
			t.Fatalf("step %d: lastBytes differs", i)
		}
	}
}

// TestAppendHistorySlidesRarely checks that a full history slides its
// bytes to the front once per slack's worth of appends, not at every one.
func TestAppendHistorySlidesRarely(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{512, 8 << 10, 32 << 10} {
		p := make([]byte, 1100%limit)
		var h []byte
		slides, copied := 0, 0
		const appends = 2000
		for range appends {
			before := len(h)
			h = AppendHistory(h, p, limit)
			if len(h) < before+len(p) {
				slides++
				copied += len(h) - len(p)
			}
		}
		if want := appends*len(p)/(historyCap(limit)-limit) + 4; slides > want { // + growth
			t.Errorf("limit %d: %d slides in %d appends of %d bytes, want at most %d", limit, slides, appends, len(p), want)
		}
		if per := copied / appends; per > 5*len(p) {
			t.Errorf("limit %d: %d bytes moved per append of %d", limit, per, len(p))
		}
	}
}
