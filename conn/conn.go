// Package conn is the WebSocket connection: the frame codec and masking, the
// opening handshakes (a server over net/http's Hijacker, a client dial),
// ready states, control frames (automatic pongs, the closing handshake, the
// close-code rules), one writer at a time, and keepalive.
//
// Most programs use it through the root package wsio, which re-exports its
// types. A connection runs over any ordered byte stream (an
// io.ReadWriteCloser); deadlines and other socket fast paths are used when
// the stream is a net.Conn.
package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wsio/wsio/limits"
	"github.com/wsio/wsio/textframe"
)

// State is a connection's ready state, as the WebSocket API names it.
type State int32

// The ready states.
const (
	Connecting State = iota // the opening handshake is under way
	Open                    // messages can be sent and received
	Closing                 // a close frame was sent or received
	Closed                  // the underlying stream is closed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Open:
		return "open"
	case Closing:
		return "closing"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// Options are the per-connection settings shared by servers and clients.
// The zero value of each field selects its default.
type Options struct {
	// FragmentSize is the payload size of each frame a binary message is
	// cut into (BeginBinary, SendBinary). Default 512 KiB.
	FragmentSize int
	// BufferCap caps the bytes buffered for one message: a text message is
	// assembled whole, so a larger one closes the connection with 1009, as
	// soon as a frame header declares it. Default 2 MiB; negative means no cap.
	BufferCap int64
	// MaxBinaryMessage caps the size of a received binary message (which is
	// streamed, not buffered); a larger one closes the connection with
	// 1009. Zero means no limit.
	MaxBinaryMessage int64
	// CloseTimeout bounds how long Close waits for the peer's close frame
	// before tearing the connection down. Default 5 s.
	CloseTimeout time.Duration
	// KeepaliveInterval, when positive, sends a ping this often (the first
	// one up to a tenth sooner, at random, so that connections opened
	// together do not ping together). If no pong
	// arrives within KeepaliveTimeout (default: the interval) the
	// connection is closed and reads fail with an error wrapping
	// ErrKeepalive. Any bytes that arrive in that time count as a sign of
	// life too (a pong can wait behind a long message). They are seen by
	// whichever goroutine is reading (Next or a binary message's Read), so
	// keepalive needs a reader.
	KeepaliveInterval time.Duration
	// KeepaliveTimeout is how long to wait for the pong; see KeepaliveInterval.
	KeepaliveTimeout time.Duration
	// OnPing, if set, is called with each ping's payload, after the pong
	// was queued, on the reading goroutine. It must not keep the slice.
	OnPing func(payload []byte)
	// OnPong, if set, is called with each pong's payload on the reading
	// goroutine. It must not keep the slice.
	OnPong func(payload []byte)
	// Compression configures permessage-deflate. A client offers it with
	// the defaults when this is nil; a server accepts it only when this is
	// set. Set Disabled to turn it off on a client.
	Compression *Compression
}

func (o *Options) resolved() Options {
	r := *o
	r.FragmentSize = limits.Or(r.FragmentSize, limits.DefaultFragmentSize)
	r.BufferCap = limits.Or(r.BufferCap, int64(limits.DefaultBufferCap))
	r.CloseTimeout = limits.Or(r.CloseTimeout, limits.DefaultCloseTimeout)
	r.KeepaliveTimeout = limits.Or(r.KeepaliveTimeout, r.KeepaliveInterval)
	return r
}

// Conn is one WebSocket connection.
//
// Receiving: call Next from one goroutine at a time; it returns each text
// message as a string and each binary message as a stream. Control frames
// are handled inside reads: pings are answered, pongs observed, a close
// frame ends the connection cleanly.
//
// Sending: SendText, SendBinary, BeginBinary, Ping and Close may be called
// from any number of goroutines. Frames of one message are never
// interleaved with another message's, but control frames may go between
// the fragments of an open binary stream.
type Conn struct {
	rwc    io.ReadWriteCloser
	nc     net.Conn // rwc as a net.Conn, or nil: deadlines are used only then
	client bool
	opts   Options

	// Handshake facts.
	req       atomic.Pointer[http.Request] // parsed from head when first asked for
	head      string                       // the request head, from AcceptConn
	path      string
	protocol  string
	protocols []string
	respHdr   http.Header

	// Reading; guarded by rsem.
	rsem      sem
	rd        reader
	fs        frameState
	src       msgSource     // the current message's payload, for the inflater
	deflate   *deflateState // permessage-deflate, when negotiated
	infl      io.ReadCloser // the current message's inflater, if any
	text      textframe.Assembler
	msgSeq    uint64 // a binary Message is current while its seq equals this; each Next advances it (see binaryState)
	binBudget limits.Budget
	rwg       sync.WaitGroup // a read deadline callback in flight
	// The small fields last, together, so the struct has no padding
	// between them (Conn stays in the 896-byte allocation class).
	msgOp      Opcode // data message in progress (text or binary), or 0
	compressed bool   // the current message is compressed
	binDone    bool   // the current binary message was read to its end
	binCut     bool   // the close handshake discarded the rest of the caller's binary message
	rcancel    bool   // the read deadline was forced by a context

	// Writing; frames under wsem, whole data messages under msem.
	wsem       sem
	msem       sem
	streamOpen atomic.Bool
	werr       error // fatal write error; guarded by wsem
	wwg        sync.WaitGroup
	wcancel    bool

	pongPending atomic.Bool
	pongBusy    atomic.Bool // a pongLoop goroutine is running
	pongMu      sync.Mutex
	pongQ       *pongQueue // nil when no pong is pending

	// Deadlines the user set (net.Conn style), restored after a context
	// forced an earlier one.
	dlMu          sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	// c.cancelRead and c.cancelWrite as func values, made on first use
	// (by watchRead under the read lock, watchWrite under the write lock)
	// so a connection that never reads or writes under a cancelable
	// context does not carry them.
	cancelReadFn  func()
	cancelWriteFn func()

	// Closing.
	state        atomic.Int32
	mu           sync.Mutex
	closeSent    bool
	closeWritten bool          // the close frame went out; guarded by wsem
	closeErr     *CloseError   // how the connection ended; set once
	closeRecv    chan struct{} // closed when the peer's close frame arrived; made by closeRecvChan, guarded by mu
	done         chan struct{} // closed when rwc is closed
	onClose      []func()

	pings    pingWaiters
	ka       *keepalive
	value    atomic.Value
	closeRcv atomic.Bool
}

// newConn wraps an established stream. buffered holds bytes already read
// past the handshake.
func newConn(rwc io.ReadWriteCloser, client bool, o *Options, buffered []byte) *Conn {
	c := &Conn{
		rwc:    rwc,
		client: client,
		opts:   o.resolved(),
		done:   make(chan struct{}),
	}
	c.nc, _ = rwc.(net.Conn)
	c.rd.init(rwc, buffered)
	c.state.Store(int32(Open))
	if c.opts.KeepaliveInterval > 0 {
		c.startKeepalive()
	}
	return c
}

// NewConn runs the WebSocket protocol over rwc, whose opening handshake
// has already been done by other means (for example over an HTTP/2
// extended CONNECT stream). client selects the role: clients mask their
// frames and expect unmasked ones.
func NewConn(rwc io.ReadWriteCloser, client bool, o *Options) *Conn {
	if o == nil {
		o = &Options{}
	}
	return newConn(rwc, client, o, nil)
}

// State returns the connection's ready state.
func (c *Conn) State() State { return State(c.state.Load()) }

// Protocol returns the subprotocol the handshake chose, or "".
func (c *Conn) Protocol() string { return c.protocol }

// Protocols returns the subprotocols the client offered, in its order of
// preference.
func (c *Conn) Protocols() []string { return c.protocols }

// Request returns the server side's handshake request (whose Context,
// URL, Header and RemoteAddr describe the connection), or nil on a client.
// A connection accepted by AcceptConn (and so Server.Serve) keeps only
// the request head, and parses it on the first call.
func (c *Conn) Request() *http.Request {
	if r := c.req.Load(); r != nil || c.head == "" {
		return r
	}
	r, err := parseHead(c.head)
	if err != nil {
		return nil // not reached: the same head parsed at the handshake
	}
	if c.nc != nil {
		r.RemoteAddr = c.nc.RemoteAddr().String()
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		r.TLS = &cs
	}
	if !c.req.CompareAndSwap(nil, r) {
		r = c.req.Load()
	}
	return r
}

// Path returns the request path of the handshake.
func (c *Conn) Path() string { return c.path }

// ResponseHeader returns the client side's handshake response header, or
// nil on a server.
func (c *Conn) ResponseHeader() http.Header { return c.respHdr }

// RemoteAddr returns the peer's address when the stream is a net.Conn.
func (c *Conn) RemoteAddr() net.Addr {
	if c.nc != nil {
		return c.nc.RemoteAddr()
	}
	return nil
}

// LocalAddr returns the local address when the stream is a net.Conn.
func (c *Conn) LocalAddr() net.Addr {
	if c.nc != nil {
		return c.nc.LocalAddr()
	}
	return nil
}

// NetConn returns the underlying stream (a net.Conn or *tls.Conn for
// connections from Dial and Accept). Reading or writing it directly
// corrupts the WebSocket stream.
func (c *Conn) NetConn() io.ReadWriteCloser { return c.rwc }

// Value returns the value last given to SetValue, or nil.
func (c *Conn) Value() any { return c.value.Load() }

// SetValue attaches user data to the connection. Every call must pass the
// same concrete type.
func (c *Conn) SetValue(v any) { c.value.Store(v) }

// Done returns a channel that is closed when the connection is closed: by
// the time State reports Closed (or a read has failed with the
// *CloseError), Done is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns how the connection ended (a *CloseError), or nil while it is
// open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return nil
	}
	return c.closeErr
}

