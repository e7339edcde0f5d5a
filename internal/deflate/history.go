package deflate

// HistoryLimit is how much history a window of bits needs. Windows below
// 512 bytes are kept at 512: zlib-based peers asked for 8 bits use 9.
func HistoryLimit(bits int) int { return 1 << max(bits, 9) }

// SendHistory is how much of what it sent a connection keeps, to prime a
// borrowed compressor or the stateless encoder with when it keeps no
// compressor. Either one re-reads it all for every message, and past a
// few KiB that costs more than the ratio it gains (BenchmarkDeflateEchoTakeover
// and the deflate rows of conformance/bench show the trade). A kept
// compressor uses its whole window regardless.
func SendHistory(bits int) int { return min(HistoryLimit(bits), 4<<10) }

// AppendHistory appends p to h, keeping at least the last limit bytes. h's
// capacity stops growing at limit plus a slack of a quarter of limit (at
// least 4 KiB); when p does not fit, the part still needed slides to the
// front, so a slide copies under limit bytes and comes at most once per
// slack's worth of bytes appended.
func AppendHistory(h, p []byte, limit int) []byte {
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

// LastBytes is the end of h, at most limit bytes: the part of a history a
// window of limit bytes can refer to.
func LastBytes(h []byte, limit int) []byte { return h[max(0, len(h)-limit):] }
