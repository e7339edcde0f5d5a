package sock

import (
	"sync"
	"syscall"
	"time"
)

// The poller holds parked sockets: each waits in one shared epoll set,
// registered one-shot, so a parked connection costs no goroutine. One
// goroutine waits on the set while any socket is registered, and exits
// when none is.
type poller struct {
	mu      sync.Mutex
	epfd    int // -1 until first used
	err     error
	running bool
	regs    map[int32]armed // what is registered on each descriptor
}

// armed is a descriptor's entry in the poller: the Socket registered on
// it, and what its next readiness event wakes.
type armed struct {
	s *Socket
	w Waker
}

// registration is a Socket's own entry in the poller: what the poller
// keeps on the Socket, guarded by the poller's mu. A Socket is registered
// while p.regs[reg.fd] holds it.
type registration struct {
	fd int32 // the descriptor last registered, or -1
}

var thePoller = poller{epfd: -1}

// pollIdle is how long the waiting goroutine blocks at most before it
// checks whether any socket is still registered.
const pollIdle = 200 * time.Millisecond

// Arm registers s's descriptor in the shared poller for one readiness
// event (readable, or the peer hung up): w.Wake is called once when it
// comes. A socket already armed is armed again, for w. Arm reports false
// when the socket cannot be waited on that way (a nil Socket, no epoll,
// or a closed socket); then nothing will wake w.
func (s *Socket) Arm(w Waker) bool {
	if s == nil {
		return false
	}
	p := &thePoller
	p.mu.Lock()
	if p.epfd < 0 && p.err == nil {
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	}
	if p.err != nil {
		p.mu.Unlock()
		return false
	}
	if p.regs == nil {
		p.regs = make(map[int32]armed)
	}
	p.mu.Unlock()

	ok := false
	// Control holds the descriptor open while the callback runs, so it
	// cannot be closed and reused under the registration.
	err := s.control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.regs[int32(fd)] = armed{s, w}
		op := syscall.EPOLL_CTL_ADD
		if s.reg.fd == int32(fd) {
			op = syscall.EPOLL_CTL_MOD
		}
		e := syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		switch {
		case e == syscall.EEXIST && op == syscall.EPOLL_CTL_ADD:
			e = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		case e == syscall.ENOENT && op == syscall.EPOLL_CTL_MOD:
			e = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
		if e != nil {
			delete(p.regs, int32(fd))
			return
		}
		s.reg.fd = int32(fd)
		ok = true
		if !p.running {
			p.running = true
			go p.loop()
		}
	})
	return err == nil && ok
}

// Disarm forgets s's registration, so nothing is woken for it any more.
// The kernel drops a closed descriptor from the set by itself; one still
// open is removed.
func (s *Socket) Disarm() {
	if s == nil {
		return
	}
	p := &thePoller
	p.mu.Lock()
	defer p.mu.Unlock()
	fd := s.reg.fd
	if fd < 0 || p.regs[fd].s != s {
		return
	}
	delete(p.regs, fd)
	s.reg.fd = -1
	_ = s.control(func(cfd uintptr) {
		if int32(cfd) == fd {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(cfd), nil)
		}
	})
}

// Armed returns the Waker of s's registration, or nil when s is not
// registered (never armed, disarmed, or closed). The registration stays
// after its event has woken the Waker, until Disarm.
func (s *Socket) Armed() Waker {
	if s == nil {
		return nil
	}
	p := &thePoller
	var w Waker
	_ = s.control(func(fd uintptr) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if a := p.regs[int32(fd)]; a.s == s {
			w = a.w
		}
	})
	return w
}

// loop waits for readiness and wakes the registered Wakers, until no
// socket is registered.
func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 128)
	var wake []Waker
	for {
		n, err := syscall.EpollWait(p.epfd, events, int(pollIdle/time.Millisecond))
		if err != nil && err != syscall.EINTR {
			n = 0
			time.Sleep(pollIdle) // not expected; do not spin
		}
		p.mu.Lock()
		wake = wake[:0]
		for _, ev := range events[:max(n, 0)] {
			if a, ok := p.regs[ev.Fd]; ok {
				wake = append(wake, a.w)
			}
		}
		if n <= 0 && len(p.regs) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		for i, w := range wake {
			w.Wake()
			wake[i] = nil
		}
	}
}