// OnClose registers f to run once after the connection is closed.
func (c *Conn) OnClose(f func()) {
	c.mu.Lock()
	if c.State() == Closed {
		c.mu.Unlock()
		f()
		return
	}
	c.onClose = append(c.onClose, f)
	c.mu.Unlock()
}

// SetReadDeadline sets the deadline for reads (Next and binary message
// reads) when the stream is a net.Conn. A read that passes it fails with
// an error wrapping os.ErrDeadlineExceeded and leaves the connection
// usable: the next read resumes where the last one stopped.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.nc == nil {
		return errors.ErrUnsupported
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.readDeadline = t
	if c.rcancel {
		return nil
	}
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for writes when the stream is a
// net.Conn. A write that passes it before any byte of its frame went out
// fails with an error wrapping os.ErrDeadlineExceeded and leaves the
// connection usable; one that passes it mid-frame breaks the connection.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.nc == nil {
		return errors.ErrUnsupported
	}
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.writeDeadline = t
	if c.wcancel {
		return nil
	}
	return c.nc.SetWriteDeadline(t)
}

// aLongTimeAgo is a deadline in the past, which makes blocked I/O return.
var aLongTimeAgo = time.Unix(1, 0)

func (c *Conn) cancelRead() {
	defer c.rwg.Done()
	c.dlMu.Lock()
	c.rcancel = true
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	c.dlMu.Unlock()
}

