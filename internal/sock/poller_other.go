//go:build !linux

package sock

// registration is a Socket's place in the poller, which needs epoll: it
// holds nothing here.
type registration struct{ fd int32 }

// Arm needs epoll; here it reports false, and the caller keeps waiting
// on a goroutine of its own.
func (s *Socket) Arm(Waker) bool { return false }

// Disarm does nothing here: nothing is ever armed.
func (s *Socket) Disarm() {}

// Armed returns nil here: nothing is ever armed.
func (s *Socket) Armed() Waker { return nil }
