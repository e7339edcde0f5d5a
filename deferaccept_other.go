//go:build !linux && !js

package wsio

import "net"

// deferAccept sets TCP_DEFER_ACCEPT on Linux; elsewhere it does nothing.
func deferAccept(net.Listener) {}