func (c *Conn) cancelWrite() {
	defer c.wwg.Done()
	c.dlMu.Lock()
	c.wcancel = true
	_ = c.nc.SetWriteDeadline(aLongTimeAgo)
	c.dlMu.Unlock()
}

// watchRead makes ctx's cancellation interrupt a blocked read. The
// returned stop function must be called after the read.
func (c *Conn) watchRead(ctx context.Context) (stop func()) {
	if ctx.Done() == nil {
		return nop
	}
	if c.nc == nil {
		// No deadlines: cancellation can only tear the stream down.
		s := context.AfterFunc(ctx, func() { c.abort(ctx.Err()) })
		return func() { s() }
	}
	if c.cancelReadFn == nil {
		c.cancelReadFn = c.cancelRead
	}
	c.rwg.Add(1)
	s := context.AfterFunc(ctx, c.cancelReadFn)
	return func() {
		if s() {
			c.rwg.Done()
			return
		}
		c.rwg.Wait()
		c.dlMu.Lock()
		c.rcancel = false
		_ = c.nc.SetReadDeadline(c.readDeadline)
		c.dlMu.Unlock()
	}
}

func (c *Conn) watchWrite(ctx context.Context) (stop func()) {
	if ctx.Done() == nil {
		return nop
	}
	if c.nc == nil {
		s := context.AfterFunc(ctx, func() { c.abort(ctx.Err()) })
		return func() { s() }
	}
	if c.cancelWriteFn == nil {
		c.cancelWriteFn = c.cancelWrite
	}
	c.wwg.Add(1)
	s := context.AfterFunc(ctx, c.cancelWriteFn)
	return func() {
		if s() {
			c.wwg.Done()
			return
		}
		c.wwg.Wait()
		c.dlMu.Lock()
		c.wcancel = false
		_ = c.nc.SetWriteDeadline(c.writeDeadline)
		c.dlMu.Unlock()
	}
}

