package wsio

import (
	"sync"
	"syscall"
	"time"
)

// The poller parks connections served by ServeEvents: each waits in one shared
// epoll set, registered one-shot, so a parked connection costs no
// goroutine. One goroutine waits on the set while any connection is
// registered, and exits when none is.
type poller struct {
	mu      sync.Mutex
	epfd    int // -1 until first used
	err     error
	running bool
	conns   map[int32]*evConn
}

var thePoller = poller{epfd: -1}

// pollIdle is how long the waiting goroutine blocks at most before it
// checks whether any connection is still registered.
const pollIdle = 200 * time.Millisecond

// parkConn registers ec's descriptor for one readiness event. It reports
// false when the connection is not a socket the poller can wait on, or
// is already closed.
func parkConn(ec *evConn) bool {
	rs := ec.c.rd.raw
	if rs == nil {
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
	if p.conns == nil {
		p.conns = make(map[int32]*evConn)
	}
	p.mu.Unlock()

	ok := false
	// Control holds the descriptor open while the callback runs, so it
	// cannot be closed and reused under the registration.
	err := rs.rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.conns[int32(fd)] = ec
		op := syscall.EPOLL_CTL_ADD
		if ec.fd == int(fd) {
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
			delete(p.conns, int32(fd))
			return
		}
		ec.fd = int(fd)
		ok = true
		if !p.running {
			p.running = true
			go p.loop()
		}
	})
	return err == nil && ok
}

// unparkConn forgets ec. The kernel drops a closed descriptor from the
// set by itself; one still open is removed.
func unparkConn(ec *evConn) {
	p := &thePoller
	p.mu.Lock()
	defer p.mu.Unlock()
	if ec.fd < 0 || p.conns[int32(ec.fd)] != ec {
		return
	}
	delete(p.conns, int32(ec.fd))
	if rs := ec.c.rd.raw; rs != nil {
		_ = rs.rc.Control(func(fd uintptr) {
			if int(fd) == ec.fd {
				_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
			}
		})
	}
}

// parkedEvConn returns the evConn registered for c's descriptor, or nil.
func parkedEvConn(c *Conn) *evConn {
	rs := c.rd.raw
	if rs == nil {
		return nil
	}
	p := &thePoller
	var ec *evConn
	_ = rs.rc.Control(func(fd uintptr) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if e := p.conns[int32(fd)]; e != nil && e.c == c {
			ec = e
		}
	})
	return ec
}

// loop waits for readiness and wakes the connections, until none is
// registered.
func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 128)
	var wake []*evConn
	for {
		n, err := syscall.EpollWait(p.epfd, events, int(pollIdle/time.Millisecond))
		if err != nil && err != syscall.EINTR {
			n = 0
			time.Sleep(pollIdle) // not expected; do not spin
		}
		p.mu.Lock()
		wake = wake[:0]
		for _, ev := range events[:max(n, 0)] {
			if ec := p.conns[ev.Fd]; ec != nil {
				wake = append(wake, ec)
			}
		}
		if n <= 0 && len(p.conns) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		for i, ec := range wake {
			ec.wake()
			wake[i] = nil
		}
	}
}
