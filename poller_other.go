//go:build !linux

package wsio

// Parking needs epoll; elsewhere Serve keeps a goroutine per connection.
func parkConn(*evConn) bool { return false }

func unparkConn(*evConn) {}