func nop() {}

// setCloseErr records how the connection ended, keeping the first cause.
// It reports whether e was recorded.
func (c *Conn) setCloseErr(e *CloseError) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return false
	}
	c.closeErr = e
	return true
}

func (c *Conn) closeError() *CloseError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// abort tears the stream down at once, recording cause as an abnormal
// closure if nothing was recorded before.
func (c *Conn) abort(cause error) {
	c.setCloseErr(&CloseError{Code: StatusAbnormalClosure, Err: cause})
	c.closeTransport()
}

// closeTransport closes the stream once and runs the OnClose hooks.
func (c *Conn) closeTransport() {
	c.mu.Lock()
	if c.State() == Closed {
		c.mu.Unlock()
		return
	}
	if c.closeErr == nil {
		c.closeErr = &CloseError{Code: StatusAbnormalClosure, Err: ErrClosed}
	}
	hooks := c.onClose
	c.onClose = nil
	// Done first: whoever sees the Closed state (a reader that then
	// returns) finds Done closed too.
	close(c.done)
	c.state.Store(int32(Closed))
	c.mu.Unlock()
	_ = c.rwc.Close()
	if c.ka != nil {
		c.ka.stop()
	}
	if c.deflate != nil {
		c.deflate.idle.Stop()
		c.releaseCompressor()
	}
	// The read buffer and inflater belong to whoever holds the read lock:
	// release them now only if nobody does; otherwise the reader does as
	// it lets go (unlockRead).
	if c.rsem.tryLock() {
		c.releaseReader()
		c.rsem.unlock()
	}
	for _, f := range hooks {
		f()
	}
}

// CloseNow ends the connection at once, without the closing handshake (as
// Node's ws terminate() does): the stream is closed, the peer sees it end
// without a close frame (1006), and reads and writes in progress here fail
// with a *CloseError of code 1006 wrapping ErrClosed. It returns nil, or
// the *CloseError of a connection that had already ended.
func (c *Conn) CloseNow() error {
	if c.State() == Closed {
		return c.closeError()
	}
	c.abort(ErrClosed)
	return nil
}

