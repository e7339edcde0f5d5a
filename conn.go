package wsio

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wsio/wsio/conn"
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
	// whichever goroutine is reading (Next or a binary message's Read); when
	// none is, the pong is looked for in the socket before the connection
	// is given up, which works over plain TCP and Unix sockets only: over
	// TLS keepalive needs a reader. Zero means off, except on a Server, which
	// then pings every 30 s (see Server); negative means off everywhere.
	KeepaliveInterval time.Duration
	// KeepaliveTimeout is how long to wait for the pong; see KeepaliveInterval.
	KeepaliveTimeout time.Duration
	// OnPing, if set, is called with each ping's payload, after the pong
	// was queued, on the reading goroutine. It must not keep the slice.
	// A send that looks at the socket (see Conn) stops at a ping when
	// OnPing is set, leaving it to the reader, so a close frame behind
	// the ping is then seen only by a reader.
	OnPing func(payload []byte)
	// OnPong, if set, is called with each pong's payload on the reading
	// goroutine. It must not keep the slice. As with OnPing, a send that
	// looks at the socket leaves pongs to the reader when OnPong is set.
	OnPong func(payload []byte)
	// Compression configures permessage-deflate. A client offers it with
	// the defaults when this is nil; a server accepts it only when this is
	// set. Set Disabled to turn it off on a client.
	Compression *Compression
}

// or returns v, or def when v is zero: an option left at its zero value
// takes its default.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (o *Options) resolved() Options {
	r := *o
	r.FragmentSize = or(r.FragmentSize, limits.DefaultFragmentSize)
	r.BufferCap = or(r.BufferCap, int64(limits.DefaultBufferCap))
	r.CloseTimeout = or(r.CloseTimeout, limits.DefaultCloseTimeout)
	r.KeepaliveTimeout = or(r.KeepaliveTimeout, r.KeepaliveInterval)
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
//
// Contexts: a call whose ctx is already done returns ctx.Err() itself and
// does nothing: it writes no byte, reads none, takes no lock, and leaves
// the connection open and usable. A ctx that ends while a call waits (for
// its turn, for the peer to take bytes, for a message) makes it return an
// error matching ctx.Err() with errors.Is, and the connection stays
// usable, as long as nothing of a message was half written or half read.
// A ctx that ends after a message started going out (in the middle of a
// frame, or between two frames of the message) breaks the connection, as
// the peer cannot be handed half a message: it is closed at once (1006,
// without a close frame) and the error is a *CloseError that matches both
// ctx.Err() and ErrClosed. On the reading side the same holds for a
// compressed message, whose decompression cannot resume (see Next).
//
// A peer's close frame reaches a sender too. Once it has been seen, the
// closing handshake runs and every later send (a SendText, SendBinary, or
// the next frame of a binary stream: a Write or ReadFrom that fills a
// fragment, or its Close) fails with the peer's *CloseError, which Close
// and Err then report as well. A goroutine reading the connection sees the
// close frame as it arrives. Without one, on a plain TCP or Unix socket, a
// send looks at what has arrived, without waiting, and handles the control
// frames waiting there at a message boundary as a read would (pings are
// answered, pongs observed, a close frame ends the connection); a data
// message waiting there, and anything behind it, is left for Next. It
// looks before every frame of 128 KiB or more (each full fragment of a
// binary stream, with the default FragmentSize); before smaller frames
// only on a connection that Next (or Serve) has never read, at most about
// once a millisecond; and when a write fails, so that a peer that closed
// and then reset the connection is reported by its close frame rather
// than as 1006. Over TLS or any other stream a sender cannot look: there
// a reader is needed to learn of the peer's close, and without one a send
// fails only when the peer stops taking bytes (then typically with 1006).
type Conn struct {
	rwc    io.ReadWriteCloser
	nc     net.Conn // rwc as a net.Conn, or nil: deadlines are used only then
	client bool
	opts   Options

	// Handshake facts.
	req      atomic.Pointer[http.Request] // parsed from head when first asked for
	head     string                       // the request head, from AcceptConn
	path     string
	protocol string
	respHdr  http.Header

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
	// between them (TestConnFitsItsSizeClass keeps Conn's size in check).
	msgOp      conn.Opcode // data message in progress (text or binary), or 0
	compressed bool        // the current message is compressed
	binDone    bool        // the current binary message was read to its end
	binCut     bool        // the close handshake discarded the rest of the caller's binary message
	rcancel    bool        // the read deadline was forced by a context
	evParked   bool        // ServeEvents parked c: SetReadDeadline re-arms its timer; guarded by dlMu
	readSeen   atomic.Bool // a read (Next, ServeEvents) has taken the read lock: the connection has a reader

	// Writing; frames under wsem, whole data messages under msem.
	wsem       sem
	msem       sem
	streamOpen atomic.Bool
	pollMark   uint32 // look clock's tick of the last look at the socket (peerCheck); guarded by msem
	werr       error  // fatal write error; guarded by wsem
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

// Subprotocol returns the subprotocol the handshake chose, or "". (The
// ones a client offered are in Request().Header, and a server's
// ServerOptions.SelectSubprotocol is handed them.)
func (c *Conn) Subprotocol() string { return c.protocol }

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
// connections from Dial and Accept over HTTP/1.1; over HTTP/2, a net.Conn
// over the connection's stream, whose addresses are those of the HTTP/2
// connection). Reading or writing it directly corrupts the WebSocket
// stream.
func (c *Conn) Transport() io.ReadWriteCloser { return c.rwc }

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
// open. Reads and sends after the end fail with it (a binary message's
// Read wraps it), and Close returns it unless the peer merely answered
// this side's close (see Close).
//
// A close frame the peer sent for a reason of its own is how the
// connection ended even when this side's Close sent its frame first: the
// peer's frame is merely an answer only when its code is this side's, 1000
// or absent (see CloseError). So while the closing handshake of a Close is
// under way (State reports Closing), Err reports this side's close, and
// may change to the peer's once its frame arrives; from the time Done is
// closed, Err no longer changes.
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
// usable: the next read resumes where the last one stopped. On a
// connection read by ServeEvents, passing the deadline ends the
// connection instead (see Events).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.nc == nil {
		return errors.ErrUnsupported
	}
	c.dlMu.Lock()
	c.readDeadline = t
	var err error
	if !c.rcancel {
		err = c.nc.SetReadDeadline(t)
	}
	parked := c.evParked
	c.dlMu.Unlock()
	if parked {
		// No goroutine is reading to see the new deadline: the parked
		// connection's timer must.
		readDeadlineMoved(c)
	}
	return err
}

