package conn

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
)

// Compression configures permessage-deflate (RFC 7692). A client offers it
// unless Options.Compression is set with Disabled; a server accepts it only
// when its Options.Compression is set and not Disabled.
//
// Memory: between messages a connection holds no compressor and no
// decompressor (they are pooled and borrowed per message). With context
// takeover it keeps only the history the peer may refer back to: at most
// 2^WindowBits bytes of what it sent and 2^PeerWindowBits of what it
// received, growing with the traffic. Without context takeover it keeps
// nothing.
type Compression struct {
	// Disabled turns compression off.
	Disabled bool
	// Level is the flate level, from 1 (fastest; the default) to 9
	// (smallest). It applies with a 15-bit window; smaller windows use
	// the compressor's custom-window mode.
	Level int
	// Threshold is the smallest message compressed; smaller ones are sent
	// as they are. Default 1024 bytes; negative compresses every message.
	// Binary streams from BeginBinary are always compressed.
	Threshold int
	// NoContextTakeover compresses each message on its own, so this side
	// keeps no send history (it costs ratio on similar messages).
	NoContextTakeover bool
	// PeerNoContextTakeover asks the peer to compress each message on its
	// own, so this side keeps no receive history.
	PeerNoContextTakeover bool
	// WindowBits is the base-2 log of the window this side compresses
	// with, 8 to 15 (default 15). A peer may ask for less.
	WindowBits int
	// PeerWindowBits asks the peer to compress with a window of at most
	// 2^PeerWindowBits bytes, 8 to 15 (default 15: no limit). A server can
	// ask only when the client's offer allows it, as browsers' offers do.
	PeerWindowBits int
}

func (o *Compression) enabled() bool { return o != nil && !o.Disabled }

func bitsOr(v int) int {
	if v < 8 || v > 15 {
		return 15
	}
	return v
}

// deflateState is what was negotiated for one connection, seen from this
// side, plus the histories kept for context takeover.
type deflateState struct {
	level     int
	threshold int

	outBits     int  // window this side compresses with
	outTakeover bool // this side keeps its compression context
	outHist     []byte

	inBits     int  // window the peer compresses with
	inTakeover bool // the peer keeps its compression context
	inHist     []byte

	// With context takeover a busy connection keeps its compressor between
	// messages (it continues its own stream, so the history need not be
	// re-read); after compressorIdle without a message the compressor goes
	// back to the pool and the next message primes a fresh one with
	// outHist. Guarded by the data-message slot.
	fw   *flate.Writer
	sink deflateSink
	idle *time.Timer
}

// compressorIdle is how long a connection keeps its compressor after its
// last compressed message.
const compressorIdle = time.Second

// deflateSink is the compressor's fixed destination; it forwards to the
// message being written.
type deflateSink struct{ w *MessageWriter }

func (s *deflateSink) Write(b []byte) (int, error) { return (*compressedSink)(s.w).Write(b) }

func newDeflateState(o *Compression) *deflateState {
	level := o.Level
	if level < 1 || level > 9 {
		level = 1
	}
	th := o.Threshold
	if th == 0 {
		th = 1024
	}
	return &deflateState{level: level, threshold: th, outBits: bitsOr(o.WindowBits), inBits: 15, outTakeover: true, inTakeover: true}
}

// The extension header grammar (RFC 6455, 9.1):
//
//	extension-list = 1#extension
//	extension      = token *( ";" param )
//	param          = token [ "=" (token | quoted-string) ]
type extParam struct {
	name, value string
	hasValue    bool
}

type extension struct {
	name   string
	params []extParam
}

var errExtSyntax = errors.New("malformed Sec-WebSocket-Extensions header")

// parseExtensions parses every Sec-WebSocket-Extensions value, in order.
func parseExtensions(values []string) ([]extension, error) {
	var out []extension
	for _, s := range values {
		for {
			s = skipOWS(s)
			if s == "" {
				break
			}
			if s[0] == ',' {
				s = s[1:]
				continue
			}
			var e extension
			if e.name, s = cutToken(s); e.name == "" {
				return nil, errExtSyntax
			}
			for {
				s = skipOWS(s)
				if s == "" || s[0] == ',' {
					break
				}
				if s[0] != ';' {
					return nil, errExtSyntax
				}
				var p extParam
				if p.name, s = cutToken(skipOWS(s[1:])); p.name == "" {
					return nil, errExtSyntax
				}
				if t := skipOWS(s); t != "" && t[0] == '=' {
					p.hasValue = true
					t = skipOWS(t[1:])
					if t != "" && t[0] == '"' {
						var err error
						if p.value, s, err = cutQuoted(t); err != nil {
							return nil, err
						}
					} else if p.value, s = cutToken(t); p.value == "" {
						return nil, errExtSyntax
					}
				}
				e.params = append(e.params, p)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func skipOWS(s string) string { return strings.TrimLeft(s, " \t") }

func cutToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && s[i] < 0x80 && tokenChar[s[i]] {
		i++
	}
	return s[:i], s[i:]
}

func cutQuoted(s string) (val, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", errExtSyntax
			}
			i++
			b.WriteByte(s[i])
		default:
			if c < 0x20 && c != '\t' || c == 0x7F {
				return "", "", errExtSyntax
			}
			b.WriteByte(c)
		}
	}
	return "", "", errExtSyntax
}