// Close runs the closing handshake: it sends a close frame with code and
// reason, waits up to CloseTimeout for the peer's close frame (reading and
// discarding data meanwhile, unless another goroutine is reading), then
// closes the stream. It returns nil when the peer answered. When the
// connection was already closed or closing it waits for that to finish
// and returns the *CloseError describing how it ended (which matches
// ErrClosed).
// A reason longer than 123 bytes is cut at a UTF-8 boundary.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatus && !code.validWire() {
		return errors.New("websocket: close code " + code.String() + " may not be sent")
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("websocket: close reason: %w", ErrInvalidUTF8)
	}
	deadline := time.Now().Add(c.opts.CloseTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := c.sendClose(ctx, code, reason, true)
	if errors.Is(err, errCloseSent) {
		// Another goroutine (a Close, or the reader answering the peer)
		// is running the closing handshake: let it finish.
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			c.closeTransport()
		}
		if ce := c.closeError(); ce != nil {
			return ce
		}
		return fmt.Errorf("websocket: Close: already closing: %w", ErrClosed)
	}
	if err != nil {
		c.closeTransport()
		return err
	}
	clean := c.awaitPeerClose(deadline)
	c.closeTransport()
	if !clean {
		return errors.New("websocket: the peer did not answer the close frame in time")
	}
	return nil
}

// errCloseSent reports that a close frame was already sent (or the
// connection is closed), so no other may be.
var errCloseSent = fmt.Errorf("websocket: close frame already sent: %w", ErrClosed)

// sendClose writes a close frame unless one was sent already. When local
// is set it first records the close as this side's, so a reader that sees
// the peer's answer does not report it as the peer's own close.
func (c *Conn) sendClose(ctx context.Context, code StatusCode, reason string, local bool) error {
	c.mu.Lock()
	if c.closeSent || c.State() == Closed {
		c.mu.Unlock()
		return errCloseSent
	}
	c.closeSent = true
	if local && c.closeErr == nil {
		c.closeErr = &CloseError{Code: code, Reason: reason}
	}
	c.state.Store(int32(Closing))
	c.mu.Unlock()
	var buf [limits.MaxControlPayload]byte
	n := 0
	if code != StatusNoStatus && code != 0 {
		buf[0], buf[1] = byte(code>>8), byte(code)
		n = 2 + copy(buf[2:], truncUTF8(reason, limits.MaxControlPayload-2))
	}
	if err := c.lockWrite(ctx); err != nil {
		return err
	}
	err := c.writeFrameLocked(ctx, true, 0, OpClose, buf[:n], true)
	c.closeWritten = true
	c.unlockWrite()
	return err
}

// closeRecvChan returns a channel that is closed once the peer's close
// frame has arrived. It is made on first use: only a closing handshake
// that waits while another goroutine reads needs it, so an idle
// connection does not carry one.
func (c *Conn) closeRecvChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeRecv == nil {
		c.closeRecv = make(chan struct{})
		if c.closeRcv.Load() {
			close(c.closeRecv)
		}
	}
	return c.closeRecv
}

// noteCloseReceived records that the peer's close frame arrived, once,
// and wakes a closeRecvChan waiter.
func (c *Conn) noteCloseReceived() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeRcv.CompareAndSwap(false, true) && c.closeRecv != nil {
		close(c.closeRecv)
	}
}

// awaitPeerClose waits for the peer's close frame until deadline, reading
// frames itself when no other goroutine is.
func (c *Conn) awaitPeerClose(deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	if !c.rsem.tryLock() {
		switch c.rsem.lockSlow(nil, c.done, c.closeRecvChan(), t.C) {
		case gotOther:
			return true
		case gotDone:
			return c.closeRcv.Load()
		case gotTimer:
			return false
		}
	}
	defer c.rsem.unlock()
	if c.closeRcv.Load() {
		return true
	}
	if c.nc != nil {
		c.dlMu.Lock()
		_ = c.nc.SetReadDeadline(deadline)
		c.dlMu.Unlock()
	}
	for {
		if _, err := c.nextFrameDiscarding(); err != nil {
			return c.closeRcv.Load()
		}
	}
}

// truncUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