// SetWriteDeadline sets the deadline for writes when the stream is a
// net.Conn. A write that passes it before any byte of its message went
// out fails with an error wrapping os.ErrDeadlineExceeded and leaves the
// connection usable; one that passes it after part of its message went
// out (mid-frame, or between two frames of the message) breaks the
// connection, as a context's end does (see Conn).
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
// closes the stream. A reason longer than 123 bytes is cut at a UTF-8
// boundary.
//
// It returns nil when the peer answered: its close frame carried this
// side's code, 1000 or no code. A close frame with any other code is the
// peer's own close (it closed for a reason of its own, for example 1009
// for a message of ours it would not take, before or while ours was on
// the way): Close then returns it as a *CloseError with Remote set and the
// peer's Code and Reason, and Err and later calls report the same. When
// the peer did not answer in time, Close returns an error saying so.
//
// When the connection was already closed or closing (by another Close,
// the peer's close frame, or a failure), Close sends nothing more, waits
// for that to finish, and returns the *CloseError describing how it ended
// (which matches ErrClosed). In particular, after a binary stream or a
// send failed with the peer's *CloseError, Close returns that same error.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatus && !code.validWire() {
		return errors.New("websocket: close code " + code.String() + " may not be sent")
	}
	if !utf8.ValidString(reason) {
		return &fault{msg: prefix + "Close: the reason is not valid UTF-8", kind: ErrInvalidUTF8}
	}
	return c.closeHandshake(code, reason, &CloseError{Code: code, Reason: reason})
}

// closeHandshake runs Close's closing handshake with a valid code and
// reason; local is recorded as how the connection ended if nothing was
// recorded before the close frame is claimed.
func (c *Conn) closeHandshake(code StatusCode, reason string, local *CloseError) error {
	deadline := time.Now().Add(c.opts.CloseTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := c.sendClose(ctx, code, reason, local)
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
		return &fault{msg: prefix + "Close: the connection is already closing", kind: ErrClosed}
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
	if ce := c.closeError(); ce != nil && ce.Remote {
		return ce // the peer closed for a reason of its own
	}
	return nil
}

// errCloseSent reports that a close frame was already sent (or the
// connection is closed), so no other may be.
var errCloseSent = &fault{msg: prefix + "a close frame was already sent", kind: ErrClosed}

// sendClose writes a close frame unless one was sent already. When local
// is not nil it is first recorded as how the connection ended (unless
// something was recorded before), in the same step that claims the close
// frame, so a reader that sees the peer's answer does not report it as
// the peer's own close.
func (c *Conn) sendClose(ctx context.Context, code StatusCode, reason string, local *CloseError) error {
	c.mu.Lock()
	if c.closeSent || c.State() == Closed {
		c.mu.Unlock()
		return errCloseSent
	}
	c.closeSent = true
	if local != nil && c.closeErr == nil {
		c.closeErr = local
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
	err := c.writeFrameLocked(ctx, true, 0, conn.OpClose, buf[:n], true)
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
