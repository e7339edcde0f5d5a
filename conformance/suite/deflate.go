package suite

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// This file holds the suite's own permessage-deflate (RFC 7692): parsing and
// validating the Sec-WebSocket-Extensions header, the negotiation in both
// roles, and compression built on the standard library's compress/flate only,
// so that the suite stays independent of the implementation under test.

// deflateExtension is the extension token of RFC 7692.
const deflateExtension = "permessage-deflate"

// DeflateParams is one permessage-deflate offer or response: the four
// parameters of RFC 7692 section 7.1.
type DeflateParams struct {
	// ServerNoContextTakeover is server_no_context_takeover.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover is client_no_context_takeover.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits is the value of server_max_window_bits (8–15), or
	// 0 when the parameter is absent.
	ServerMaxWindowBits int
	// HasClientMaxWindowBits tells whether client_max_window_bits is
	// present; in an offer it may come without a value.
	HasClientMaxWindowBits bool
	// ClientMaxWindowBits is the value of client_max_window_bits (8–15), or
	// 0 when the parameter is absent or has no value.
	ClientMaxWindowBits int
}

// String renders the parameters as one Sec-WebSocket-Extensions element.
func (p DeflateParams) String() string {
	var b strings.Builder
	b.WriteString(deflateExtension)
	if p.ClientNoContextTakeover {
		b.WriteString("; client_no_context_takeover")
	}
	if p.HasClientMaxWindowBits {
		b.WriteString("; client_max_window_bits")
		if p.ClientMaxWindowBits != 0 {
			fmt.Fprintf(&b, "=%d", p.ClientMaxWindowBits)
		}
	}
	if p.ServerNoContextTakeover {
		b.WriteString("; server_no_context_takeover")
	}
	if p.ServerMaxWindowBits != 0 {
		fmt.Fprintf(&b, "; server_max_window_bits=%d", p.ServerMaxWindowBits)
	}
	return b.String()
}

// DeflateAccept is how the suite, as server, accepts a client's offer: the
// client-direction parameters it puts into its response. Like Autobahn's
// accept functions, the suite always grants what the offer requests for the
// server direction (server_no_context_takeover, server_max_window_bits).
type DeflateAccept struct {
	// ClientNoContextTakeover adds client_no_context_takeover to the
	// response (always allowed, RFC 7692 section 7.1.1.2).
	ClientNoContextTakeover bool
	// ClientMaxWindowBits, when non-zero, adds client_max_window_bits=N to
	// the response. RFC 7692 section 7.1.2.2 allows that only when the
	// offer contains client_max_window_bits, so offers without it do not
	// match this rule; an offered value smaller than N is kept.
	ClientMaxWindowBits int
}

// DeflateSpec says how a case negotiates permessage-deflate.
type DeflateSpec struct {
	// Offers are the offers the suite makes as a client, in order of
	// preference, all in one Sec-WebSocket-Extensions header.
	Offers []DeflateParams
	// Accept are the rules the suite, as server, tries in order; for each
	// rule the client's offers are tried in order and the first match is
	// accepted. When nothing matches, the suite declines.
	Accept []DeflateAccept
}

