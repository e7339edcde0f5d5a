// Package binstream turns a binary WebSocket message into a Go stream on the
// sending side: a [Writer] is an io.WriteCloser (and io.ReaderFrom) whose
// bytes are cut into frames of exactly the fragment size, the last frame
// carrying whatever is left when Close is called. [Writer.WriteFinal] sends
// a message known whole, with its last bytes in the final frame.
//
// It is the one place where wsio cuts a message into frames: streams from
// BeginBinary, whole messages (SendBinary, and SendText when compressed)
// and prepared frames all go through a Writer; the sink sets the opcode
// and the reserved bits.
//
// It knows nothing of sockets or frame encoding: it hands each frame's
// payload to a [Sink], which the connection implements. That keeps the
// fragmenting rules testable with a fake sink.
//
// Programs that use WebSockets import wsio, never this package: a
// wsio.BinaryWriter from Conn.BeginBinary is a Writer underneath. It is
// public for code that frames binary streams over a transport of its own.
package binstream

import (
	"errors"
	"io"
	"io/fs"
	"sync"
	"syscall"
)

// Sink receives the frames of one binary message, in order.
type Sink interface {
	// WriteFrame sends one frame. first is true for the message's first
	// frame, which carries the message's opcode (the frames after it are
	// continuations), and fin for its last.
	// WriteFrame must not keep payload after it returns.
	WriteFrame(payload []byte, first, fin bool) error
	// Done is called once when the message ends, by Close or by the first
	// error, so the sink can let other messages go.
	Done()
}

// ScratchSink is a Sink that may overwrite the payload of the frames a
// Writer sends from its own buffer: WriteScratchFrame is WriteFrame for a
// payload nobody reads again, so a sink that must transform it (a client
// masks it) can do so in place instead of through a copy.
type ScratchSink interface {
	Sink
	WriteScratchFrame(payload []byte, first, fin bool) error
}

// FileSink is a Sink that can send a frame's payload straight from a file,
// letting the kernel copy it (sendfile) instead of passing it through a
// buffer. ReadFrom uses it for the whole fragments of a regular file.
type FileSink interface {
	Sink
	// FileFrames reports whether WriteFrameFromFile can be used now.
	FileFrames() bool
	// WriteFrameFromFile sends one frame whose n-byte payload is the next
	// n bytes of f from its current offset, and advances the offset past
	// what was sent. It returns how many payload bytes were sent; fewer
	// than n is an error (the frame is then broken).
	WriteFrameFromFile(f File, n int64, first, fin bool) (int64, error)
}

// File is what ReadFrom needs of a file to hand it to a FileSink. An
// *os.File has it, and so does the wrapper (*os.File).WriteTo gives to
// ReadFrom when io.Copy is called with a file as its source.
type File interface {
	io.Reader
	Stat() (fs.FileInfo, error)
	Seek(offset int64, whence int) (int64, error)
	SyscallConn() (syscall.RawConn, error)
}

// ErrClosed reports a Write after Close.
var ErrClosed = errors.New("websocket: write to a closed binary stream")

// Writer cuts what is written to it into frames of exactly the fragment
// size. A frame is sent as soon as it is full; Close sends the final frame
// (which is empty when the written length was a multiple of the fragment
// size), and WriteFinal sends its bytes with the last of them in the final
// frame. Full fragments given to a single Write are sent straight from the
// caller's slice, without a copy; only a partial fragment is buffered, in a
// buffer taken from a pool and returned when the message ends.
//
// A Writer is not safe for concurrent use by several goroutines (frames of
// one message must stay in order); the connection it writes to is.
type Writer struct {
	sink     Sink
	size     int
	buf      []byte  // the partial fragment; nil when none is held
	bufp     *[]byte // the pooled slice buf came from
	started  bool    // the first frame has been sent
	done     bool    // Close was called or an error ended the stream
	released bool    // the sink was told the message ended
	err      error   // the first error, returned by every later call
	n        int64   // bytes accepted
}

