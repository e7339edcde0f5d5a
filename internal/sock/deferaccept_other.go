//go:build !linux

package sock

import "net"

// DeferAccept sets TCP_DEFER_ACCEPT on Linux; here it does nothing.
func DeferAccept(net.Listener) {}