// offerHeader returns the Sec-WebSocket-Extensions value of the offers.
func (d *DeflateSpec) offerHeader() string {
	parts := make([]string, len(d.Offers))
	for i, o := range d.Offers {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

// extParam is one parameter of an extension element.
type extParam struct {
	name, value string
	hasValue    bool
}

// extElement is one element of a Sec-WebSocket-Extensions list.
type extElement struct {
	name   string
	params []extParam
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// extParser tokenises one Sec-WebSocket-Extensions header value following
// RFC 6455 section 9.1 (token, parameters after ";", values as token or
// quoted-string).
type extParser struct {
	s string
	i int
}

func (p *extParser) eof() bool { return p.i >= len(p.s) }

func (p *extParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *extParser) token(what string) (string, error) {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		if p.eof() {
			return "", fmt.Errorf("expected %s at the end of %q", what, p.s)
		}
		return "", fmt.Errorf("expected %s at offset %d of %q, found %q", what, start, p.s, p.s[start])
	}
	return p.s[start:p.i], nil
}

func (p *extParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			v := b.String()
			// RFC 6455 section 9.1: an unescaped quoted value must
			// conform to the token ABNF.
			for j := 0; j < len(v); j++ {
				if !isTokenChar(v[j]) {
					return "", fmt.Errorf("quoted value %q is not a token", v)
				}
			}
			if v == "" {
				return "", errors.New("empty quoted value")
			}
			return v, nil
		case '\\':
			if p.i >= len(p.s) {
				return "", errors.New("unterminated quoted value")
			}
			b.WriteByte(p.s[p.i])
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted value")
}

// parseExtensions parses every Sec-WebSocket-Extensions header line.
func parseExtensions(values []string) ([]extElement, error) {
	var out []extElement
	for _, v := range values {
		p := &extParser{s: v}
		for {
			p.skipOWS()
			if p.eof() {
				break
			}
			if p.s[p.i] == ',' { // empty list element
				p.i++
				continue
			}
			name, err := p.token("an extension name")
			if err != nil {
				return nil, err
			}
			el := extElement{name: name}
			for {
				p.skipOWS()
				if p.eof() {
					break
				}
				if p.s[p.i] == ',' {
					p.i++
					break
				}
				if p.s[p.i] != ';' {
					return nil, fmt.Errorf("expected ';' or ',' at offset %d of %q", p.i, p.s)
				}
				p.i++
				p.skipOWS()
				pn, err := p.token("a parameter name")
				if err != nil {
					return nil, err
				}
				prm := extParam{name: pn}
				p.skipOWS()
				if !p.eof() && p.s[p.i] == '=' {
					p.i++
					p.skipOWS()
					prm.hasValue = true
					if !p.eof() && p.s[p.i] == '"' {
						prm.value, err = p.quoted()
					} else {
						prm.value, err = p.token("a parameter value")
					}
					if err != nil {
						return nil, fmt.Errorf("parameter %s: %w", pn, err)
					}
				}
				el.params = append(el.params, prm)
			}
			out = append(out, el)
		}
	}
	return out, nil
}

// parseWindowBits accepts the decimal values 8 to 15 without leading zeros
// (RFC 7692 sections 7.1.2.1 and 7.1.2.2).
func parseWindowBits(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 || strconv.Itoa(n) != v {
		return 0, false
	}
	return n, true
}

// parseDeflateParams validates the parameters of one permessage-deflate
// element. In an offer client_max_window_bits may come without a value; in a
// response it needs one. Unknown, duplicate and malformed parameters are
// errors.
func parseDeflateParams(el extElement, offer bool) (DeflateParams, error) {
	var p DeflateParams
	seen := map[string]bool{}
	for _, prm := range el.params {
		if seen[prm.name] {
			return p, fmt.Errorf("duplicate parameter %s", prm.name)
		}
		seen[prm.name] = true
		switch prm.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if prm.hasValue {
				return p, fmt.Errorf("parameter %s must not have a value (got %q)", prm.name, prm.value)
			}
			if prm.name == "server_no_context_takeover" {
				p.ServerNoContextTakeover = true
			} else {
				p.ClientNoContextTakeover = true
			}
		case "server_max_window_bits":
			if !prm.hasValue {
				return p, errors.New("parameter server_max_window_bits needs a value")
			}
			n, ok := parseWindowBits(prm.value)
			if !ok {
				return p, fmt.Errorf("invalid server_max_window_bits value %q (want 8 to 15)", prm.value)
			}
			p.ServerMaxWindowBits = n
		case "client_max_window_bits":
			p.HasClientMaxWindowBits = true
			if !prm.hasValue {
				if !offer {
					return p, errors.New("parameter client_max_window_bits needs a value in a response")
				}
				continue
			}
			n, ok := parseWindowBits(prm.value)
			if !ok {
				return p, fmt.Errorf("invalid client_max_window_bits value %q (want 8 to 15)", prm.value)
			}
			p.ClientMaxWindowBits = n
		default:
			return p, fmt.Errorf("unknown parameter %s", prm.name)
		}
	}
	return p, nil
}

// responseFits checks a response against one offer (RFC 7692 section 7.1).
func responseFits(offer, resp DeflateParams) error {
	switch {
	case offer.ServerNoContextTakeover && !resp.ServerNoContextTakeover:
		return errors.New("the offer requested server_no_context_takeover but the response lacks it")
	case offer.ServerMaxWindowBits != 0 && resp.ServerMaxWindowBits == 0:
		return fmt.Errorf("the offer requested server_max_window_bits=%d but the response lacks it", offer.ServerMaxWindowBits)
	case offer.ServerMaxWindowBits != 0 && resp.ServerMaxWindowBits > offer.ServerMaxWindowBits:
		return fmt.Errorf("the response's server_max_window_bits=%d exceeds the offered %d", resp.ServerMaxWindowBits, offer.ServerMaxWindowBits)
	case resp.HasClientMaxWindowBits && !offer.HasClientMaxWindowBits:
		return errors.New("the response has client_max_window_bits but the offer did not include it")
	case resp.HasClientMaxWindowBits && offer.ClientMaxWindowBits != 0 && resp.ClientMaxWindowBits > offer.ClientMaxWindowBits:
		return fmt.Errorf("the response's client_max_window_bits=%d exceeds the offered %d", resp.ClientMaxWindowBits, offer.ClientMaxWindowBits)
	}
	return nil
}

// deflateConfig is a negotiated permessage-deflate configuration, seen from
// the suite: "tx" is what the suite sends, "rx" what the peer sends.
type deflateConfig struct {
	// header is the agreed Sec-WebSocket-Extensions element.
	header string
	// txTakeover tells whether the suite keeps its compression context
	// between messages; txWindowBits is the window it may use.
	txTakeover   bool
	txWindowBits int
	// rxTakeover tells whether the peer may keep its context; when false
	// the suite's inflater starts every message without history, so a
	// peer that still refers to earlier messages produces corrupt data.
	rxTakeover bool
}

func (c *deflateConfig) String() string {
	ct := func(b bool) string {
		if b {
			return "context takeover"
		}
		return "no context takeover"
	}
	return fmt.Sprintf("negotiated %q (suite to peer: %s, window bits %d; peer to suite: %s)",
		c.header, ct(c.txTakeover), c.txWindowBits, ct(c.rxTakeover))
}

// negotiateClient checks the server's response to the case's offers. It
// returns the configuration, or declined when the response has no
// extension, or an error when the response is invalid.
func (d *DeflateSpec) negotiateClient(h http.Header) (cfg *deflateConfig, declined bool, err error) {
	els, err := parseExtensions(h.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		return nil, false, fmt.Errorf("malformed Sec-WebSocket-Extensions in the response: %w", err)
	}
	if len(els) == 0 {
		return nil, true, nil
	}
	var found []extElement
	for _, el := range els {
		if el.name != deflateExtension {
			return nil, false, fmt.Errorf("the response accepts extension %q, which was not offered", el.name)
		}
		found = append(found, el)
	}
	if len(found) > 1 {
		return nil, false, fmt.Errorf("the response accepts permessage-deflate %d times", len(found))
	}
	resp, err := parseDeflateParams(found[0], false)
	if err != nil {
		return nil, false, fmt.Errorf("invalid permessage-deflate response: %w", err)
	}
	var misfits []string
	for i, offer := range d.Offers {
		ferr := responseFits(offer, resp)
		if ferr != nil {
			misfits = append(misfits, fmt.Sprintf("offer %d: %v", i+1, ferr))
			continue
		}
		cfg = &deflateConfig{
			header: resp.String(),
			// The offer's client_no_context_takeover is a promise not
			// to use context takeover (RFC 7692 section 7.1.1.2).
			txTakeover:   !resp.ClientNoContextTakeover && !offer.ClientNoContextTakeover,
			txWindowBits: 15,
			rxTakeover:   !resp.ServerNoContextTakeover,
		}
		if resp.ClientMaxWindowBits != 0 {
			cfg.txWindowBits = resp.ClientMaxWindowBits
		}
		return cfg, false, nil
	}
	return nil, false, fmt.Errorf("the response %q fits none of the offers: %s", resp.String(), strings.Join(misfits, "; "))
}

// negotiateServer chooses the suite's response to the client's offers. It
// returns the configuration and the response header value; declined (with a
// reason) when no offer fits the case's rules; or an error when an offer is
// invalid.
func (d *DeflateSpec) negotiateServer(h http.Header) (cfg *deflateConfig, declined string, err error) {
	els, err := parseExtensions(h.Values("Sec-WebSocket-Extensions"))
	if err != nil {
		return nil, "", fmt.Errorf("malformed Sec-WebSocket-Extensions in the request: %w", err)
	}
	var offers []DeflateParams
	for _, el := range els {
		if el.name != deflateExtension {
			continue // other extensions are simply not accepted
		}
		o, err := parseDeflateParams(el, true)
		if err != nil {
			return nil, "", fmt.Errorf("invalid permessage-deflate offer %d: %w", len(offers)+1, err)
		}
		offers = append(offers, o)
	}
	if len(offers) == 0 {
		return nil, "The client did not offer permessage-deflate.", nil
	}
	for _, rule := range d.Accept {
		for _, o := range offers {
			if rule.ClientMaxWindowBits != 0 && !o.HasClientMaxWindowBits {
				continue
			}
			resp := DeflateParams{
				ServerNoContextTakeover: o.ServerNoContextTakeover,
				ServerMaxWindowBits:     o.ServerMaxWindowBits,
				ClientNoContextTakeover: rule.ClientNoContextTakeover,
			}
			if rule.ClientMaxWindowBits != 0 {
				resp.HasClientMaxWindowBits = true
				resp.ClientMaxWindowBits = rule.ClientMaxWindowBits
				if o.ClientMaxWindowBits != 0 {
					resp.ClientMaxWindowBits = min(resp.ClientMaxWindowBits, o.ClientMaxWindowBits)
				}
			}
			cfg = &deflateConfig{
				header:       resp.String(),
				txTakeover:   !resp.ServerNoContextTakeover,
				txWindowBits: 15,
				// An offered client_no_context_takeover is the
				// client's promise (RFC 7692 section 7.1.1.2), kept
				// even when the response does not repeat it.
				rxTakeover: !resp.ClientNoContextTakeover && !o.ClientNoContextTakeover,
			}
			if resp.ServerMaxWindowBits != 0 {
				cfg.txWindowBits = resp.ServerMaxWindowBits
			}
			return cfg, "", nil
		}
	}
	strs := make([]string, len(offers))
	for i, o := range offers {
		strs[i] = o.String()
	}
	return nil, fmt.Sprintf("None of the client's permessage-deflate offers (%s) fits this case: it needs client_max_window_bits in the offer.", strings.Join(strs, ", ")), nil
}

// deflateTrailer is the empty stored block that a sync flush ends with; RFC
// 7692 section 7.2.1 removes it from every message and section 7.2.2 puts
// it back before inflating.
var deflateTrailer = []byte{0x00, 0x00, 0xff, 0xff}

// inflateTail is the trailer followed by a final empty stored block, so that
// the inflater reports a clean end of stream after each message.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// maxWindow is the largest LZ77 window (window bits 15).
const maxWindow = 1 << 15

// deflater compresses the suite's messages.
type deflater struct {
	w        *flate.Writer
	buf      bytes.Buffer
	takeover bool
	used     bool
}

// newDeflater returns a compressor. The standard library always uses a
// 32 KiB window, which is only allowed when the negotiated window bits are
// 15. For smaller windows the suite compresses with flate.HuffmanOnly: its
// output has no back-references at all, so it is valid under any window
// size (8 to 15 bits), at the price of a weaker compression ratio. With the
// full window the suite uses level 2: it emits dynamic Huffman blocks with
// back-references up to 32 KiB, within and (with context takeover) across
// messages, yet is several times faster than the default level on
// repetitive data, which matters for 216 cases of 1000 messages. (Level 1,
// flate.BestSpeed, is no faster and does not refer across a flush after a
// message whose size is a multiple of 64 KiB.)
func newDeflater(takeover bool, windowBits int) *deflater {
	const fullWindowLevel = 2
	level := fullWindowLevel
	if windowBits < 15 {
		level = flate.HuffmanOnly
	}
	d := &deflater{takeover: takeover}
	d.w, _ = flate.NewWriter(&d.buf, level) // the level is valid
	return d
}

// compress returns the compressed form of one message: the DEFLATE data up
// to a sync flush, without the trailing 00 00 FF FF. Without context
// takeover the compressor starts afresh for every message.
func (d *deflater) compress(p []byte) []byte {
	d.buf.Reset()
	if d.used && !d.takeover {
		d.w.Reset(&d.buf)
	}
	d.used = true
	_, _ = d.w.Write(p) // writes to a bytes.Buffer do not fail
	_ = d.w.Flush()
	out := d.buf.Bytes()
	if bytes.HasSuffix(out, deflateTrailer) {
		out = out[:len(out)-len(deflateTrailer)]
	}
	return append([]byte(nil), out...)
}

// inflater decompresses the peer's messages.
type inflater struct {
	r        io.ReadCloser
	takeover bool
	// hist is the last 32 KiB of decompressed data, the window the next
	// message may refer to under context takeover.
	hist []byte
}

func newInflater(takeover bool) *inflater { return &inflater{takeover: takeover} }

// errInflateTooLarge is returned when a message inflates beyond the limit.
var errInflateTooLarge = errors.New("decompressed message exceeds the size limit")

// inflate decompresses one message (RSV1 set, trailer removed by the peer).
func (in *inflater) inflate(p []byte, limit int64) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader(inflateTail))
	var dict []byte
	if in.takeover {
		dict = in.hist
	}
	if in.r == nil {
		in.r = flate.NewReaderDict(src, dict)
	} else if err := in.r.(flate.Resetter).Reset(src, dict); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(in.r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errInflateTooLarge
	}
	if in.takeover {
		in.hist = append(in.hist, out.Bytes()...)
		if len(in.hist) > maxWindow {
			in.hist = append(in.hist[:0], in.hist[len(in.hist)-maxWindow:]...)
		}
	}
	return out.Bytes(), nil
}
