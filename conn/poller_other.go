//go:build !linux

package conn

// Parking needs epoll; elsewhere Serve keeps a goroutine per connection.
func parkConn(*evConn) bool { return false }

func unparkConn(*evConn) {}

func parkedEvConn(*Conn) *evConn { return nil }
