package wsio

import (
	"net"
	"syscall"
)

// deferAccept asks the kernel to hand ln's connections to Accept only once
// their first bytes have arrived (TCP_DEFER_ACCEPT). A WebSocket client
// always speaks first, so the request head is there by the time the
// connection is accepted: reading it needs no wait on the poller, and a
// peer that connects and sends nothing costs no goroutine. The value is
// in seconds (1); once it has passed the kernel queues a silent connection
// anyway, and the handshake timeout deals with it. Listeners other than
// *net.TCPListener are left alone (ListenAndServeTLS sets it on the TCP
// listener under its TLS one).
func deferAccept(ln net.Listener) {
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