// parseBits reads a window-bits value: a decimal 8–15 without leading zeros.
func parseBits(v string) (int, bool) {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 8 && n <= 15
}

// acceptDeflate picks the first acceptable permessage-deflate offer
// (RFC 7692, 5 and 7.1) and returns the response's extension value and
// the negotiated state; ok is false when every offer is declined.
func acceptDeflate(offers []extension, o *Compression) (resp string, st *deflateState, ok bool) {
	for _, e := range offers {
		if e.name != "permessage-deflate" {
			continue
		}
		if resp, st, ok = acceptOffer(e.params, o); ok {
			return resp, st, true
		}
	}
	return "", nil, false
}

func acceptOffer(params []extParam, o *Compression) (string, *deflateState, bool) {
	var (
		seen                     uint8
		serverNoCtx, clientNoCtx bool
		serverBits, clientBits   int
		clientBitsOffered        bool
	)
	for _, p := range params {
		var bit uint8
		switch p.name {
		case "server_no_context_takeover":
			bit, serverNoCtx = 1, true
			if p.hasValue {
				return "", nil, false
			}
		case "client_no_context_takeover":
			bit, clientNoCtx = 2, true
			if p.hasValue {
				return "", nil, false
			}
		case "server_max_window_bits":
			bit = 4
			n, ok := parseBits(p.value)
			if !p.hasValue || !ok {
				return "", nil, false
			}
			serverBits = n
		case "client_max_window_bits":
			bit, clientBitsOffered = 8, true
			if p.hasValue {
				n, ok := parseBits(p.value)
				if !ok {
					return "", nil, false
				}
				clientBits = n
			}
		default:
			return "", nil, false
		}
		if seen&bit != 0 {
			return "", nil, false // a parameter given twice
		}
		seen |= bit
	}
	st := newDeflateState(o)
	var b strings.Builder
	b.WriteString("permessage-deflate")
	if serverNoCtx || o.NoContextTakeover {
		st.outTakeover = false
		b.WriteString("; server_no_context_takeover")
	}
	if clientNoCtx || o.PeerNoContextTakeover {
		st.inTakeover = false
		b.WriteString("; client_no_context_takeover")
	}
	if serverBits != 0 {
		st.outBits = min(st.outBits, serverBits)
		b.WriteString("; server_max_window_bits=" + strconv.Itoa(st.outBits))
	}
	if clientBitsOffered {
		if clientBits != 0 {
			st.inBits = clientBits
		}
		if want := bitsOr(o.PeerWindowBits); want < st.inBits {
			st.inBits = want
			b.WriteString("; client_max_window_bits=" + strconv.Itoa(want))
		}
	}
	return b.String(), st, true
}

// deflateOffer is a client's offer for o.
func deflateOffer(o *Compression) string {
	s := "permessage-deflate"
	if o.NoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if o.PeerNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if pb := bitsOr(o.PeerWindowBits); pb < 15 {
		s += "; server_max_window_bits=" + strconv.Itoa(pb)
	}
	s += "; client_max_window_bits"
	if wb := bitsOr(o.WindowBits); wb < 15 {
		s += "=" + strconv.Itoa(wb)
	}
	return s
}

