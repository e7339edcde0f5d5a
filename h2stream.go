//go:build !js

package wsio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/wsio/wsio/internal/sock"
)

// h2Stream is one HTTP/2 stream carrying a WebSocket (RFC 8441), as a
// net.Conn for Conn: reads come from in (the request body on a server, the
// response body on a client), writes go to out and are flushed at once.
// It is not a *net.TCPConn, so the socket fast paths (raw descriptor reads,
// sendfile, looking at the socket from a sender, parking in the event
// poller) pass it by, as they pass TLS connections by.
//
// Reads and deadlines: HTTP/2's own stream deadlines end the stream when
// they pass, while a WebSocket read that passes its deadline must be able
// to resume. So a Read hands the body read to a goroutine of its own and
// waits for it, for the read deadline or for Close; a Read that gives up
// leaves that body read running, and the next Read takes its bytes. No
// byte is read ahead of a Read, so HTTP/2 flow control throttles the peer
// per stream: a slow reader holds back its own stream only.
//
// Writes: once the HTTP/2 layer has taken part of a Write it cannot be
// taken back, so a write deadline (or a Close) that passes while a Write
// is blocked (the peer's flow-control window is shut) resets the stream,
// and every later Write fails. A Write that starts after its deadline has
// passed fails at once and writes nothing.
type h2Stream struct {
	in    io.ReadCloser
	out   io.Writer
	flush func() error // pushes out what out buffers, or nil
	// reset aborts the stream so that a blocked Write returns; it is
	// called at most once, with dmu held.
	reset func()
	// end ends the stream after Close has made sure no Write is in
	// flight; it may be nil.
	end func()
	// endWrite ends the sending side only (END_STREAM) while reads go on;
	// nil where HTTP/2 offers no such half-close (a server's stream ends
	// only when its handler returns), and CloseWrite then closes.
	endWrite     func() error
	laddr, raddr net.Addr

	rmu      sync.Mutex // one Read at a time; guards the fields below
	rpending bool       // a body read is in flight; its result comes on rres
	rres     chan h2Read
	left     []byte  // bytes a finished body read got that no Read returned yet
	leftBuf  *[]byte // left's pooled buffer, or nil
	rerr     error   // the error that came with left, returned once left is empty

	wmu sync.Mutex // one Write at a time; Close takes it to wait for the Write in flight

	dmu     sync.Mutex // guards the fields below
	rdl     h2Deadline
	wdl     h2Deadline
	writing bool  // a Write is in out.Write or flush
	broken  error // why the stream was reset; every Write fails with it
	isDone  bool  // Close has begun

	closed   chan struct{} // closed when Close begins: Reads stop waiting
	finished chan struct{} // closed when Close has finished: no Write is in flight and none will start
}

// h2Read is the outcome of one body read.
type h2Read struct {
	buf []byte
	bp  *[]byte // buf's pool handle, or nil
	n   int
	err error
}

// h2ReadSmall is the largest Read served from a buffer of its own size;
// larger ones read through a pooled buffer of pooledReadSize bytes. A
// connection waiting for its next message reads small, so an idle stream
// holds no large buffer.
const h2ReadSmall = 512

// newH2Stream returns a stream over in and out; the caller fills in the
// hooks and addresses.
func newH2Stream(in io.ReadCloser, out io.Writer) *h2Stream {
	s := &h2Stream{
		in:       in,
		out:      out,
		rres:     make(chan h2Read, 1),
		closed:   make(chan struct{}),
		finished: make(chan struct{}),
	}
	// A Read waiting with no deadline must see one set later: it waits on
	// this channel, which set keeps until the deadline passes.
	s.rdl.ch = make(chan struct{})
	return s
}

// h2TimeoutError is the error of a read or write whose deadline passed;
// it matches os.ErrDeadlineExceeded and is a net.Error whose Timeout is
// true, as the net package's deadline errors are.
type h2TimeoutError struct{ op string }

func (e *h2TimeoutError) Error() string   { return e.op + " on an HTTP/2 stream: i/o timeout" }
func (e *h2TimeoutError) Timeout() bool   { return true }
func (e *h2TimeoutError) Temporary() bool { return true }
func (e *h2TimeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }

// errH2Closed is returned by operations on a closed stream.
var errH2Closed = fmt.Errorf("websocket: HTTP/2 stream closed: %w", net.ErrClosed)

