//go:build !js

package wsio

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/handshake"
	"github.com/wsio/wsio/internal/sock"
	"github.com/wsio/wsio/limits"
	"github.com/wsio/wsio/textframe"
)

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
	nc     net.Conn     // rwc as a net.Conn, or nil: deadlines are used only then
	sock   *sock.Socket // rwc's socket when it is a plain TCP or Unix one, or nil; set once
	client bool
	opts   Options

	// Handshake facts.
	req      atomic.Pointer[http.Request] // parsed from head when first asked for; nil once released
	head     atomic.Pointer[string]       // the request head, from AcceptConn; nil once released
	path     string
	protocol string
	respHdr  http.Header

	// Reading; guarded by rsem.
	rsem      sem
	rd        reader
	fs        frameState    // the current frame of the data message in progress
	src       msgSource     // the current message's payload, for the inflater
	deflate   *deflateState // permessage-deflate, when negotiated
	infl      io.ReadCloser // the current message's inflater, if any
	text      textframe.Assembler
	msgSeq    uint64        // a binary Message is current while its seq equals this; each Next, and each binary message's start (startMessage), advances it
	binBudget limits.Budget // what the current binary message may still bring under MaxBinaryMessage
	// The small fields together, so the struct has no padding between
	// them (TestConnFitsItsSizeClass keeps Conn's size in check).
	msgOp      conn.Opcode // data message in progress (text or binary), or 0
	compressed bool        // the current message is compressed
	binDone    bool        // the current binary message was read to its end
	binCut     bool        // the close handshake discarded the rest of the caller's binary message
	readSeen   atomic.Bool // a read (Next, ServeEvents) has taken the read lock: the connection has a reader

	// Writing; frames under wsem, whole data messages under msem.
	wsem       sem
	msem       sem
	streamOpen atomic.Bool
	pollMark   uint32                   // look clock's tick of the last look at the socket (peerCheck); guarded by msem
	werr       error                    // fatal write error; guarded by wsem
	whdr       [conn.MaxHeaderSize]byte // a server frame's header as it goes out on sock; guarded by wsem

	pongPending atomic.Bool
	pongBusy    atomic.Bool // a pongLoop goroutine is running
	pongMu      sync.Mutex
	pongQ       *pongQueue // nil when no pong is pending

	dl       deadlines  // the stream's deadlines, the user's and forced ones
	watchers [2]watcher // a context's watch over blocked I/O, by dir

	closing closeState // the ready state, the closing handshake and how it ended

	pings pingWaiters
	ka    *keepalive
	value atomic.Pointer[any] // SetValue's value; nil until the first call
}

// newConn wraps an established stream. buffered holds bytes already read
// past the handshake.
func newConn(rwc io.ReadWriteCloser, client bool, o *Options, buffered []byte) *Conn {
	c := &Conn{
		rwc:    rwc,
		client: client,
		opts:   o.resolved(),
	}
	c.closing.done = make(chan struct{})
	c.nc, _ = rwc.(net.Conn)
	c.sock = sock.Of(rwc)
	if c.sock != nil {
		_ = c.sock.Bind() // a failure is reported by the first read
	}
	c.rd.init(rwc, c.sock, buffered)
	c.closing.state.Store(int32(Open))
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
func (c *Conn) State() State { return c.closing.ready() }

// Subprotocol returns the subprotocol the handshake chose, or "". (The
// ones a client offered are in Request().Header, and a server's
// ServerOptions.SelectSubprotocol is handed them.)
func (c *Conn) Subprotocol() string { return c.protocol }

// Request returns the server side's handshake request (whose Context,
// URL, Header and RemoteAddr describe the connection), or nil on a client.
// A connection accepted by AcceptConn (and so Server.Serve) keeps only
// the request head, and parses it on the first call.
//
// A connection served by ServeEvents (and so any event server) lets the
// request go once the Open callback returns, so that an idle connection
// holds no request: from then on Request returns nil. Open is where to
// read the request and keep what the connection needs of it (SetValue).
// Path, Subprotocol and RemoteAddr stay available.
func (c *Conn) Request() *http.Request {
	if r := c.req.Load(); r != nil {
		return r
	}
	head := c.head.Load()
	if head == nil {
		return nil
	}
	r, err := handshake.ParseHead(*head)
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
		return c.req.Load()
	}
	if c.head.Load() == nil {
		c.req.CompareAndSwap(r, nil) // released meanwhile: keep nothing
	}
	return r
}

// releaseRequest lets the handshake request go (see Request).
func (c *Conn) releaseRequest() {
	c.head.Store(nil)
	c.req.Store(nil)
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
func (c *Conn) Value() any {
	if p := c.value.Load(); p != nil {
		return *p
	}
	return nil
}

// SetValue attaches user data to the connection, replacing what an earlier
// call attached; v may be of any type, or nil. It is safe to call from any
// goroutine.
func (c *Conn) SetValue(v any) { c.value.Store(&v) }

// Done returns a channel that is closed when the connection is closed: by
// the time State reports Closed (or a read has failed with the
// *CloseError), Done is closed.
func (c *Conn) Done() <-chan struct{} { return c.closing.done }

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
	if ce := c.closeError(); ce != nil {
		return ce
	}
	return nil
}

// OnClose registers f to run once after the connection is closed.
func (c *Conn) OnClose(f func()) {
	if !c.closing.onClose(f) {
		f()
	}
}
