//go:build !js

package wsio

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/wsio/wsio/conn"
	"github.com/wsio/wsio/internal/sock"
	"github.com/wsio/wsio/limits"
)

// A sender learns of the peer's close frame even when no goroutine reads
// the connection: before a data frame goes out, and when a write fails,
// it looks at what has arrived on the socket without waiting (pollPeer)
// and handles the control frames it finds there, as a read would.
//
// A look is a system call, so the hot paths look seldom:
//   - before every frame of pollFrame bytes or more (a binary stream's
//     full fragments, with the default fragment size), beside whose write
//     the look costs nothing;
//   - before a smaller frame only on a connection that has never been
//     read (readSeen: no Next, no Serve), at most once a tick of the
//     monotonic clock (about a millisecond). A connection with a reader
//     learns of the close there; one without (a client that only sends)
//     looks before a send that comes a tick or more after its last look;
//   - when a write fails part way through a frame (writeBroken).
//
// Only a plain TCP or Unix socket can be looked at that way (c.sock);
// over TLS or any other stream, the peer's close frame is seen only by a
// goroutine reading the connection.

// peekMax is the most a look at the socket copies: the header and payload
// of the largest control frame.
const peekMax = conn.MaxHeaderSize + limits.MaxControlPayload

const (
	// pollFrame is the payload size from which every data frame is
	// preceded by a look.
	pollFrame = 128 << 10
	// pollTick is log2 of the look clock's tick in nanoseconds.
	pollTick = 20
)

// monoStart is the origin of the look clock; time.Since of it reads the
// monotonic clock only.
var monoStart = time.Now()

// peerCheck is called before a data frame of n payload bytes is written,
// by the holder of the data-message slot (msem), which guards pollMark.
// It looks at the socket (pollPeer) when the rules above say so, so that
// a peer's close frame waiting there fails this frame with the peer's
// *CloseError. The common case, a small frame on a connection with a
// reader, returns here, inlined into the caller.
func (c *Conn) peerCheck(n int) {
	if n < pollFrame && c.readSeen.Load() {
		return
	}
	c.peerCheckSlow(n)
}

func (c *Conn) peerCheckSlow(n int) {
	if c.sock == nil {
		return
	}
	if n < pollFrame {
		mark := uint32(time.Since(monoStart) >> pollTick)
		if mark == c.pollMark {
			return
		}
		c.pollMark = mark
	}
	if c.State() == Open {
		c.pollPeer(false)
	}
}

// pollPeer handles, without waiting, the control frames that have arrived
// at a message boundary, when no goroutine holds the read lock (one that
// does sees them itself). A ping is answered (its pong queued) and a pong
// observed; a close frame runs this side's part of the closing handshake,
// as a read would (peerClosed), so the connection ends with the peer's
// *CloseError. The look ends at a data frame, which stays in the socket
// for Next, at a control frame not wholly arrived, and at a ping or pong
// whose Options callback is set: those run on the reading goroutine, and
// the sender may hold locks a callback that sends would wait for. Bytes
// are taken from the socket only as whole control frames, so a poller
// waiting on the descriptor (Serve) still sees whatever follows them.
//
// broken is set when a write has just failed part way through a frame
// (the caller holds the write lock, and nothing more can be sent): the
// peer may have closed and then given up on us, its close frame waiting in
// the receive buffer. Then a close frame is only recorded as how the
// connection ended (it cannot be answered), and other control frames are
// dropped.
func (c *Conn) pollPeer(broken bool) {
	if c.sock == nil || !c.rsem.tryLock() {
		return
	}
	defer c.unlockRead()
	// A look handles at most maxPendingPongs frames, so a peer that keeps
	// sending pings cannot hold a sender in it; the next look goes on.
	for i := 0; i < maxPendingPongs && c.msgOp == 0 && (c.State() == Open || broken && c.State() != Closed); i++ {
		var b [peekMax]byte
		k := copy(b[:], c.rd.peek())
		if k < len(b) {
			pb, m, err := c.sock.Peek(peekMax)
			if pb != nil {
				k += copy(b[k:], (*pb)[:m])
				sock.PutBuffer(pb)
			} else if err != nil && k == 0 {
				// Nothing more will come: the stream ended (or was reset)
				// without a close frame. A read would end the connection
				// with 1006; do so too, unless the socket is only past a
				// read deadline or closed here.
				if !broken && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
					_ = c.readFailed(err)
				}
				return
			}
		}
		n := wholeControlFrame(b[:k])
		if n == 0 {
			break
		}
		if op := conn.Opcode(b[0] & 0x0F); !broken && (op == conn.OpPing && c.opts.OnPing != nil || op == conn.OpPong && c.opts.OnPong != nil) {
			break
		}
		if c.rd.fillExact(n) != nil {
			return
		}
		if broken {
			if c.closeFrameUnanswered() {
				return
			}
			continue
		}
		if _, err := c.readHeader(); err != nil {
			return // the connection ended (the peer closed, or broke a rule)
		}
	}
	if c.msgOp == 0 {
		c.rd.idle()
	}
}

// wholeControlFrame returns the size of the control frame at the start of
// p when p holds all of it, else 0 (p starts with a data frame, or with
// less than a whole frame). A control frame declaring more than 125 bytes
// counts as its header alone: readHeader fails the connection for it from
// the header.
func wholeControlFrame(p []byte) int {
	if len(p) < 2 || !conn.Opcode(p[0]&0x0F).IsControl() {
		return 0
	}
	n := conn.HeaderSize(p[1])
	if l := int(p[1] & 0x7F); l <= limits.MaxControlPayload {
		n += l
	}
	if len(p) < n {
		return 0
	}
	return n
}

// closeFrameUnanswered consumes the control frame at the front of the read
// buffer when nothing can be written any more: a valid close frame is
// recorded as the peer's close, and anything else is dropped. It reports
// whether to stop looking (after a close frame, or a frame a read would
// fail the connection for).
func (c *Conn) closeFrameUnanswered() (stop bool) {
	h, hn, err := conn.ParseHeader(c.rd.peek())
	if err != nil || h.Rsv != 0 || h.Masked == c.client {
		return true
	}
	payload := c.rd.peek()[hn : hn+int(h.Length)]
	if h.Masked {
		conn.Mask(h.Mask, 0, payload)
	}
	c.rd.consume(hn + int(h.Length))
	if h.Op != conn.OpClose {
		return false
	}
	if code, reason, bad, _ := decodeClose(payload); bad == 0 {
		c.closing.recordPeer(code, reason)
	}
	return true
}
