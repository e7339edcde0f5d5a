// Package deflate holds the parts of permessage-deflate (RFC 7692) that
// need no connection: the Sec-WebSocket-Extensions grammar, the server's
// choice among a client's offers and the client's check of the answer
// (which both yield a Params value), the history a connection keeps for
// context takeover, the pools of compressors and inflaters, and the
// flush marker that RFC 7692 strips from every compressed message.
//
// The root package wsio turns a Params value into its per-connection
// state and calls the rest while it sends and receives. This package
// imports only the standard library, golang.org/x/net and
// github.com/klauspost/compress: never the root package.
package deflate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Config is this side's negotiation settings, as the root's Compression
// holds them. A window size outside 8 to 15 bits stands for the
// default, 15.
type Config struct {
	// NoContextTakeover makes this side compress each message on its
	// own, keeping no send history.
	NoContextTakeover bool
	// PeerNoContextTakeover asks the peer to compress each message on its
	// own, so this side keeps no receive history.
	PeerNoContextTakeover bool
	// WindowBits is the base-2 log of the window this side compresses
	// with; a peer may ask for less.
	WindowBits int
	// PeerWindowBits is the base-2 log of the largest window the peer is
	// asked to compress with.
	PeerWindowBits int
}

// Params is what a handshake negotiated, seen from this side.
type Params struct {
	// OutBits is the base-2 log of the window this side compresses
	// with, 8 to 15.
	OutBits int
	// OutTakeover reports whether this side keeps its compression
	// context from one message to the next.
	OutTakeover bool
	// InBits is the base-2 log of the window the peer compresses with,
	// 8 to 15: the receive history this side keeps is that long.
	InBits int
	// InTakeover reports whether the peer keeps its compression context
	// from one message to the next, so this side keeps a receive history.
	InTakeover bool
}

// bitsOr returns v when it is a window size, 8 to 15, else 15.
func bitsOr(v int) int {
	if v < 8 || v > 15 {
		return 15
	}
	return v
}

// initial is what c negotiates when the peer asks for nothing.
func initial(c Config) Params {
	return Params{OutBits: bitsOr(c.WindowBits), OutTakeover: true, InBits: 15, InTakeover: true}
}

// AcceptOffers picks the first acceptable permessage-deflate offer among
// a client's extensions (RFC 7692, 5 and 7.1) and returns the response's
// extension value and what it negotiates. ok is false when every offer
// is declined; the connection then goes on uncompressed.
func AcceptOffers(offers []Extension, c Config) (resp string, p Params, ok bool) {
	for _, e := range offers {
		if e.Name != "permessage-deflate" {
			continue
		}
		if resp, p, ok = acceptOffer(e.Params, c); ok {
			return resp, p, true
		}
	}
	return "", Params{}, false
}

// acceptOffer answers one permessage-deflate offer with params, or
// declines it (ok false) for an unknown, repeated or malformed parameter.
func acceptOffer(params []Param, c Config) (string, Params, bool) {
	var (
		seen                     uint8
		serverNoCtx, clientNoCtx bool
		serverBits, clientBits   int
		clientBitsOffered        bool
	)
	for _, p := range params {
		var bit uint8
		switch p.Name {
		case "server_no_context_takeover":
			bit, serverNoCtx = 1, true
			if p.HasValue {
				return "", Params{}, false
			}
		case "client_no_context_takeover":
			bit, clientNoCtx = 2, true
			if p.HasValue {
				return "", Params{}, false
			}
		case "server_max_window_bits":
			bit = 4
			n, ok := parseBits(p.Value)
			if !p.HasValue || !ok {
				return "", Params{}, false
			}
			serverBits = n
		case "client_max_window_bits":
			bit, clientBitsOffered = 8, true
			if p.HasValue {
				n, ok := parseBits(p.Value)
				if !ok {
					return "", Params{}, false
				}
				clientBits = n
			}
		default:
			return "", Params{}, false
		}
		if seen&bit != 0 {
			return "", Params{}, false // a parameter given twice
		}
		seen |= bit
	}
	st := initial(c)
	var b strings.Builder
	b.WriteString("permessage-deflate")
	if serverNoCtx || c.NoContextTakeover {
		st.OutTakeover = false
		b.WriteString("; server_no_context_takeover")
	}
	if clientNoCtx || c.PeerNoContextTakeover {
		st.InTakeover = false
		b.WriteString("; client_no_context_takeover")
	}
	if serverBits != 0 {
		st.OutBits = min(st.OutBits, serverBits)
		b.WriteString("; server_max_window_bits=" + strconv.Itoa(st.OutBits))
	}
	if clientBitsOffered {
		if clientBits != 0 {
			st.InBits = clientBits
		}
		if want := bitsOr(c.PeerWindowBits); want < st.InBits {
			st.InBits = want
			b.WriteString("; client_max_window_bits=" + strconv.Itoa(want))
		}
	}
	return b.String(), st, true
}

