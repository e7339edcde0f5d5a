package deflate

import (
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// FlushMarker ends every sync flush of a DEFLATE stream; RFC 7692 has the
// sender remove it from a message's end and the receiver put it back.
const FlushMarker = "\x00\x00\xff\xff"

// Tail ends a message's compressed data for the inflater: the 4 bytes
// the sender removed (RFC 7692, 7.2.2) and an empty final block, so the
// inflater stops with io.EOF.
const Tail = FlushMarker + "\x01" + FlushMarker

// Compressors are pooled by level (window 15) and by window size (custom
// windows), so an idle connection holds none.
var (
	levelPools  [10]sync.Pool
	windowPools [16]sync.Pool
)

// GetCompressor returns a compressor at level (1 to 9) with a window of
// bits (8 to 15; below 15 the level is not used: the custom-window mode
// has one), writing to dst and primed with dict. It comes from the pool
// when one is there; PutCompressor, with the same level and bits, gives
// it back.
func GetCompressor(level, bits int, dst io.Writer, dict []byte) *flate.Writer {
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

// PutCompressor gives w, from GetCompressor(level, bits, ...), back to
// the pool. It drops w's destination first, so the pool keeps nothing of
// the connection alive.
func PutCompressor(level, bits int, w *flate.Writer) {
	w.Reset(io.Discard)
	if bits >= 15 {
		levelPools[level].Put(w)
	} else {
		windowPools[bits].Put(w)
	}
}

var inflaterPool sync.Pool

// GetInflater returns an inflater reading src, primed with dict, from
// the pool when one is there. PutInflater gives it back.
func GetInflater(src io.Reader, dict []byte) io.ReadCloser {
	if v := inflaterPool.Get(); v != nil {
		r := v.(io.ReadCloser)
		_ = r.(flate.Resetter).Reset(src, dict)
		return r
	}
	return flate.NewReaderDict(src, dict)
}

// PutInflater gives r, from GetInflater, back to the pool. It drops r's
// source and dictionary first, so the pool keeps nothing of the
// connection alive.
func PutInflater(r io.ReadCloser) {
	_ = r.(flate.Resetter).Reset(eofReader{}, nil)
	inflaterPool.Put(r)
}

// eofReader is the source a pooled inflater holds: it is at its end.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
func (eofReader) ReadByte() (byte, error)  { return 0, io.EOF }
