//go:build !js

package wsio

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"
)

// Compression configures permessage-deflate (RFC 7692). A client offers it
// unless Options.Compression is set with Disabled; a server accepts it only
// when its Options.Compression is set and not Disabled.
//
// Memory: between messages a connection holds no decompressor, and no
// compressor unless it is busy (they are pooled and borrowed per message).
// With context takeover it keeps the history the peer may refer back to,
// 2^PeerWindowBits bytes of what it received, and the last 4 KiB of what
// it sent (to prime a compressor with), both growing with the traffic; a
// busy connection (compressed messages less than 100 ms apart) also keeps
// its compressor, about 800 KiB at level 1, until 1 s without a message,
// and at most 8 connections per GOMAXPROCS do at a time. Without context
// takeover it keeps nothing.
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

	// A busy connection with context takeover keeps its compressor between
	// messages (fw): it goes on from its own state, without re-reading any
	// history. Any other message borrows a pooled compressor, primed with
	// the end of outHist when context is taken over. A kept compressor
	// counts in keptCompressors, and goes back to the pool after
	// compressorIdle without a message. lastOut is when the last
	// compressed message was sent. Guarded by the data-message slot.
	fw      *flate.Writer
	sink    deflateSink
	idle    *time.Timer
	lastOut int64 // clock()

	lastIn int64 // when the last compressed message came (clock); guarded by the read lock
}

// compressorIdle is how long a connection keeps its compressor after its
// last compressed message.
const compressorIdle = time.Second

// busyGap: a connection whose compressed message follows the previous one
// within busyGap is busy; with context takeover it keeps its compressor
// when keptCompressors allows.
const busyGap = 100 * time.Millisecond

// epoch is the origin of clock.
var epoch = time.Now()

// clock is a monotonic time in nanoseconds, never 0.
func clock() int64 { return int64(time.Since(epoch)) + 1 }

// isBusy reports whether a message now follows the last one, at *last,
// within busyGap, and sets *last to now.
func isBusy(last *int64) bool {
	now := clock()
	busy := *last != 0 && now-*last < int64(busyGap)
	*last = now
	return busy
}

// keptPerProc bounds the compressors kept between messages to keptPerProc
// per GOMAXPROCS. A level-1 compressor is about 800 KiB, mostly a table it
// reads at random: beyond a few per core those tables fall out of the
// CPU's caches, and the stateless encoder, whose table is small and fresh
// each time, costs as little.
const keptPerProc = 8

// keptCompressors counts the compressors kept between messages, over all
// connections. One in use by a message does not count, so a stream left
// open holds none of the budget.
var keptCompressors atomic.Int32

func keptMax() int32 { return keptPerProc * int32(runtime.GOMAXPROCS(0)) }

// plan notes that a compressed message is about to be sent. It reports
// whether the connection is busy (this message follows the last within
// busyGap), and whether it means to keep its compressor after the
// message: it has one, or it is busy, takes context over, and the budget
// has room (checked again when the message ends).
func (d *deflateState) plan() (keep, busy bool) {
	busy = isBusy(&d.lastOut)
	keep = d.fw != nil || busy && d.outTakeover && keptCompressors.Load() < keptMax()
	return keep, busy
}

// takeCompressor hands the kept compressor to the message starting; it
// leaves the budget until the message gives it back (keepCompressor).
func (d *deflateState) takeCompressor() *flate.Writer {
	fw := d.fw
	d.fw = nil
	keptCompressors.Add(-1)
	return fw
}

// keepCompressor keeps fw after a message if the budget allows, and
// reports whether it did.
func (d *deflateState) keepCompressor(fw *flate.Writer) bool {
	if keptCompressors.Add(1) > keptMax() {
		keptCompressors.Add(-1)
		return false
	}
	d.fw = fw
	return true
}

// dropCompressor gives the kept compressor, if any, back to the pool.
func (d *deflateState) dropCompressor() {
	if d.fw != nil {
		putCompressor(d.level, d.outBits, d.takeCompressor())
	}
}

// onOwnStack runs f on a goroutine of its own and waits for it, passing a
// panic on. Compressing or inflating takes a few KiB of stack above the
// caller's (klauspost's frames), enough to double the stack of a handler
// goroutine that an uncompressed connection keeps at 4 KiB; GC halves a
// stack back only while at most a quarter of it is in use, so an idle
// connection would keep the doubled stack. Messages of connections that
// are not busy go through here (a microsecond or two), so only busy
// connections grow their stacks.
func onOwnStack(f func()) {
	var pv any
	done := make(chan struct{})
	go func() {
		defer func() {
			pv = recover()
			close(done)
		}()
		f()
	}()
	<-done
	if pv != nil {
		panic(pv)
	}
}

// deflateSink is the compressor's fixed destination; it forwards to the
// message being written (a stream's compressedSink, or the buffer a whole
// message is compressed into).
type deflateSink struct{ w io.Writer }

func (s *deflateSink) Write(b []byte) (int, error) { return s.w.Write(b) }

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

// sendHistory is how much of what it sent a connection keeps, to prime a
// borrowed compressor or the stateless encoder with when it keeps no
// compressor. Either one re-reads it all for every message, and past a
// few KiB that costs more than the ratio it gains (BenchmarkDeflateEchoTakeover
// and the deflate rows of conformance/bench show the trade). A kept
// compressor uses its whole window regardless.
func sendHistory(bits int) int { return min(historyLimit(bits), 4<<10) }

// appendHistory appends p to h, keeping at least the last limit bytes. h's
// capacity stops growing at historyCap(limit); when p does not fit, the
// part still needed slides to the front, so a slide copies under limit
// bytes and comes at most once per historyCap(limit)-limit bytes appended.
func appendHistory(h, p []byte, limit int) []byte {
	if len(p) >= limit {
		h, p = h[:0], p[len(p)-limit:]
	}
	if n := len(h) + len(p); n > cap(h) {
		keep := h[max(0, n-limit):] // what p leaves of the window
		if c := historyCap(limit); cap(h) < c {
			h = append(make([]byte, 0, min(max(2*cap(h), n), c)), keep...)
		} else {
			h = h[:copy(h, keep)]
		}
	}
	return append(h, p...)
}

// historyCap is the capacity a history of limit bytes grows to: the slack
// above limit (a quarter of it, at least 4 KiB) makes the slides rare.
func historyCap(limit int) int { return limit + max(limit/4, 4<<10) }

// lastBytes is the end of h, at most limit bytes: the part of a history a
// window of limit bytes can refer to.
func lastBytes(h []byte, limit int) []byte { return h[max(0, len(h)-limit):] }

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

// flushMarker ends every sync flush of a DEFLATE stream; RFC 7692 has the
// sender remove it from a message's end and the receiver put it back.
const flushMarker = "\x00\x00\xff\xff"

// deflateTail ends a message's compressed data for the inflater: the
// 4 bytes the sender removed (RFC 7692, 7.2.2) and an empty final block,
// so the inflater stops with io.EOF.
const deflateTail = flushMarker + "\x01" + flushMarker
