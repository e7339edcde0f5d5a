package sock

import (
	"net"
	"syscall"
)

// DeferAccept asks the kernel to hand ln's connections to Accept only once
// their first bytes have arrived (TCP_DEFER_ACCEPT), for a protocol whose
// client speaks first: its first bytes are there by the time the
// connection is accepted, and a peer that connects and sends nothing costs
// the server nothing until then. The value is in seconds (1); once it has
// passed the kernel queues a silent connection anyway. Listeners other
// than *net.TCPListener are left alone; elsewhere than on Linux it does
// nothing.
func DeferAccept(ln net.Listener) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
	})
}