// NewWriter returns a Writer that sends frames of fragmentSize bytes to
// sink. A fragmentSize below 1 is taken as 1.
func NewWriter(sink Sink, fragmentSize int) *Writer {
	w := &Writer{}
	w.Reset(sink, fragmentSize)
	return w
}

// Reset makes w a new, empty message writer for sink, as NewWriter does,
// so one Writer can serve message after message without allocating. Any
// buffer w still holds is returned to the pool first.
func (w *Writer) Reset(sink Sink, fragmentSize int) {
	if w.bufp != nil {
		putBuf(w.bufp)
	}
	*w = Writer{sink: sink, size: max(fragmentSize, 1)}
}

// Written reports how many bytes the Writer has accepted so far.
func (w *Writer) Written() int64 { return w.n }

// Write sends p as part of the message. It returns len(p) unless a frame
// could not be sent, in which case the error is also returned by every
// later call and the message is over.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	return w.write(p, false)
}

// WriteFinal sends p as the last bytes of the message and ends it, as
// Write(p) and then Close would, except that p's last bytes go in the
// final frame: a message of k whole fragments is k frames, with no empty
// frame after them, and only an empty message ends with an empty frame.
// A message given whole to WriteFinal on a fresh Writer is sent straight
// from p, without a copy and without taking a buffer.
//
// Like Close, it tells the sink the message ended, whether or not a
// frame failed. After Close or an error it sends nothing and returns
// ErrClosed or that error.
func (w *Writer) WriteFinal(p []byte) error {
	if err := w.check(); err != nil {
		w.finish(err)
		return err
	}
	_, err := w.write(p, true)
	w.finish(err)
	if err != nil {
		return err
	}
	w.err = ErrClosed
	return nil
}

// write is the one loop that cuts bytes into frames. A full fragment goes
// straight from p when no partial one is held; otherwise p tops up the
// held fragment. With final, the frame that carries p's last byte is the
// final frame, sent straight from p as well when nothing is held; an
// empty p ends the message with the held bytes, if any, as its final
// frame.
func (w *Writer) write(p []byte, final bool) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if len(w.buf) == 0 && (len(p) >= w.size || final) {
			n := min(len(p), w.size)
			fin := final && n == len(p)
			if err := w.emit(p[:n], fin); err != nil {
				return total - len(p), err
			}
			p = p[n:]
			w.n += int64(n)
			if fin {
				return total, nil
			}
			continue
		}
		w.grab()
		k := copy(w.buf[len(w.buf):w.size], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		w.n += int64(k)
		if len(w.buf) == w.size {
			fin := final && len(p) == 0
			if err := w.emitBuf(fin); err != nil {
				return total - len(p), err
			}
			w.buf = w.buf[:0]
			if fin {
				return total, nil
			}
		}
	}
	if final {
		return total, w.emitBuf(true)
	}
	return total, nil
}