// Read reads from the stream; see h2Stream.
func (s *h2Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if len(s.left) > 0 {
		return s.takeLeft(p), nil
	}
	if err := s.rerr; err != nil {
		s.rerr = nil
		return 0, err
	}
	s.dmu.Lock()
	expired := s.rdl.expired()
	s.dmu.Unlock()
	select {
	case <-s.closed:
		return 0, errH2Closed
	case <-expired:
		return 0, &h2TimeoutError{op: "read"}
	default:
	}
	if !s.rpending {
		s.rpending = true
		r := h2Read{}
		if len(p) <= h2ReadSmall {
			r.buf = make([]byte, len(p))
		} else {
			r.bp = sock.GetBuffer()
			r.buf = *r.bp
		}
		go s.bodyRead(r)
	}
	select {
	case r := <-s.rres:
		s.rpending = false
		n := copy(p, r.buf[:r.n])
		if n < r.n {
			s.left, s.leftBuf, s.rerr = r.buf[n:r.n], r.bp, r.err
			return n, nil
		}
		if r.bp != nil {
			sock.PutBuffer(r.bp)
		}
		if n > 0 && r.err != nil {
			s.rerr = r.err // returned by the next Read
			return n, nil
		}
		return n, r.err
	case <-expired:
		return 0, &h2TimeoutError{op: "read"}
	case <-s.closed:
		return 0, errH2Closed
	}
}

// bodyRead reads the body once into r.buf and hands the result to the
// Read waiting for it, or to the next one. rres has room: only one body
// read is in flight at a time.
func (s *h2Stream) bodyRead(r h2Read) {
	r.n, r.err = s.in.Read(r.buf)
	s.rres <- r
}

// takeLeft copies bytes left by an earlier body read into p. The caller
// holds rmu.
func (s *h2Stream) takeLeft(p []byte) int {
	n := copy(p, s.left)
	s.left = s.left[n:]
	if len(s.left) == 0 {
		s.left = nil
		if s.leftBuf != nil {
			sock.PutBuffer(s.leftBuf)
			s.leftBuf = nil
		}
	}
	return n
}

// Write writes p to the stream and flushes it; see h2Stream.
func (s *h2Stream) Write(p []byte) (int, error) {
	return s.write(p, nil)
}

// writeBuffers writes the buffers in v as one Write would (a frame's
// header and its payload) and flushes once, after the last: every flush
// waits for net/http's serving goroutine to send what is buffered, and a
// flush between a header and its payload would send the header as a DATA
// frame (and a TLS record) of its own. v holds one or two buffers.
func (s *h2Stream) writeBuffers(v [][]byte) (int64, error) {
	switch len(v) {
	case 0:
		return 0, nil
	case 1:
		n, err := s.write(v[0], nil)
		return int64(n), err
	}
	n, err := s.write(v[0], v[1])
	return int64(n), err
}

// write writes p and then q (which may be nil), flushes, and returns how
// many bytes of both went out; see h2Stream.
func (s *h2Stream) write(p, q []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.dmu.Lock()
	switch {
	case s.broken != nil:
		err := s.broken
		s.dmu.Unlock()
		return 0, err
	case s.isDone:
		s.dmu.Unlock()
		return 0, errH2Closed
	case s.wdl.passed():
		s.dmu.Unlock()
		return 0, &h2TimeoutError{op: "write"}
	}
	s.writing = true
	s.dmu.Unlock()
	n, err := s.out.Write(p)
	if err == nil && len(q) > 0 {
		var m int
		m, err = s.out.Write(q)
		n += m
	}
	if err == nil && s.flush != nil {
		err = s.flush()
	}
	s.dmu.Lock()
	s.writing = false
	broken := s.broken
	timedOut := s.wdl.passed()
	s.dmu.Unlock()
	if broken != nil {
		if timedOut {
			return n, fmt.Errorf("%w (the stream was reset)", &h2TimeoutError{op: "write"})
		}
		return n, broken
	}
	return n, err
}

// breakLocked resets the stream for a Write in flight, for cause; later
// Writes fail with cause. The caller holds dmu.
func (s *h2Stream) breakLocked(cause error) {
	if s.broken != nil {
		return
	}
	s.broken = cause
	if s.reset != nil {
		s.reset()
	}
}

// writeExpired runs when the write deadline passes: a Write blocked in
// the HTTP/2 layer can only be ended by resetting the stream.
func (s *h2Stream) writeExpired() {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.writing && s.wdl.passed() {
		s.breakLocked(fmt.Errorf("websocket: HTTP/2 stream reset: a write passed its deadline: %w", net.ErrClosed))
	}
}

// Close ends the stream: Reads stop waiting, a Write in flight is ended by
// resetting the stream, and once no Write is in flight the body is closed
// and end runs. It returns nil.
func (s *h2Stream) Close() error {
	s.dmu.Lock()
	if s.isDone {
		s.dmu.Unlock()
		<-s.finished
		return nil
	}
	s.isDone = true
	close(s.closed)
	if s.writing {
		s.breakLocked(errH2Closed)
	}
	s.rdl.stop()
	s.wdl.stop()
	s.dmu.Unlock()
	s.wmu.Lock() // the Write in flight, if any, has returned
	s.wmu.Unlock()
	_ = s.in.Close() // ends a body read in flight
	if s.end != nil {
		s.end()
	}
	close(s.finished)
	return nil
}

