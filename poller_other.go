//go:build !linux && !js

package wsio

// Parking needs epoll; elsewhere ServeEvents keeps a goroutine per connection.
func parkConn(*evConn) bool { return false }

func unparkConn(*evConn) {}

func parkedEvConn(*Conn) *evConn { return nil }
