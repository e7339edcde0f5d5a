//go:build !js

package wsio

import (
	"io"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/wsio/wsio/internal/deflate"
	"github.com/wsio/wsio/internal/sock"
)

func (o *Compression) enabled() bool { return o != nil && !o.Disabled }

// config is o's negotiation settings.
func (o *Compression) config() deflate.Config {
	return deflate.Config{NoContextTakeover: o.NoContextTakeover, PeerNoContextTakeover: o.PeerNoContextTakeover,
		WindowBits: o.WindowBits, PeerWindowBits: o.PeerWindowBits}
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
	// compressorIdle without a message: idle, a sock.Timer armed when a
	// message keeps the compressor and none is pending (idleArmed), looks
	// at keptAt, when a message last kept it, and goes back to sleep for
	// the rest of compressorIdle while the connection is busy, so a
	// message costs no timer operation. lastOut is when the last
	// compressed message was sent. Guarded by the data-message slot.
	fw        *flate.Writer
	sink      deflateSink
	idle      *sock.Timer
	idleArmed bool
	keptAt    int64 // clock()
	lastOut   int64 // clock()

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
		deflate.PutCompressor(d.level, d.outBits, d.takeCompressor())
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

// newDeflateState is the state of a connection whose handshake
// negotiated p, with o's level and threshold.
func newDeflateState(o *Compression, p deflate.Params) *deflateState {
	level := o.Level
	if level < 1 || level > 9 {
		level = 1
	}
	th := o.Threshold
	if th == 0 {
		th = 1024
	}
	return &deflateState{level: level, threshold: th,
		outBits: p.OutBits, outTakeover: p.OutTakeover, inBits: p.InBits, inTakeover: p.InTakeover}
}
