package wsio

import (
	"time"

	"github.com/wsio/wsio/limits"
)

// Options are the per-connection settings shared by servers and clients.
// The zero value of each field selects its default, and so does a
// negative size or duration where the field gives negative values no
// meaning of their own.
type Options struct {
	// FragmentSize is the payload size of each frame a binary message is
	// cut into (BeginBinary, SendBinary). Default 512 KiB.
	FragmentSize int
	// BufferCap caps the bytes buffered for one message: a text message is
	// assembled whole, so a larger one closes the connection with 1009, as
	// soon as a frame header declares it. Default 2 MiB; negative means no cap.
	// On js/wasm, where the browser delivers every message whole whether
	// or not it is read, it also caps the bytes of the messages waiting
	// behind the one Next returns next.
	BufferCap int64
	// MaxBinaryMessage caps the size of a received binary message (which is
	// streamed, not buffered); a larger one closes the connection with
	// 1009. The cap holds for every message read, including one Close
	// reads and drops while it waits for the peer's close frame (see
	// Close). Zero or negative means no limit.
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

// positiveOr returns v, or def when v is not positive: a size or a
// duration left at zero, or set to a negative value that means nothing,
// takes its default.
func positiveOr[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (o *Options) resolved() Options {
	r := *o
	r.FragmentSize = positiveOr(r.FragmentSize, limits.DefaultFragmentSize)
	r.BufferCap = or(r.BufferCap, int64(limits.DefaultBufferCap))
	r.CloseTimeout = positiveOr(r.CloseTimeout, limits.DefaultCloseTimeout)
	r.KeepaliveTimeout = positiveOr(r.KeepaliveTimeout, r.KeepaliveInterval)
	return r
}

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
//
// On js/wasm the browser negotiates compression itself, so
// Options.Compression must stay nil there: Dial refuses any other value
// with an error matching errors.ErrUnsupported.
type Compression struct {
	// Disabled turns compression off.
	Disabled bool
	// Level is the flate level, from 1 (fastest; the default, which any
	// other value selects) to 9 (smallest). It applies with a 15-bit
	// window; smaller windows use the compressor's custom-window mode.
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
	// with, 8 to 15 (default 15, which any other value selects). A peer
	// may ask for less.
	WindowBits int
	// PeerWindowBits asks the peer to compress with a window of at most
	// 2^PeerWindowBits bytes, 8 to 15 (default 15: no limit, which any
	// other value selects too). A server can ask only when the client's
	// offer allows it, as browsers' offers do.
	PeerWindowBits int
}