// CloseWrite ends the sending side, as a TCP half-close does, so that a
// connection being failed (a close frame sent, then the peer's bytes read
// until it ends the stream) does not wait for a peer that waits for it.
// On a client stream it ends the request body (END_STREAM once what was
// written has gone out) and Reads go on until the server ends its side.
// A server stream has no half-close while its handler runs, so
// CloseWrite closes it, as Close does: the handler then returns and
// net/http ends the response with END_STREAM. Nothing sent is lost to
// that: a stream reset that follows a complete response (RST_STREAM
// NO_ERROR, RFC 9113 section 8.1) leaves the response readable, unlike a
// TCP reset, which is what the reads of a half-closed TCP connection
// guard against.
func (s *h2Stream) CloseWrite() error {
	if s.endWrite == nil {
		return s.Close()
	}
	// Not under wmu: a Write blocked by flow control must not hold it up;
	// that Write then fails, as a write after a TCP half-close does.
	return s.endWrite()
}

// LocalAddr returns the local address of the HTTP/2 connection, or an
// address of network "http2" when it is not known.
func (s *h2Stream) LocalAddr() net.Addr { return orAddr(s.laddr) }

// RemoteAddr returns the peer's address of the HTTP/2 connection, or an
// address of network "http2" when it is not known.
func (s *h2Stream) RemoteAddr() net.Addr { return orAddr(s.raddr) }

// SetDeadline sets both deadlines.
func (s *h2Stream) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline: a Read waiting when it passes
// returns an error matching os.ErrDeadlineExceeded, and the stream stays
// usable.
func (s *h2Stream) SetReadDeadline(t time.Time) error {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.isDone {
		return errH2Closed
	}
	s.rdl.set(t, nil)
	return nil
}

// SetWriteDeadline sets the write deadline; see h2Stream for what its
// passing does to a Write in flight.
func (s *h2Stream) SetWriteDeadline(t time.Time) error {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.isDone {
		return errH2Closed
	}
	s.wdl.set(t, s.writeExpired)
	if s.writing && s.wdl.passed() {
		s.breakLocked(fmt.Errorf("websocket: HTTP/2 stream reset: a write passed its deadline: %w", net.ErrClosed))
	}
	return nil
}

// h2Deadline is a deadline with a channel that is closed while it has
// passed. Its owner guards it with a mutex. The channel stays the same
// while the deadline moves without passing, so a Read that took it sees
// a deadline set after it began waiting; once the channel is closed, a
// deadline moved into the future (or cleared) gets a new one.
type h2Deadline struct {
	t     time.Time
	timer *time.Timer
	ch    chan struct{} // nil until the first deadline is set
}

// set moves the deadline to t (zero: none). onPass, if not nil, runs on
// the timer's goroutine after the channel is closed, without the owner's
// lock.
func (d *h2Deadline) set(t time.Time, onPass func()) {
	if d.timer != nil && !d.timer.Stop() {
		<-d.ch // the timer's function has closed it, or is about to
	}
	d.timer = nil
	d.t = t
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	closed := false
	select {
	case <-d.ch:
		closed = true
	default:
	}
	if t.IsZero() {
		if closed {
			d.ch = make(chan struct{})
		}
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		if !closed {
			close(d.ch)
		}
		return
	}
	if closed {
		d.ch = make(chan struct{})
	}
	ch := d.ch
	d.timer = time.AfterFunc(wait, func() {
		close(ch)
		if onPass != nil {
			onPass()
		}
	})
}

// expired returns a channel that is closed while the deadline has passed,
// or nil (never ready) before the first deadline is set.
func (d *h2Deadline) expired() <-chan struct{} { return d.ch }

// passed reports whether the deadline has passed.
func (d *h2Deadline) passed() bool {
	return !d.t.IsZero() && !time.Now().Before(d.t)
}

// stop disarms the timer for good (Close).
func (d *h2Deadline) stop() {
	if d.timer != nil && !d.timer.Stop() {
		<-d.ch
	}
	d.timer = nil
}

// h2Addr is an address that could not be parsed as a TCP address.
type h2Addr string

func (a h2Addr) Network() string { return "http2" }
func (a h2Addr) String() string  { return string(a) }

func orAddr(a net.Addr) net.Addr {
	if a == nil {
		return h2Addr("")
	}
	return a
}

// parseAddr turns http.Request.RemoteAddr into a net.Addr.
func parseAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return h2Addr(s)
}

// h2StreamOf returns c's HTTP/2 stream, or nil when c runs over something
// else.
func h2StreamOf(c *Conn) *h2Stream {
	s, _ := c.rwc.(*h2Stream)
	return s
}

// errStreamReset is the cause recorded when the peer or the HTTP/2
// connection ends a stream that nobody was reading.
var errStreamReset = errors.New("websocket: the HTTP/2 stream was reset or its connection closed")