// clientDeflate checks the server's answer to deflateOffer(o) and returns
// the negotiated state (nil when the server declined). Anything the offer
// did not allow fails the handshake (RFC 7692, 5 and 7.1).
func clientDeflate(resp []extension, o *Compression) (*deflateState, error) {
	if len(resp) == 0 {
		return nil, nil
	}
	if len(resp) > 1 || resp[0].name != "permessage-deflate" {
		return nil, fmt.Errorf("the server chose extensions that were not offered: %v", extNames(resp))
	}
	st := newDeflateState(o)
	offeredServerBits := bitsOr(o.PeerWindowBits)
	var seen uint8
	gotServerNoCtx, gotServerBits := false, false
	for _, p := range resp[0].params {
		var bit uint8
		switch p.name {
		case "server_no_context_takeover":
			bit, gotServerNoCtx = 1, true
			st.inTakeover = false
			if p.hasValue {
				return nil, errors.New("server_no_context_takeover with a value")
			}
		case "client_no_context_takeover":
			bit = 2
			st.outTakeover = false
			if p.hasValue {
				return nil, errors.New("client_no_context_takeover with a value")
			}
		case "server_max_window_bits":
			bit, gotServerBits = 4, true
			n, ok := parseBits(p.value)
			if !ok || n > offeredServerBits {
				return nil, fmt.Errorf("server_max_window_bits=%q is not allowed by the offer", p.value)
			}
			st.inBits = n
		case "client_max_window_bits":
			bit = 8
			n, ok := parseBits(p.value)
			if !ok {
				return nil, fmt.Errorf("client_max_window_bits=%q is not a window size", p.value)
			}
			st.outBits = min(st.outBits, n)
		default:
			return nil, fmt.Errorf("unknown permessage-deflate parameter %q", p.name)
		}
		if seen&bit != 0 {
			return nil, fmt.Errorf("permessage-deflate parameter %q given twice", p.name)
		}
		seen |= bit
	}
	if o.PeerNoContextTakeover && !gotServerNoCtx {
		return nil, errors.New("the server ignored server_no_context_takeover")
	}
	if offeredServerBits < 15 && !gotServerBits {
		return nil, errors.New("the server ignored server_max_window_bits")
	}
	if o.NoContextTakeover {
		st.outTakeover = false
	}
	return st, nil
}

func extNames(es []extension) []string {
	n := make([]string, len(es))
	for i, e := range es {
		n[i] = e.name
	}
	return n
}

// historyLimit is how much history a window of bits needs. Windows below
// 512 bytes are kept at 512: zlib-based peers asked for 8 bits use 9.
func historyLimit(bits int) int { return 1 << max(bits, 9) }

// appendHistory appends p to h, keeping at least the last limit bytes;
// the kept part slides to the front only when h is full, so the cost is
// amortized and h's capacity stays within about twice the limit.
func appendHistory(h, p []byte, limit int) []byte {
	if len(p) >= limit {
		return append(h[:0], p[len(p)-limit:]...)
	}
	if len(h)+len(p) > cap(h) && len(h)+len(p) > limit {
		keep := limit - len(p)
		h = h[:copy(h, h[len(h)-keep:])]
	}
	return append(h, p...)
}

// trimHistory keeps the last limit bytes of h.
func trimHistory(h []byte, limit int) []byte {
	if len(h) <= limit {
		return h
	}
	return h[:copy(h, h[len(h)-limit:])]
}

// Compressors are pooled by level (window 15) and by window size (custom
// windows), so an idle connection holds none.
var (
	levelPools  [10]sync.Pool
	windowPools [16]sync.Pool
)

func getCompressor(level, bits int, dst io.Writer, dict []byte) *flate.Writer {
	var p *sync.Pool
	if bits >= 15 {
		p = &levelPools[level]
	} else {
		p = &windowPools[bits]
	}
	if v := p.Get(); v != nil {
		w := v.(*flate.Writer)
		w.ResetDict(dst, dict)
		return w
	}
	var w *flate.Writer
	if bits >= 15 {
		w, _ = flate.NewWriter(dst, level)
	} else {
		w, _ = flate.NewWriterWindow(dst, 1<<bits)
	}
	if len(dict) > 0 {
		w.ResetDict(dst, dict)
	}
	return w
}

func putCompressor(level, bits int, w *flate.Writer) {
	w.Reset(io.Discard)
	if bits >= 15 {
		levelPools[level].Put(w)
	} else {
		windowPools[bits].Put(w)
	}
}

var inflaterPool sync.Pool

func getInflater(src io.Reader, dict []byte) io.ReadCloser {
	if v := inflaterPool.Get(); v != nil {
		r := v.(io.ReadCloser)
		_ = r.(flate.Resetter).Reset(src, dict)
		return r
	}
	return flate.NewReaderDict(src, dict)
}

func putInflater(r io.ReadCloser) {
	_ = r.(flate.Resetter).Reset(eofReader{}, nil)
	inflaterPool.Put(r)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
func (eofReader) ReadByte() (byte, error)  { return 0, io.EOF }

// deflateTail ends a message's compressed data for the inflater: the
// 4 bytes the sender removed (RFC 7692, 7.2.2) and an empty final block,
// so the inflater stops with io.EOF.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"
