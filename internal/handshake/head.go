package handshake

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
)

// bufs holds the buffers handshakes read HTTP heads into and write them
// from: 4 KiB, which a browser's head fits in; a longer head grows the
// buffer up to the cap. A connection keeps none.
var bufs = sync.Pool{New: func() any {
	b := make([]byte, 4096)
	return &b
}}

// GetBuffer returns a pooled buffer for a head, at least 4 KiB long.
// PutBuffer gives it back.
func GetBuffer() *[]byte { return bufs.Get().(*[]byte) }

// PutBuffer gives bp, from GetBuffer, back to the pool. Nothing may use
// the buffer afterwards.
func PutBuffer(bp *[]byte) { bufs.Put(bp) }

// ErrHeadTooLarge means no head ended within the cap.
var ErrHeadTooLarge = errors.New("HTTP head too large")

// TryRead reads from r once without waiting: ok is true when there was
// something to report (bytes, the end of the stream as io.EOF, or an
// error), false when nothing had arrived yet or r cannot be read that
// way, and the caller then reads r as usual.
type TryRead func(r io.Reader, p []byte) (n int, ok bool, err error)

// headEnd returns the length of the head at the start of b: up to and
// including the first empty line (CRLF or bare LF line ends, in any mix),
// or -1 when b holds no empty line yet. from is where the search may
// resume (the caller already scanned b[:from] without finding one).
func headEnd(b []byte, from int) int {
	start := 0
	if from > 0 {
		// Resume at the start of the line that was cut off.
		if i := bytes.LastIndexByte(b[:from], '\n'); i >= 0 {
			start = i + 1
		}
	}
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		line := b[start : start+i]
		if start > 0 && (len(line) == 0 || len(line) == 1 && line[0] == '\r') {
			return start + i + 1
		}
		start += i + 1
	}
}

// cutLine cuts s at its first line end (LF, or CRLF): the line without
// it, and what follows.
func cutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

// readHeadBytes reads from r into a pooled buffer until it holds a
// whole HTTP head (up to and including the first empty line; CRLF or
// bare LF line ends), reading at most max bytes. It returns the buffer,
// holding every byte read, and the head's length; the caller gives the
// buffer back with PutBuffer. No head within max bytes is
// ErrHeadTooLarge; a read error before the head ended is returned as it
// is (io.ErrUnexpectedEOF for the end of the stream inside a head).
//
// While arm is not nil, each read is first tried without waiting (try),
// and arm is called before the first read that has to wait. With arm
// nil, try is not used.
func readHeadBytes(r io.Reader, max int, try TryRead, arm func()) (*[]byte, int, error) {
	bp := GetBuffer()
	buf := (*bp)[:0]
	fail := func(err error) (*[]byte, int, error) {
		*bp = buf[:0]
		PutBuffer(bp)
		return nil, 0, err
	}
	for {
		if len(buf) >= max {
			return fail(ErrHeadTooLarge)
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(2*cap(buf), max)-len(buf))
		}
		scanned, room := len(buf), buf[len(buf):min(cap(buf), max)]
		var n int
		var err error
		tried := false
		if arm != nil {
			if n, tried, err = try(r, room); !tried {
				arm()
				arm = nil
			}
		}
		if !tried {
			n, err = r.Read(room)
		}
		buf = buf[:len(buf)+n]
		if n > 0 {
			if end := headEnd(buf, scanned); end >= 0 {
				*bp = buf
				return bp, end, nil
			}
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return fail(err)
		}
	}
}