// Offer is the Sec-WebSocket-Extensions value a client with settings c
// offers.
func Offer(c Config) string {
	s := "permessage-deflate"
	if c.NoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if c.PeerNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if pb := bitsOr(c.PeerWindowBits); pb < 15 {
		s += "; server_max_window_bits=" + strconv.Itoa(pb)
	}
	s += "; client_max_window_bits"
	if wb := bitsOr(c.WindowBits); wb < 15 {
		s += "=" + strconv.Itoa(wb)
	}
	return s
}

// CheckResponse checks a server's extensions, answering Offer(c), and
// returns what they negotiate. ok is false, with no error, when the
// server declined (it chose no extension). Anything the offer did not
// allow is an error, which fails the handshake (RFC 7692, 5 and 7.1).
func CheckResponse(resp []Extension, c Config) (p Params, ok bool, err error) {
	if len(resp) == 0 {
		return Params{}, false, nil
	}
	if len(resp) > 1 || resp[0].Name != "permessage-deflate" {
		return Params{}, false, fmt.Errorf("the server chose extensions that were not offered: %v", names(resp))
	}
	st := initial(c)
	offeredServerBits := bitsOr(c.PeerWindowBits)
	var seen uint8
	gotServerNoCtx, gotServerBits := false, false
	for _, p := range resp[0].Params {
		var bit uint8
		switch p.Name {
		case "server_no_context_takeover":
			bit, gotServerNoCtx = 1, true
			st.InTakeover = false
			if p.HasValue {
				return Params{}, false, errors.New("server_no_context_takeover with a value")
			}
		case "client_no_context_takeover":
			bit = 2
			st.OutTakeover = false
			if p.HasValue {
				return Params{}, false, errors.New("client_no_context_takeover with a value")
			}
		case "server_max_window_bits":
			bit, gotServerBits = 4, true
			n, ok := parseBits(p.Value)
			if !ok || n > offeredServerBits {
				return Params{}, false, fmt.Errorf("server_max_window_bits=%q is not allowed by the offer", p.Value)
			}
			st.InBits = n
		case "client_max_window_bits":
			bit = 8
			n, ok := parseBits(p.Value)
			if !ok {
				return Params{}, false, fmt.Errorf("client_max_window_bits=%q is not a window size", p.Value)
			}
			st.OutBits = min(st.OutBits, n)
		default:
			return Params{}, false, fmt.Errorf("unknown permessage-deflate parameter %q", p.Name)
		}
		if seen&bit != 0 {
			return Params{}, false, fmt.Errorf("permessage-deflate parameter %q given twice", p.Name)
		}
		seen |= bit
	}
	if c.PeerNoContextTakeover && !gotServerNoCtx {
		return Params{}, false, errors.New("the server ignored server_no_context_takeover")
	}
	if offeredServerBits < 15 && !gotServerBits {
		return Params{}, false, errors.New("the server ignored server_max_window_bits")
	}
	if c.NoContextTakeover {
		st.OutTakeover = false
	}
	return st, true, nil
}