// ReadFrom reads r until io.EOF straight into the fragment buffer, sending
// each frame as it fills, so io.Copy does not need a buffer of its own. It
// does not end the message: call Close for that.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	var total int64
	if fsink, ok := w.sink.(FileSink); ok && fsink.FileFrames() {
		if f, ok := r.(File); ok {
			n, err := w.readFromFile(fsink, f)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	for {
		w.grab()
		k, rerr := r.Read(w.buf[len(w.buf):w.size])
		if k < 0 || k > w.size-len(w.buf) {
			return total, errors.New("websocket: reader returned an invalid count")
		}
		w.buf = w.buf[:len(w.buf)+k]
		total += int64(k)
		w.n += int64(k)
		if len(w.buf) == w.size {
			if err := w.emitBuf(false); err != nil {
				return total, err
			}
			w.buf = w.buf[:0]
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// readFromFile sends the whole fragments of a regular file through the
// sink's file path: it tops up a partly filled fragment first (with a
// plain read), then hands the kernel one full fragment at a time. What is
// left (less than a fragment) is for the plain path.
func (w *Writer) readFromFile(fsink FileSink, f File) (int64, error) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, nil
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, nil
	}
	left := st.Size() - off
	var total int64
	if len(w.buf) > 0 && left >= int64(w.size-len(w.buf)) {
		k := w.size - len(w.buf)
		if _, err := io.ReadFull(f, w.buf[len(w.buf):w.size]); err != nil {
			return 0, err
		}
		w.buf = w.buf[:w.size]
		total += int64(k)
		w.n += int64(k)
		left -= int64(k)
		if err := w.emitBuf(false); err != nil {
			return total, err
		}
		w.buf = w.buf[:0]
	}
	for len(w.buf) == 0 && left >= int64(w.size) {
		n, err := fsink.WriteFrameFromFile(f, int64(w.size), !w.started, false)
		w.started = true
		total += n
		w.n += n
		left -= n
		if err != nil {
			w.fail(err)
			return total, err
		}
	}
	return total, nil
}

// Close sends the final frame, with the bytes held since the last full
// fragment (none, when the written length is a multiple of the fragment
// size), and ends the message. Calling Close again returns nil; after an
// error it returns that error.
func (w *Writer) Close() error {
	if w.done {
		w.finish(w.err)
		if w.err == ErrClosed {
			return nil
		}
		return w.err
	}
	return w.WriteFinal(nil)
}

// Abort ends the message without sending its final frame, returning the
// buffer and telling the sink once, as an error would. Use it when the
// message cannot be finished; the connection is then unusable for data,
// since the peer waits for the rest.
func (w *Writer) Abort(err error) {
	if err == nil {
		err = ErrClosed
	}
	w.finish(err)
}

func (w *Writer) check() error {
	if w.done {
		return w.err
	}
	return nil
}

// emitBuf sends the held fragment, w.buf, as a frame. The caller discards
// w.buf's bytes afterwards, so a ScratchSink may overwrite them.
func (w *Writer) emitBuf(fin bool) error {
	s, ok := w.sink.(ScratchSink)
	if !ok {
		return w.emit(w.buf, fin)
	}
	err := s.WriteScratchFrame(w.buf, !w.started, fin)
	w.started = true
	if err != nil {
		w.fail(err)
	}
	return err
}

func (w *Writer) emit(p []byte, fin bool) error {
	err := w.sink.WriteFrame(p, !w.started, fin)
	w.started = true
	if err != nil {
		w.fail(err)
	}
	return err
}

// fail stops the stream at the first error: later calls return it. The
// sink is told only by Close or Abort, so the message stays the caller's
// until then.
func (w *Writer) fail(err error) {
	if w.done {
		return
	}
	w.done = true
	w.err = err
	if w.bufp != nil {
		putBuf(w.bufp)
		w.buf, w.bufp = nil, nil
	}
}

// finish ends the stream and tells the sink, once.
func (w *Writer) finish(err error) {
	w.fail(err)
	if !w.released {
		w.released = true
		w.sink.Done()
	}
}

// grab makes sure a fragment buffer is held.
func (w *Writer) grab() {
	if w.buf == nil {
		w.bufp = getBuf(w.size)
		w.buf = (*w.bufp)[:0]
	}
}

// Buffers are pooled by power-of-two capacity, so writers with different
// fragment sizes share what they can.
var pools [40]sync.Pool

func class(n int) int {
	c := 0
	for 1<<c < n {
		c++
	}
	return c
}

func getBuf(n int) *[]byte {
	c := class(n)
	if c >= len(pools) {
		b := make([]byte, n)
		return &b
	}
	if v := pools[c].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<c)
	return &b
}

func putBuf(bp *[]byte) {
	c := class(cap(*bp))
	if c >= len(pools) || 1<<c != cap(*bp) {
		return
	}
	*bp = (*bp)[:0]
	pools[c].Put(bp)
}
