//go:build !js

package wsio

import (
	"sync"
	"sync/atomic"
)

// closeState is how a connection closes: the ready state, the close
// frames each way, how the connection ended, and who waits for the end.
// It has one owner: its methods are the only code that changes it, each
// under mu, so every transition (a phase bit with the ready state, the
// recorded error or a channel closed beside it) happens in one step. The
// ready state and the phase bits may be read without mu.
type closeState struct {
	mu sync.Mutex
	// state is the ready state (a State): Open from newConn on, Closing
	// once a close frame is claimed (claim), Closed once the stream is
	// closed (end). It never goes back.
	state atomic.Int32
	// phase holds the closing handshake's steps as bits (closeClaimed,
	// closeWritten, closeReceived), set once, never cleared.
	phase atomic.Uint32
	// err is how the connection ended: set by the first fault, close
	// frame or claim, then kept, except that the peer's own close may
	// replace this side's clean close until the connection is Closed
	// (recordPeer).
	err *CloseError
	// received is closed when closeReceived is set. It is made on first
	// use (receivedChan): only a closing handshake that waits while
	// another goroutine reads needs it, so an idle connection does not
	// carry one.
	received chan struct{}
	// done is closed when the stream is closed, before state becomes
	// Closed, so whoever sees Closed finds done closed too.
	done chan struct{}
	// hooks are the OnClose functions, run once after the stream closed.
	hooks []func()
}

// The steps of the closing handshake, as closeState.phase bits.
const (
	// closeClaimed: this side's close frame is claimed (sendClose): it is
	// being written or was, and no other close frame or data message may
	// follow it.
	closeClaimed uint32 = 1 << iota
	// closeWritten: the write of this side's close frame ended (it went
	// out, or failed). It is set while the writer holds wsem, so a
	// control frame written under wsem before it is set goes out before
	// the close frame, and none after it.
	closeWritten
	// closeReceived: the peer's close frame arrived, valid.
	closeReceived
)

// has reports whether the closing handshake has taken step bit.
func (s *closeState) has(bit uint32) bool { return s.phase.Load()&bit != 0 }

// ready returns the ready state.
func (s *closeState) ready() State { return State(s.state.Load()) }

// error returns how the connection ended, or nil while it has not.
func (s *closeState) error() *CloseError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// setErr records e as how the connection ended unless something was
// recorded before, and reports whether it was.
func (s *closeState) setErr(e *CloseError) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false
	}
	s.err = e
	return true
}

// claim claims this side's close frame: it reports false when one was
// claimed before or the connection is closed. Otherwise the connection
// is Closing from here on and local, when not nil, is recorded as how it
// ended unless something was recorded before, in the same step, so a
// reader that sees the peer's answer does not take it for the peer's own
// close.
func (s *closeState) claim(local *CloseError) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.has(closeClaimed) || s.ready() == Closed {
		return false
	}
	s.phase.Or(closeClaimed)
	if local != nil && s.err == nil {
		s.err = local
	}
	s.state.Store(int32(Closing))
	return true
}

// wrote records that the write of this side's close frame ended. The
// caller holds wsem.
func (s *closeState) wrote() {
	s.mu.Lock()
	s.phase.Or(closeWritten)
	s.mu.Unlock()
}

// recordPeer records the peer's close frame, valid, as how the
// connection ended: when nothing was recorded before, or when this
// side's Close recorded its own close and the peer's frame is not merely
// an answer to it (its code is neither ours, nor 1000, nor absent), so
// the peer's code and reason reach the program whichever frame went
// first. A close recorded for a fault (Err set) stays. It then marks the
// frame received, waking a Close that waits for it.
func (s *closeState) recordPeer(code StatusCode, reason string) {
	e := &CloseError{Code: code, Reason: reason, Remote: true}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch own := s.err; {
	case own == nil:
		s.err = e
	case !own.Remote && own.Err == nil && s.ready() != Closed &&
		code != own.Code && code != StatusNormalClosure && code != StatusNoStatus:
		s.err = e
	}
	if s.phase.Or(closeReceived)&closeReceived == 0 && s.received != nil {
		close(s.received)
	}
}

// receivedChan returns a channel that is closed once the peer's close
// frame has arrived.
func (s *closeState) receivedChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.received == nil {
		s.received = make(chan struct{})
		if s.has(closeReceived) {
			close(s.received)
		}
	}
	return s.received
}

// end marks the connection Closed, recording an abnormal closure if
// nothing was recorded before, and closes done. It reports false when
// the connection was closed already; otherwise it returns the OnClose
// hooks, for the caller to run once the stream is closed.
func (s *closeState) end() (hooks []func(), first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready() == Closed {
		return nil, false
	}
	if s.err == nil {
		s.err = &CloseError{Code: StatusAbnormalClosure, Err: ErrClosed}
	}
	hooks, s.hooks = s.hooks, nil
	close(s.done)
	s.state.Store(int32(Closed))
	return hooks, true
}

// onClose registers f to run after the stream closed, and reports false,
// registering nothing, when it has closed already.
func (s *closeState) onClose(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready() == Closed {
		return false
	}
	s.hooks = append(s.hooks, f)
	return true
}
