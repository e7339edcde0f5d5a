package deflate

import "testing"

// FuzzExtensions: any Sec-WebSocket-Extensions value is parsed without
// panic; a server's answer to it is something its own client accepts for
// the same offer, with matching settings.
func FuzzExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9; server_no_context_takeover; client_no_context_takeover",
		`permessage-deflate; server_max_window_bits="12", x-foo; a=b`,
		"permessage-deflate;;", "a,,b", `x; y="\"q\""`, "permessage-deflate; server_max_window_bits=08",
	} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, header string, knobs uint8) {
		offers, err := ParseExtensions([]string{header})
		if err != nil {
			return
		}
		cfg := Config{NoContextTakeover: knobs&1 != 0, PeerNoContextTakeover: knobs&2 != 0, WindowBits: 8 + int(knobs>>2&7), PeerWindowBits: 8 + int(knobs>>5&7)}
		resp, st, ok := AcceptOffers(offers, cfg)
		if !ok {
			return
		}
		back, err := ParseExtensions([]string{resp})
		if err != nil || len(back) != 1 {
			t.Fatalf("our response %q does not parse: %v", resp, err)
		}
		if st.OutBits < 8 || st.OutBits > 15 || st.InBits < 8 || st.InBits > 15 {
			t.Fatalf("window bits out of range: %+v", st)
		}
		// The accepted offer, as a client would have sent it: our client
		// must accept our response and agree on the settings.
		for _, o := range offers {
			if o.Name != "permessage-deflate" {
				continue
			}
			if _, _, ok := AcceptOffers([]Extension{o}, cfg); !ok {
				continue
			}
			ccfg := clientConfigFor(o)
			cst, ok, err := CheckResponse(back, ccfg)
			if err != nil || !ok {
				t.Fatalf("offer %q, response %q: our client refuses: %v", header, resp, err)
			}
			if cst.OutTakeover != st.InTakeover || cst.InTakeover != st.OutTakeover {
				t.Fatalf("offer %q, response %q: takeover disagrees: server %+v client %+v", header, resp, st, cst)
			}
			if cst.InBits < st.OutBits {
				t.Fatalf("offer %q, response %q: the client keeps a %d-bit window for a %d-bit sender", header, resp, cst.InBits, st.OutBits)
			}
			break
		}
	})
}

// clientConfigFor is the client configuration that produces offer o.
func clientConfigFor(o Extension) Config {
	c := Config{}
	for _, p := range o.Params {
		switch p.Name {
		case "client_no_context_takeover":
			c.NoContextTakeover = true
		case "server_no_context_takeover":
			c.PeerNoContextTakeover = true
		case "server_max_window_bits":
			c.PeerWindowBits, _ = parseBits(p.Value)
		case "client_max_window_bits":
			if n, ok := parseBits(p.Value); ok {
				c.WindowBits = n
			}
		}
	}
	return c
}
